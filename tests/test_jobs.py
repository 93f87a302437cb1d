"""Background runs: a tiny job finishes, cancel stops it, resume continues the same run; one
cap counts jobs and sweeps; a finished worker is reaped (no zombie)."""

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from dmdviz import files
from dmdviz.checkpoint import load_checkpoint
from dmdviz.errors import DmdvizError
from dmdviz.experiments import jobs
from dmdviz.experiments.sweep import SweepConfig, start_background
from dmdviz.limits import Limits

TINY = jobs.JobSpec(preset="chessboard4d", teacher_steps=40, student_steps=8, batch=32)


def _limits(**kw) -> Limits:
    return replace(Limits.from_env(), job_threads=1, **kw)


def _wait(run, root, states=("done", "failed", "cancelled", "interrupted"), timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = jobs.progress(run, root)
        if p.state in states:
            return p
        time.sleep(0.2)
    pytest.fail(f"run {run} still {p.state} after {timeout}s; log: {(root / run / 'log.txt').read_text()[-2000:]}")


def test_tiny_job_runs_to_completion(tmp_path):
    run = jobs.start(TINY, root=tmp_path, limits=_limits())
    p = _wait(run, tmp_path)
    assert p.state == "done", (p.message, (tmp_path / run / "log.txt").read_text()[-2000:])
    assert p.fraction == 1.0 and p.total == 48
    assert [r["step"] for r in p.teacher] == list(range(1, 41))
    assert p.student[0]["step"] == 0 and "ot_agreement" in p.student[-1]
    student = load_checkpoint(str(tmp_path / run / "student"))
    assert student.config["teacher"]["ref"] == str(tmp_path / run / "teacher")
    assert jobs.finished_pairs(tmp_path) == [(run, tmp_path / run / "teacher", tmp_path / run / "student")]
    with pytest.raises(DmdvizError, match="has finished"):
        jobs.resume(run, tmp_path, _limits())


def test_cancel_then_resume_continues_the_same_metrics(tmp_path):
    run = jobs.start(TINY, name="tiny", root=tmp_path, limits=_limits(max_jobs=1))
    # the worker is still importing torch: the stop request is seen at its first step
    jobs.cancel(run, tmp_path)
    with pytest.raises(DmdvizError, match="already running"):
        jobs.start(TINY, root=tmp_path, limits=_limits(max_jobs=1))
    p = _wait(run, tmp_path)
    assert p.state == "cancelled"
    assert [r["step"] for r in p.teacher] == [1]
    folder = tmp_path / run / "teacher"
    assert (folder / "state.safetensors").is_file() and not (folder / "config.json").exists()
    with pytest.raises(DmdvizError, match="not running"):
        jobs.cancel(run, tmp_path)

    jobs.resume(run, tmp_path, _limits(max_jobs=1))
    p = _wait(run, tmp_path)
    assert p.state == "done", p.message
    assert [r["step"] for r in p.teacher] == list(range(1, 41))
    walls = [r["wall"] for r in p.teacher]
    assert walls == sorted(walls)
    assert [r["step"] for r in p.student] == list(range(0, 9))


def test_a_dead_worker_reads_as_interrupted(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "job.json").write_text(json.dumps({"preset": "moons"}))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / "status.json").write_text(json.dumps({"state": "running", "phase": "teacher", "pid": dead.pid}))
    assert jobs.progress("r", tmp_path).state == "interrupted"
    assert jobs.running(tmp_path) == []


@pytest.mark.parametrize("spec, message", [
    (replace(TINY, teacher_steps=10**6), "teacher steps must be between"),
    (replace(TINY, preset="nope"), "unknown preset"),
    (replace(TINY, preset="mnist", dim=8), "fixed image shape"),
    (replace(TINY, init="zeros"), "init"),
    (replace(TINY, seed=2**32), "base seed must be between"),
])
def test_bad_specs_are_refused_before_anything_starts(tmp_path, spec, message):
    with pytest.raises(DmdvizError, match=message):
        jobs.start(spec, root=tmp_path, limits=_limits())
    assert jobs.list_runs(tmp_path) == []


def test_bad_names_are_refused(tmp_path):
    for name in ("../x", "a/b", ""):
        with pytest.raises(DmdvizError, match="run name|no run"):
            jobs.progress(name, tmp_path)
    with pytest.raises(DmdvizError, match="run name"):
        jobs.start(TINY, name="../evil", root=tmp_path, limits=_limits())


def _zombies() -> set[int]:
    """Children of this process in state Z (exited, never reaped), read from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, ppid = text.rsplit(")", 1)[1].split()[:2]
        if state == "Z" and int(ppid) == os.getpid():
            found.add(int(stat.parent.name))
    return found


def _final_state(folder: Path, timeout=120) -> str:
    """Wait for the worker's last status write, reading the file only (no poll of the child)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = files.read_json(folder / "status.json").get("state")
        if current in files.FINAL:
            return current
        time.sleep(0.2)
    pytest.fail(f"{folder} has no final state; log: {(folder / 'log.txt').read_text()[-2000:]}")


def _gone(pid: int, timeout=120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists() and pid not in _zombies():
        time.sleep(0.1)
    return not Path(f"/proc/{pid}").exists()


def test_a_finished_worker_leaves_no_zombie(tmp_path):
    run = jobs.start(TINY, root=tmp_path, limits=_limits())
    pid = int((tmp_path / run / "pid").read_text())
    jobs.cancel(run, tmp_path)
    assert _final_state(tmp_path / run) == "cancelled"
    # nothing here polls the child: it is reaped by the launcher itself when it exits
    assert _gone(pid), f"worker {pid} is a zombie: {sorted(_zombies())}"
    assert pid not in _zombies()


def test_one_cap_counts_training_jobs_and_sweeps(tmp_path):
    limits = _limits(max_jobs=2)
    long = replace(TINY, teacher_steps=20_000)  # holds its slot until cancelled
    first, second = (jobs.start(long, name=name, root=tmp_path, limits=limits) for name in ("a", "b"))
    tiny = SweepConfig(dims=(2,), seeds=(0,), variants=("plain",), hidden=8, depth=1, teacher_steps=20_000,
                       student_steps=2, n=8)
    folder = tmp_path / "sweeps" / "s"
    with pytest.raises(DmdvizError, match="2 background run\\(s\\) already running"):
        start_background(folder, tiny, limits=limits, root=tmp_path)
    assert not folder.exists()  # refused before anything was written
    jobs.cancel(first, tmp_path)
    assert _final_state(tmp_path / first) == "cancelled"
    pid = start_background(folder, tiny, limits=limits, root=tmp_path)  # the freed slot takes the sweep
    with pytest.raises(DmdvizError, match="2 background run\\(s\\) already running"):
        jobs.start(TINY, root=tmp_path, limits=limits)  # b and the sweep hold both slots
    files.request_stop(folder)
    jobs.cancel(second, tmp_path)
    _final_state(tmp_path / second)
    pids = {pid, int((tmp_path / second / "pid").read_text()), int((tmp_path / first / "pid").read_text())}
    assert all(_gone(p) for p in pids) and not _zombies() & pids
    assert sorted(jobs.list_runs(tmp_path)) == ["a", "b"]  # the refused third job left no folder
