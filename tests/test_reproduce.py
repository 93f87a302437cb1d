"""``reproduce``: a family trained outside checkpoints/ keeps its lineage by shipped names."""

import pytest

from dmdviz import checkpoint
from dmdviz.experiments import reproduce as rp
from dmdviz.training.runtime import Runtime


@pytest.fixture(autouse=True)
def small_scoring(monkeypatch):
    """Score the tiny families on 100 seeds: the bootstrap on 1,000 (tens of seconds on 4-D
    costs) is not what these tests check, and every path (reproduce, rescore, spread) reads
    the same patched function."""
    measure = rp.key_metrics
    monkeypatch.setattr(rp, "key_metrics", lambda teacher, student, data_dir=None: measure(teacher, student, data_dir, n=100))


def test_a_family_trained_elsewhere_records_its_teachers_by_shipped_name(tmp_path, monkeypatch):
    family = rp.Family("chessboard4d", {"teacher-20": 20, "teacher-40": 40},
                       (rp.StudentSpec("student-20", "teacher-20", {"steps": 4, "probe_every": 2, "batch": 64}),))
    monkeypatch.setitem(rp.FAMILIES, "tiny", family)
    results = rp.reproduce("tiny", out_root=tmp_path / "out", runs_root=tmp_path / "runs", rt=Runtime.create("cpu"),
                           log=lambda *_: None)
    assert set(results) == {"student-20"} and 0 <= results["student-20"]["ot_agreement"] <= 1
    student = tmp_path / "out" / "tiny" / "student-20"
    assert checkpoint.read_config(student)["teacher"]["ref"] == "tiny/teacher-20"
    assert str(tmp_path) not in (student / "README.md").read_text()
    monkeypatch.setenv("DMDVIZ_CHECKPOINTS", str(tmp_path / "out"))  # moved into a checkpoints folder, it loads by name
    assert checkpoint.load_checkpoint("tiny/teacher-20").config["train"]["step"] == 20
    assert checkpoint.load_checkpoint("tiny/student-20").config["metrics"]["ot_agreement"] == results["student-20"]["ot_agreement"]
    # --rescore measures the same weights again: the same numbers, intervals, the card's Reproduce section kept
    weights = (student / "model.safetensors").read_bytes()
    again = rp.rescore("tiny", out_root=tmp_path / "out", log=lambda *_: None)["student-20"]
    assert again == {k: v for k, v in results["student-20"].items() if k != "teacher"}
    low, high = checkpoint.read_config(student)["metrics"]["intervals"]["ot_agreement"]
    assert low <= again["ot_agreement"] <= high and (student / "model.safetensors").read_bytes() == weights
    assert "## Reproduce" in (student / "README.md").read_text()


def test_only_redistils_named_students_from_the_existing_teachers(tmp_path, monkeypatch):
    from dmdviz.errors import DmdvizError

    family = rp.Family("chessboard4d", {"teacher": 20},
                       (rp.StudentSpec("student", "teacher", {"steps": 4, "probe_every": 2, "batch": 64}),
                        rp.StudentSpec("student-random-init", "teacher",
                                       {"steps": 4, "probe_every": 2, "batch": 64, "init": "random"})))
    monkeypatch.setitem(rp.FAMILIES, "tiny", family)
    kw = dict(out_root=tmp_path / "out", runs_root=tmp_path / "runs", rt=Runtime.create("cpu"), log=lambda *_: None)
    with pytest.raises(DmdvizError, match="missing: teacher"):
        rp.reproduce("tiny", only=("student-random-init",), **kw)
    rp.reproduce("tiny", **kw)
    teacher = (tmp_path / "out" / "tiny" / "teacher" / "model.safetensors").read_bytes()
    plain = (tmp_path / "out" / "tiny" / "student" / "model.safetensors").stat().st_mtime_ns
    results = rp.reproduce("tiny", only=("student-random-init",), **kw)
    assert set(results) == {"student-random-init"}
    assert (tmp_path / "out" / "tiny" / "teacher" / "model.safetensors").read_bytes() == teacher
    assert (tmp_path / "out" / "tiny" / "student" / "model.safetensors").stat().st_mtime_ns == plain
    card = (tmp_path / "out" / "tiny" / "student-random-init" / "README.md").read_text()
    assert "reproduce tiny --only student-random-init" in card
    with pytest.raises(DmdvizError, match="no student nope"):
        rp.reproduce("tiny", only=("nope",), **kw)


