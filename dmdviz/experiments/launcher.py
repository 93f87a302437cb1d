"""Background workers: the one way one starts, is counted and is watched.

A worker is ``python -m dmdviz.experiments.worker KIND FOLDER`` (``KIND``: a training
``job`` or a ``sweep``), run in its own session with its own torch thread count
(``DMDVIZ_THREADS``), its output in ``log.txt``, its pid in ``pid``. One cap
(``Limits.max_jobs``) counts every worker under the runs root, jobs and sweeps together;
a child is reaped the moment it exits (a thread waits on it), so no finished worker stays
a zombie. With ``Limits.job_s`` set, a worker stops itself that long after it starts
(``stop_after``: saved and resumable, as a cancel). No torch here: the app imports this before any model is loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from dmdviz.errors import DmdvizError
from dmdviz.files import FINAL, clear_stop, read_json, request_stop
from dmdviz.limits import Limits
from dmdviz.settings import PROJECT_ROOT

PID = "pid"
LOG = "log.txt"
JOB_S = "DMDVIZ_JOB_S"  # the worker's wall-clock limit (``Limits.job_s``), passed in its environment
KINDS = ("job", "sweep")
_children: dict[int, subprocess.Popen] = {}
_launch_lock = threading.Lock()


def _reap(child: subprocess.Popen) -> None:
    child.wait()  # collects the exit status: the finished child leaves no zombie behind


def _spawn(folder: Path, argv: list[str], threads: int, seconds: int = 0) -> int:
    env = {**os.environ, "DMDVIZ_THREADS": str(threads), JOB_S: str(seconds)}
    with open(folder / LOG, "ab") as log:
        child = subprocess.Popen([sys.executable, *argv], stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
                                 env=env, start_new_session=True)
    _children[child.pid] = child
    threading.Thread(target=_reap, args=(child,), daemon=True, name=f"reap-{child.pid}").start()
    (folder / PID).write_text(str(child.pid))
    return child.pid


def process_alive(pid: int) -> bool:
    """Whether a process runs; this server's own children answer from their Popen."""
    if pid <= 0:
        return False
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None and child.returncode is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_alive(folder) -> bool:
    """Whether the worker last launched on ``folder`` still runs."""
    try:
        pid = int((Path(folder) / PID).read_text())
    except (OSError, ValueError):
        return False
    return process_alive(pid)


def active(root) -> list[Path]:
    """Folders under ``root`` (runs) and ``root/sweeps`` whose worker runs and has not yet
    written a final state (``FINAL`` in its status.json: it is only exiting)."""
    root = Path(root)
    folders = [p for base in (root, root / "sweeps") if base.is_dir() for p in base.iterdir() if (p / PID).is_file()]
    return [p for p in folders if worker_alive(p) and read_json(p / "status.json").get("state") not in FINAL]


@contextmanager
def launching(root, limits: Limits):
    """Hold the launch lock with a free slot: create the folder inside, then ``launch`` it.

    Refuses (one line) when ``limits.max_jobs`` workers already run under ``root``, training
    jobs and sweeps counted together."""
    with _launch_lock:
        busy = active(root)
        if len(busy) >= limits.max_jobs:
            raise DmdvizError(f"{len(busy)} background run(s) already running (training jobs and sweeps together; "
                              f"limit {limits.max_jobs}): wait for one to finish or cancel it")
        yield


def launch(kind: str, folder, limits: Limits) -> int:
    """Start the ``kind`` worker of ``folder`` (call inside ``launching``); returns its pid."""
    if kind not in KINDS:
        raise ValueError(kind)
    folder = Path(folder)
    clear_stop(folder)
    return _spawn(folder, ["-m", "dmdviz.experiments.worker", kind, str(folder)], limits.job_threads, limits.job_s)


def stop_after(folder, seconds: int, stopped: threading.Event | None = None) -> threading.Timer | None:
    """In a worker: ask it to stop (the ``STOP`` file, so it saves its state and stays
    resumable) ``seconds`` after now, ``DMDVIZ_JOB_S`` as the launcher passed it; sets
    ``stopped`` when it does. None when there is no limit."""
    if seconds <= 0:
        return None

    def stop():
        request_stop(folder)
        if stopped is not None:
            stopped.set()

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    return timer
