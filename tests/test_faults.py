"""A training run killed with SIGKILL at an arbitrary moment resumes from its last saved
state (``--resume``): metrics.jsonl continues with no step lost or repeated, and the final
weights and metrics equal those of an uninterrupted run (training is deterministic given
its seeds and thread count)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
TEACHER = ["train-teacher", "--preset", "chessboard4d", "--steps", "1500", "--batch", "64"]
STUDENT = ["distill", "--teacher", "chessboard4d/teacher", "--steps", "700", "--batch", "64", "--probe-every", "100",
           "--probe-n", "64"]


def _cli(args, out: Path, *extra) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DMDVIZ_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "dmdviz", *args, "--out", str(out), "--threads", "1", *extra],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def _steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def _state_step(out: Path) -> int:
    with safe_open(str(out / "state.safetensors"), "pt") as f:
        return json.loads(f.metadata()["meta"])["step"]


def _kill_after_a_saved_state(proc: subprocess.Popen, out: Path) -> tuple[int, int]:
    """SIGKILL once a state is saved and the log has run past it: (state step, last logged step)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()}"
        try:
            saved, logged = _state_step(out), _steps(out)[-1]
        except (FileNotFoundError, OSError, ValueError, KeyError, IndexError, json.JSONDecodeError):
            saved = logged = -1  # nothing written yet, or caught mid-replace
        if saved > 0 and logged > saved:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return saved, logged
        time.sleep(0.01)
    pytest.fail("no state was saved within 240 s")


def _without_wall(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall"} for r in records]


@pytest.mark.parametrize("args, expected", [
    (TEACHER, list(range(50, 1501, 50))),  # the teacher logs every log_every = 50 steps
    (STUDENT, list(range(0, 701))),  # DMD logs step 0 (the probe at init) and every iteration
], ids=["teacher", "student"])
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, args, expected):
    _finish(_cli(args, tmp_path / "clean"))
    assert _steps(tmp_path / "clean") == expected

    killed = tmp_path / "killed"
    saved, logged = _kill_after_a_saved_state(_cli(args, killed), killed)
    assert not (killed / "config.json").exists(), "killed after the run had finished"
    with open(killed / "metrics.jsonl", "a") as f:
        f.write('{"step": ' + str(logged + 1))  # what a kill in the middle of a write leaves
    refused = _cli(args, killed)
    _, err = refused.communicate(timeout=300)
    assert refused.returncode == 2 and "--resume" in err  # never silently restarted over a run
    _finish(_cli(args, killed, "--resume"))

    assert _steps(killed) == expected, f"state at {saved}, killed at {logged}"
    read = lambda folder: [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert _without_wall(read(killed)) == _without_wall(read(tmp_path / "clean"))
    a, b = load_file(str(killed / "model.safetensors")), load_file(str(tmp_path / "clean" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