def test_cli_only_mistakes_are_one_line_errors(tmp_path):
    import subprocess
    import sys

    for args, message in ((["all", "--only", "student"], "not of 'all'"),
                          (["moons", "--only", "nope", "--out-root", str(tmp_path)], "no student nope")):
        done = subprocess.run([sys.executable, "-m", "dmdviz", "reproduce", *args], capture_output=True, text=True)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_spread_trains_other_seeds_beside_the_shipped_one(tmp_path, monkeypatch):
    import json

    family = rp.Family("moons", {"teacher": 20}, (rp.StudentSpec("student", "teacher", {"steps": 4, "probe_every": 2,
                                                                                          "batch": 64}),))
    monkeypatch.setitem(rp.FAMILIES, "tiny", family)
    kw = dict(out_root=tmp_path / "out", rt=Runtime.create("cpu"), log=lambda *_: None)
    shipped = rp.reproduce("tiny", runs_root=tmp_path / "runs", **kw)["student"]
    summary = rp.spread("tiny", (0, 1), runs_root=tmp_path / "seeds", **kw)
    a_ot = summary["students"]["student"]["copy_ratio"]
    assert a_ot["values"][0] == shipped["copy_ratio"] and a_ot["values"][1] != a_ot["values"][0]
    assert a_ot["sd"] > 0 and a_ot["mean"] == sum(a_ot["values"]) / 2
    assert json.loads((tmp_path / "out" / "tiny" / rp.SPREAD).read_text()) == summary
    seed_1 = checkpoint.read_config(tmp_path / "seeds" / "seed-1" / "tiny" / "teacher")["train"]["seed"]
    assert seed_1 == 1 and not (tmp_path / "out" / "tiny" / "seed-1").exists()


def test_spread_over_student_seeds_keeps_the_shipped_teacher(tmp_path, monkeypatch):
    import json

    family = rp.Family("moons", {"teacher": 20}, (rp.StudentSpec("student", "teacher", {"steps": 4, "probe_every": 2,
                                                                                          "batch": 64}),
                                                  rp.StudentSpec("other", "teacher", {"steps": 2, "batch": 64})))
    monkeypatch.setitem(rp.FAMILIES, "tiny", family)
    kw = dict(out_root=tmp_path / "out", rt=Runtime.create("cpu"), log=lambda *_: None)
    rp.reproduce("tiny", runs_root=tmp_path / "runs", **kw)
    summary = rp.spread("tiny", (0, 1), runs_root=tmp_path / "seeds", only=("student",), **kw)
    assert summary["teacher_fixed"] and set(summary["students"]) == {"student"}
    rho = summary["students"]["student"]["copy_ratio"]["values"]
    assert rho[0] != rho[1]
    fixed = tmp_path / "seeds" / "seed-1" / "tiny"
    assert (fixed / "teacher" / "model.safetensors").read_bytes() == \
        (tmp_path / "out" / "tiny" / "teacher" / "model.safetensors").read_bytes()
    assert checkpoint.read_config(fixed / "student")["train"]["seed"] == 1
    rp.spread("tiny", (0, 2), runs_root=tmp_path / "seeds", only=("other",), **kw)  # another student, other seeds
    kept = json.loads((tmp_path / "out" / "tiny" / rp.SPREAD).read_text())
    assert set(kept["students"]) == {"student", "other"} and kept["students"]["student"] == summary["students"]["student"]
    assert kept["runs"] == {"student": {"seeds": [0, 1], "teacher_fixed": True}, "other": {"seeds": [0, 2], "teacher_fixed": True}}
