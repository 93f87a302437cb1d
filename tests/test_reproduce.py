"""``reproduce``: a family trained outside checkpoints/ keeps its lineage by shipped names."""

from dmdviz import hub
from dmdviz import reproduce as rp
from dmdviz.runtime import Runtime


def test_a_family_trained_elsewhere_records_its_teachers_by_shipped_name(tmp_path, monkeypatch):
    family = rp.Family("chessboard4d", {"teacher-20": 20, "teacher-40": 40},
                       (rp.StudentSpec("student-20", "teacher-20", {"steps": 4, "probe_every": 2, "batch": 64}),))
    monkeypatch.setitem(rp.FAMILIES, "tiny", family)
    results = rp.reproduce("tiny", out_root=tmp_path / "out", runs_root=tmp_path / "runs", rt=Runtime.create("cpu"),
                           log=lambda *_: None)
    assert set(results) == {"student-20"} and 0 <= results["student-20"]["ot_agreement"] <= 1
    student = tmp_path / "out" / "tiny" / "student-20"
    assert hub.read_config(student)["teacher"]["ref"] == "tiny/teacher-20"
    assert str(tmp_path) not in (student / "README.md").read_text()
    monkeypatch.setattr(hub, "SHIPPED", tmp_path / "out")  # moved into a checkpoints folder, it loads by name
    assert hub.load_checkpoint("tiny/teacher-20").config["train"]["step"] == 20
    assert hub.load_checkpoint("tiny/student-20").config["metrics"]["ot_agreement"] == results["student-20"]["ot_agreement"]
