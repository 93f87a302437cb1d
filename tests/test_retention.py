"""Background work bounded for a public app: the oldest runs that are not running deleted at a
start beyond a count or a disk budget (never a running one), a sweep's sub-runs capped, and a
worker that stops itself, resumable, at its wall-clock limit."""

from __future__ import annotations

import os
import time
from dataclasses import replace

import pytest

from dmdviz import files
from dmdviz.errors import DmdvizError


def _run(root, name: str, state: str, age_s: float, mb: float = 0.0, pid: int = 0) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    files.write_json(folder / "job.json", {"teacher_steps": 2, "student_steps": 2})
    files.write_status(folder, state=state, phase=state, pid=pid, message="")
    if pid:
        (folder / "pid").write_text(str(pid))
    (folder / "teacher.bin").write_bytes(bytes(int(mb * 2**20)))
    stamp = time.time() - age_s
    os.utime(folder, (stamp, stamp))


def test_the_oldest_runs_beyond_the_count_or_budget_go_but_never_a_running_one(tmp_path):
    from dmdviz.experiments import jobs
    from dmdviz.limits import Limits

    root = tmp_path / "runs"
    _run(root, "running-oldest", "running", 500, pid=os.getpid())  # a live worker: never deleted
    _run(root, "done-old", "done", 400, mb=0.9)
    _run(root, "failed-old", "failed", 300)
    _run(root, "done-new", "done", 200, mb=0.9)
    _run(root, "cancelled-newest", "cancelled", 100)
    base = replace(Limits.from_env(), max_runs=0, runs_mb=0)
    assert jobs.retain(root, base) == []  # no bound: nothing goes
    # room for one more run within 4: the two oldest not running go
    assert jobs.retain(root, replace(base, max_runs=4), room=1) == ["done-old", "failed-old"]
    assert sorted(jobs.list_runs(root)) == ["cancelled-newest", "done-new", "running-oldest"]
    # a 1 MB budget: the runs left fit; one more 0.9 MB run, and the oldest not running goes
    assert jobs.retain(root, replace(base, runs_mb=1)) == []
    _run(root, "done-big", "done", 50, mb=0.9)
    assert jobs.retain(root, replace(base, runs_mb=1)) == ["done-new"]
    assert sorted(jobs.list_runs(root)) == ["cancelled-newest", "done-big", "running-oldest"]


def test_a_start_makes_room_by_retention(tmp_path, monkeypatch):
    from dmdviz.experiments import jobs, launcher
    from dmdviz.limits import Limits

    root = tmp_path / "runs"
    for i in range(3):
        _run(root, f"old-{i}", "done", 300 - i)
    monkeypatch.setattr(launcher, "launch", lambda *args, **kwargs: 0)  # no worker: the folders are what counts
    jobs.start(jobs.JobSpec(teacher_steps=2, student_steps=2), "new", root=root,
                      limits=replace(Limits.from_env(), max_runs=2))
    assert sorted(jobs.list_runs(root)) == ["new", "old-2"]


def test_a_sweep_over_its_sub_run_cap_is_refused_before_it_starts(tmp_path, monkeypatch):
    from dmdviz.limits import Limits
    from dmdviz.web import sweep

    monkeypatch.setenv("DMDVIZ_RUNS_DIR", str(tmp_path / "runs"))
    limits = replace(Limits.from_env(), max_sweep_runs=4)
    with pytest.raises(DmdvizError, match=r"^this sweep has 6 sub-runs, over the 4 one sweep may have here "
                                          r"\(DMDVIZ_MAX_SWEEP_RUNS\)"):
        sweep.start("chessboard", "2,8,32", "0,1", ["plain"], 2, 2, "capped", limits=limits)
    assert not (tmp_path / "runs").exists()


def test_a_worker_stops_itself_at_its_wall_clock_limit(tmp_path):
    import threading

    from dmdviz.experiments import launcher

    assert launcher.stop_after(tmp_path, 0) is None  # no limit: no timer
    stopped = threading.Event()
    launcher.stop_after(tmp_path, 0.05, stopped)
    assert stopped.wait(10) and files.stop_requested(tmp_path)  # the STOP a cancel writes: saved, resumable
