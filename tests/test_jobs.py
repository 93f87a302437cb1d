"""Background runs: a tiny job finishes, cancel stops it, resume continues the same run."""

import json
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from dmdviz import jobs
from dmdviz.errors import DmdvizError
from dmdviz.hub import load_checkpoint
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
