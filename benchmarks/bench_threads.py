"""Threads that survive a neighbour: the default thread count against fixed ones, with and
without a competing busy process, in one run.

Workloads, each a fresh ``python -m dmdviz`` process (its start-up counts, alike for all):
``train-teacher --preset chessboard4d`` (``--steps``) and ``analyze`` of the shipped
chessboard4d pair (``--n`` seeds, no sample cache: sampling, exact assignments, intervals).
Settings: ``--threads 1``, ``--threads <all cores>``, the default (no ``--threads``, no
``$DMDVIZ_THREADS``: ``settings.default_threads``, the cores idle at start) and all cores
with ``OMP_WAIT_POLICY=PASSIVE`` (OpenMP's threads sleep at a barrier instead of spinning).
Neighbour: a Python busy loop on one core, started and stopped by this benchmark (by its pid).

Figure: for each workload and neighbour state, the default's time over the best fixed
choice's (1 or all cores); the goal is <= 1.5 everywhere. The load average is recorded before
every run: on a shared machine the "no neighbour" rows have the other users as neighbours.

    python -m benchmarks.bench_threads [--steps 1000] [--n 1000] [--timeout 600] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_app import loadavg

ROOT = Path(__file__).resolve().parent.parent


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _settings(cores: int) -> dict:
    return {"1": (["--threads", "1"], {}), "default": ([], {}), "all": (["--threads", str(cores)], {}),
            "all+passive": (["--threads", str(cores)], {"OMP_WAIT_POLICY": "PASSIVE"})}


def _workloads(steps: int, n: int, tmp: Path) -> dict:
    return {"train": ["train-teacher", "--preset", "chessboard4d", "--steps", str(steps), "--out", str(tmp / "run")],
            "analyze": ["analyze", "--teacher", "chessboard4d/teacher", "--student", "chessboard4d/student",
                        "--n", str(n), "--no-cache", "--json", str(tmp / "m.json")]}


def _run(argv: list[str], env_extra: dict, timeout: float) -> float | None:
    """Seconds of one run, or None when it ran past ``timeout`` (then stopped)."""
    env = {k: v for k, v in os.environ.items() if k != "DMDVIZ_THREADS"} | {"HF_HUB_OFFLINE": "1"} | env_extra
    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-m", "dmdviz", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:1])} failed: {r.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - t0


def _chosen_default() -> int:
    """The thread count the default picks now (a separate process, just before the run)."""
    out = subprocess.run([sys.executable, "-c", "from dmdviz import settings; print(settings.default_threads())"],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    return int(out.stdout.strip() or 0)


def run(steps: int = 1000, n: int = 1000, workloads=("train", "analyze"), timeout: float = 600) -> dict:
    cores = _cores()
    out = {"cores": cores, "steps": steps, "n": n, "timeout_s": timeout, "load_before": loadavg(), "rows": []}
    for neighbour in (False, True):
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if neighbour else None
        try:
            time.sleep(1.0 if busy else 0.0)  # the busy loop running before the default reads the idle cores
            for name in workloads:
                for label, (extra, env) in _settings(cores).items():
                    with tempfile.TemporaryDirectory() as tmp:  # a fresh --out each run
                        argv = _workloads(steps, n, Path(tmp))[name]
                        row = {"workload": name, "neighbour": neighbour, "setting": label, "load": loadavg()}
                        if label == "default":
                            row["default_threads"] = _chosen_default()
                        took = _run(argv + extra, env, timeout)
                        row.update(seconds=round(took or timeout, 2), timed_out=took is None)
                        print(json.dumps(row), file=sys.stderr, flush=True)
                        out["rows"].append(row)
        finally:
            if busy:
                busy.kill()
                busy.wait()
    out["load_after"] = loadavg()
    out["ratios"] = ratios(out["rows"])
    return out


def ratios(rows: list[dict]) -> dict:
    """{workload/neighbour: default seconds ÷ the best fixed choice's (1 or all cores)}; a run
    stopped at the timeout counts its timeout, a lower bound on its time."""
    out = {}
    for key in {(r["workload"], r["neighbour"]) for r in rows}:
        t = {r["setting"]: r["seconds"] for r in rows if (r["workload"], r["neighbour"]) == key}
        if "default" in t and "1" in t and "all" in t:
            out[f"{key[0]}/{'neighbour' if key[1] else 'alone'}"] = round(t["default"] / min(t["1"], t["all"]), 2)
    return dict(sorted(out.items()))


def markdown(res: dict) -> str:
    lines = ["| workload | neighbour | threads | seconds | load average before |", "|---|---|---|---|---|"]
    for r in res["rows"]:
        label = r["setting"] + (f" (chose {r['default_threads']})" if "default_threads" in r else "")
        lines.append(f"| {r['workload']} | {'busy loop on 1 core' if r['neighbour'] else 'none'} | {label} | "
                     f"{'> ' if r.get('timed_out') else ''}{r['seconds']} | {r['load']} |")
    lines.append("")
    lines.append("Default ÷ best fixed choice: " + ", ".join(f"{k} {v}" for k, v in res["ratios"].items())
                 + f" (goal ≤ 1.5). {res['cores']} cores; load average before {res['load_before']}, "
                 f"after {res['load_after']}.")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workloads", default="train,analyze")
    ap.add_argument("--timeout", type=float, default=600, help="stop a run past this many seconds (its time: > this)")
    ap.add_argument("--json")
    args = ap.parse_args()
    res = run(args.steps, args.n, tuple(args.workloads.split(",")), args.timeout)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))


if __name__ == "__main__":
    main()
