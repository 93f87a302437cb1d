"""``push``: a teacher pushed first becomes the base model of its student pushed next (the
student's uploaded config and card name the teacher's repo and commit); a student whose
teacher was never pushed, or was changed since, goes up as it is. The Hub is faked at
``HfApi``'s two calls, which record what would have been sent."""

from __future__ import annotations

import json
import shutil
from fnmatch import fnmatch
from pathlib import Path

import pytest
from huggingface_hub import HfApi, ModelCard

from dmdviz import settings
from dmdviz.cli.main import main


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """{repo_id: {file name: bytes}} of every upload; each commit's oid is the repo's number."""
    sent: dict[str, dict[str, bytes]] = {}

    class Commit:
        def __init__(self, repo):
            self.oid = f"{len(sent):040x}"
            self.commit_url = f"https://huggingface.co/{repo}/commit/{self.oid}"

    def upload_folder(self, *, repo_id, folder_path, allow_patterns, **kw):
        files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()
                 if any(fnmatch(p.name, pattern) for pattern in allow_patterns)}
        sent[repo_id] = files
        return Commit(repo_id)

    monkeypatch.setattr(HfApi, "create_repo", lambda self, *a, **kw: None)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setenv("DMDVIZ_PUSHED", str(tmp_path / "pushed.json"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return sent


def _card(files) -> ModelCard:
    return ModelCard(files["README.md"].decode())


def test_a_shipped_teacher_pushed_first_is_the_base_model_of_its_student(hub, capsys):
    shipped = settings.shipped_root()
    assert main(["push", str(shipped / "moons" / "teacher"), "me/moons-teacher"]) == 0
    assert main(["push", str(shipped / "moons" / "student"), "me/moons-student"]) == 0
    student = hub["me/moons-student"]
    commit = f"{1:040x}"  # the teacher's upload
    assert _card(student).data.base_model == "me/moons-teacher"
    assert f"[`me/moons-teacher`](https://huggingface.co/me/moons-teacher) at commit `{commit}`" in _card(student).text
    assert json.loads(student["config.json"])["teacher"] == {"ref": "me/moons-teacher", "revision": commit}
    assert student["model.safetensors"] == (shipped / "moons" / "student" / "model.safetensors").read_bytes()
    # the card keeps what it said (the reproduce command, the metrics)
    assert _card(student).text.startswith(_card({"README.md": (shipped / "moons" / "student" / "README.md").read_bytes()}).text)
    assert "base_model" not in _card(hub["me/moons-teacher"]).data.to_dict()  # a teacher has none


def test_a_student_of_an_unpushed_or_changed_teacher_goes_up_as_it_is(hub, tmp_path, tiny_pair, capsys):
    teacher, student = (shutil.copytree(p, tmp_path / p.name) for p in tiny_pair)
    config = json.loads((student / "config.json").read_text())
    config["teacher"]["ref"] = str(teacher)
    (student / "config.json").write_text(json.dumps(config))
    assert main(["push", str(student), "me/s1"]) == 0  # its teacher never pushed
    assert hub["me/s1"]["config.json"] == (student / "config.json").read_bytes()
    assert main(["push", str(teacher), "me/t"]) == 0
    assert main(["push", str(student), "me/s1b"]) == 0  # a local folder's push names it just as well
    assert _card(hub["me/s1b"]).data.base_model == "me/t"
    with open(teacher / "model.safetensors", "r+b") as f:  # the teacher's weights change after its push
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    assert main(["push", str(student), "me/s2"]) == 0
    assert hub["me/s2"]["config.json"] == (student / "config.json").read_bytes()
    assert _card(hub["me/s2"]).data.base_model is None
