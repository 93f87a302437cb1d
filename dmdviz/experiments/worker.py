"""``python -m dmdviz.experiments.worker KIND FOLDER``: the process a background worker runs
(started by ``launcher.launch`` only). ``job``: the training job in FOLDER (``jobs.work``);
``sweep``: the sweep in FOLDER, continued from its ``sweep.json`` and ``results.jsonl``.
Exit status 1 when a job failed, else 0 (a failed sweep raises). With ``DMDVIZ_JOB_S`` in its
environment (the launcher's ``Limits.job_s``) it stops itself that long after it started, as a
cancel would: saved and resumable."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from dmdviz import files
from dmdviz.experiments import launcher


def run(kind: str, folder: Path) -> int:
    from dmdviz import checkpoint, data

    data.use_hub(checkpoint.fetch_dataset)  # MNIST's Hub fallback, planned and bounded
    seconds = int(os.environ.get(launcher.JOB_S, "") or 0)
    timed_out = threading.Event()
    launcher.stop_after(folder, seconds, timed_out)  # DMDVIZ_JOB_S: it stops as a cancel would, resumable
    if kind == "job":
        from dmdviz.experiments.jobs import work

        final = work(folder)
        if final == "cancelled" and timed_out.is_set():
            files.write_status(folder, state=final, phase=final, pid=os.getpid(),
                               message=f"stopped at its {seconds} s limit (DMDVIZ_JOB_S): resume it to go on")
        return 0 if final in ("done", "cancelled") else 1
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
