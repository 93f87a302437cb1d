"""The Space deploy: every binary the repo tracks goes through LFS (.gitattributes), and the
README's push path (export the tracked tree, ``hf upload ... --repo-type space``) sends exactly
the tracked files, intact. The Hub is not reachable here: the ``hf`` command runs for real with
``HfApi``'s two network calls recorded instead of sent."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIG = 2**20  # the Hub refuses plain git objects of this size; binaries of any size go to LFS too


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def tracked() -> list[str]:
    try:
        return _git("ls-files", "-z").split("\0")[:-1]
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (an image or a Space copy)")


def _binary(path: Path) -> bool:
    """git's own rule: a NUL byte in the first 8,000 bytes."""
    with open(path, "rb") as f:
        return b"\0" in f.read(8000)


def test_every_tracked_binary_and_every_large_file_is_lfs_and_no_text_file_is(tracked):
    out = subprocess.run(["git", "check-attr", "--stdin", "-z", "filter"], cwd=ROOT, input="\0".join(tracked),
                         capture_output=True, text=True, check=True, timeout=60).stdout.split("\0")
    lfs = {path for path, _, value in zip(out[0::3], out[1::3], out[2::3]) if value == "lfs"}
    files = [p for p in tracked if (ROOT / p).is_file()]
    heavy = {p for p in files if (ROOT / p).stat().st_size > BIG or _binary(ROOT / p)}
    assert any((ROOT / p).stat().st_size > BIG for p in heavy)  # the shipped checkpoints and MNIST
    assert heavy - lfs == set(), "add a pattern to .gitattributes"
    assert lfs - heavy == set(), "a text file would go to LFS"


def _readme_commands() -> tuple[str, list[str]]:
    """The Deploy section's export line and its ``hf upload`` line."""
    deploy = (ROOT / "README.md").read_text().split("\n## Deploy", 1)[1].split("\n## ", 1)[0]
    lines = [line.strip().split("   #")[0].strip() for line in deploy.splitlines()]
    export = next(line for line in lines if line.startswith("mkdir") and "git archive HEAD" in line)
    upload = next(line for line in lines if line.startswith("hf upload "))
    return export, shlex.split(upload)


def test_the_readme_push_path_uploads_the_tracked_tree_intact(tracked, tmp_path, monkeypatch):
    from click.testing import CliRunner
    from huggingface_hub import HfApi
    from huggingface_hub.cli.hf import app
    from huggingface_hub.utils import filter_repo_objects
    from huggingface_hub.utils._paths import DEFAULT_IGNORE_PATTERNS
    from safetensors import safe_open

    export, upload = _readme_commands()
    space = tmp_path / "space"
    export = export.replace("/tmp/dmdviz-space", str(space))
    subprocess.run(export, shell=True, cwd=ROOT, check=True, timeout=120)
    calls = {}

    class Repo:
        repo_id = "me/dmdviz"

    def create_repo(self, **kw):
        calls["create"] = kw
        return Repo()

    def upload_folder(self, **kw):
        calls["upload"] = kw
        return "https://huggingface.co/spaces/me/dmdviz/commit/0"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    argv = [a.replace("<you>", "me").replace("/tmp/dmdviz-space", str(space)) for a in upload[1:]]
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 0, r.output
    assert calls["create"]["repo_type"] == "space" and calls["create"]["space_sdk"] == "gradio"
    kw = calls["upload"]
    assert kw["repo_id"] == "me/dmdviz" and kw["repo_type"] == "space" and kw["path_in_repo"] in (".", "")
    folder = Path(kw["folder_path"])
    found = sorted(p.relative_to(folder).as_posix() for p in folder.glob("**/*") if p.is_file())
    sent = set(filter_repo_objects(found, allow_patterns=kw["allow_patterns"],
                                   ignore_patterns=(kw["ignore_patterns"] or []) + DEFAULT_IGNORE_PATTERNS))
    assert sent == set(_git("ls-tree", "-r", "-z", "--name-only", "HEAD").split("\0")[:-1])
    assert {"app.py", "requirements.txt", "pre-requirements.txt", "README.md", ".gitattributes",
            "data/mnist/t10k-images-idx3-ubyte.gz"} <= sent
    weights = [p for p in sent if p.endswith(".safetensors")]
    assert weights
    for p in weights:  # real weights, not LFS pointer files
        with safe_open(str(folder / p), "pt") as f:
            assert f.keys()
    pointer = re.compile(rb"^version https://git-lfs")
    assert not any(pointer.match((folder / p).read_bytes()[:40]) for p in sent)
