"""``--tensorboard DIR`` on the training commands: the scalars of metrics.jsonl, read back from
the event files by TensorBoard's own reader; without the package, one line."""

from __future__ import annotations

import json
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dmdviz.cli.main import main


def _scalars(folder) -> dict[str, dict[int, float]]:
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


def _jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_tiny_teacher_and_student_log_their_metrics_as_tensorboard_scalars(tmp_path, capsys):
    tb, t, s = tmp_path / "tb", tmp_path / "t", tmp_path / "s"
    assert main(["train-teacher", "--preset", "moons", "--out", str(t), "--steps", "20", "--batch", "32",
                 "--device", "cpu", "--tensorboard", str(tb)]) == 0
    assert main(["distill", "--teacher", str(t), "--out", str(s), "--steps", "4", "--batch", "16", "--probe-every", "2",
                 "--probe-n", "16", "--device", "cpu", "--tensorboard", str(tb)]) == 0
    got = _scalars(tb)
    teacher, student = _jsonl(t / "metrics.jsonl"), _jsonl(s / "metrics.jsonl")
    assert got["teacher/fm_loss"] == pytest.approx({r["step"]: r["fm_loss"] for r in teacher}, rel=1e-4)  # the file keeps 5 digits
    assert got["student/dm_loss"] == pytest.approx({r["step"]: r["dm_loss"] for r in student if "dm_loss" in r}, rel=1e-4)
    assert set(got["student/ot_agreement"]) == {0, 2, 4}  # the probe steps
    assert not {"teacher/step", "teacher/wall", "student/world_size"} & set(got)  # x axes and facts, not curves


def test_without_tensorboard_the_command_fails_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # its import raises ImportError
    assert main(["train-teacher", "--preset", "moons", "--out", str(tmp_path / "t"), "--steps", "5",
                 "--tensorboard", str(tmp_path / "tb")]) == 2
    err = capsys.readouterr().err
    assert err == "error: --tensorboard needs the tensorboard package (pip install tensorboard==2.21.0)\n"
    assert not (tmp_path / "t").exists()  # refused before any training
