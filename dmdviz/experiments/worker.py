"""``python -m dmdviz.experiments.worker KIND FOLDER``: the process a background worker runs
(started by ``launcher.launch`` only). ``job``: the training job in FOLDER (``jobs.work``);
``sweep``: the sweep in FOLDER, continued from its ``sweep.json`` and ``results.jsonl``.
Exit status 1 when a job failed, else 0 (a failed sweep raises)."""

from __future__ import annotations

import sys
from pathlib import Path


def run(kind: str, folder: Path) -> int:
    if kind == "job":
        from dmdviz.experiments.jobs import work

        return 0 if work(folder) in ("done", "cancelled") else 1
    if kind == "sweep":
        from dmdviz.experiments import sweep
        from dmdviz.training.runtime import Runtime

        with Runtime.create() as rt:  # DMDVIZ_THREADS, set by the launcher
            sweep.run_sweep(folder, sweep.read_sweep(folder), rt=rt)  # stopped or complete, it is resumable
        print(sweep.results_table(sweep.summarize(folder)), flush=True)
        return 0
    raise SystemExit(f"unknown worker kind {kind!r}")


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], Path(sys.argv[2])))
