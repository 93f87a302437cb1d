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
from dmdviz.errors import DmdvizError


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


def _components(demo, kind) -> list:
    return [b for b in demo.blocks.values() if isinstance(b, kind)]


def test_on_a_space_the_app_pushes_with_the_visitors_login_and_elsewhere_not_at_all(monkeypatch, tmp_path):
    """No token box anywhere: a Space with HF OAuth gets a login button and a push event whose
    callback Gradio hands the visitor's ``gr.OAuthToken``; elsewhere the app does not push."""
    import gradio as gr
    import gradio.oauth
    from gradio.utils import oauth_token_requirement

    from dmdviz.experiments import jobs
    from dmdviz.web.app import App, _train_tab
    from dmdviz.web.common import Gate

    def train_tab():  # the tab that holds the push, on its own (the whole app is seconds more)
        with gr.Blocks() as demo:
            _train_tab(App(), Gate(4, 8), gr.Dropdown())
        return demo

    monkeypatch.setenv("DMDVIZ_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("SPACE_ID", raising=False)
    here = train_tab()
    assert not _components(here, gr.LoginButton) and "train_push" not in {f.api_name for f in here.fns.values()}
    for key, value in {"SYSTEM": "spaces", "SPACE_ID": "me/dmdviz", "OAUTH_CLIENT_ID": "client"}.items():
        monkeypatch.setenv(key, value)
    for key in ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES", "OPENID_PROVIDER_URL"):  # read at import
        monkeypatch.setattr(gradio.oauth, key, "https://example.invalid" if key == "OPENID_PROVIDER_URL" else "x")
    space = train_tab()
    assert len(_components(space, gr.LoginButton)) == 1
    assert not [t for demo in (here, space) for t in _components(demo, gr.Textbox) if t.type == "password"]
    push = next(f for f in space.fns.values() if f.api_name == "train_push")
    assert oauth_token_requirement(push.fn) == "optional"  # filled from the session, None when logged out

    sent = []
    monkeypatch.setattr(jobs, "push_run", lambda run, repo, token: sent.append((run, repo, token)) or ("t-url", "s-url"))
    login = gr.OAuthToken(token="hf_visitor", scope="write-repos manage-repos", expires_at=0)
    assert App().train_push("cb", "me/cb", login) == "Pushed: teacher t-url, student s-url"
    assert sent == [("cb", "me/cb", "hf_visitor")]
    with pytest.raises(DmdvizError, match="log in with Hugging Face"):
        App().train_push("cb", "me/cb", None)
