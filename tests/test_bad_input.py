"""Bad input of every kind ends in one clear line, never a traceback or a hang: damaged and
hostile checkpoint files, absurd numbers in every numeric CLI option, unknown Hub repo ids
offline (CLI: exit status 2, ``error: ...``), and the same through the running app, which
keeps serving afterwards. Library refusals already in test_hub.py are not repeated; here
they are checked at the CLI and the app, plus the cases test_hub.py lacks."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from dmdviz import checkpoint, cli
from dmdviz.errors import DmdvizError

ROOT = Path(__file__).resolve().parent.parent
UPLOAD_MB = 1  # the served app's upload cap (DMDVIZ_MAX_UPLOAD_MB), small so oversized is cheap
VIEW = (100, 0, 8, 0)  # n, seed, K, seed index


# --------------------------------------------------------------------------- bad checkpoint folders


def _folder(tiny_pair, root: Path, name: str, weights: bytes | None = None, config=None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    shutil.copy(tiny_pair[0] / "config.json", folder / "config.json")
    if config:
        (folder / "config.json").write_text(json.dumps(config(json.loads((folder / "config.json").read_text()))))
    raw = (tiny_pair[0] / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(raw if weights is None else weights)
    return folder


def _safetensors(header: dict, body: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def _state(tiny_pair) -> dict:
    return {k: v.clone() for k, v in checkpoint.load_checkpoint(str(tiny_pair[0])).model.state_dict().items()}


def _saved(state: dict, path: Path) -> bytes:
    save_file(state, str(path))
    return path.read_bytes()


@pytest.fixture(scope="module")
def bad_checkpoints(tiny_pair, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """name -> (folder, what its one-line refusal must say)."""
    root = tmp_path_factory.mktemp("bad")
    raw = (tiny_pair[0] / "model.safetensors").read_bytes()
    state = _state(tiny_pair)
    f8 = _saved({**state, "inp.weight": state["inp.weight"].to(torch.float8_e4m3fn)}, root / "f8.safetensors")
    cases = {
        "truncated": (raw[: len(raw) // 3], None, "not a valid safetensors file"),
        "empty": (b"", None, "header too small"),
        "garbage": (os.urandom(4096), None, "not a valid safetensors file"),
        "pickled": (pickle.dumps({"inp.weight": torch.zeros(3)}), None, "not a valid safetensors file"),
        "header-lies": (struct.pack("<Q", 2**62) + b"{}", None, "header too large"),
        "header-list": (_safetensors([]), None, "invalid JSON in header"),  # type: ignore[arg-type]
        # two headers a hand-written parser once read into an unexpected TypeError
        "offsets-not-a-pair": (_safetensors({"inp.weight": {"dtype": "F32", "shape": [2], "data_offsets": 5}}, bytes(8)),
                               None, "expected a tuple of size 2"),
        "dtype-a-list": (_safetensors({"inp.weight": {"dtype": ["F32"], "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
                         None, "not a valid safetensors file"),
        "wrong-shape": (_saved({**state, "inp.weight": torch.zeros(7, 3)}, root / "s.safetensors"), None,
                        "shape mismatch"),
        "wrong-dtype": (_saved({**state, "inp.weight": state["inp.weight"].to(torch.int32)}, root / "d.safetensors"),
                        None, "dtype mismatch"),
        "unknown-dtype": (f8, None, "dtype mismatch"),
        "wrong-config": (None, lambda c: {**c, "net": {**c["net"], "depth": 5}}, "does not match its config.json"),
        "not-json-config": (None, lambda c: None, "not a dmdviz checkpoint config"),
    }
    out = {name: (_folder(tiny_pair, root, name, w, cfg), needle) for name, (w, cfg, needle) in cases.items()}
    only_pickle = root / "only-pickle"
    only_pickle.mkdir()
    shutil.copy(tiny_pair[0] / "config.json", only_pickle / "config.json")
    (only_pickle / "pytorch_model.bin").write_bytes(pickle.dumps({"a": 1}))
    out["only-pickle"] = (only_pickle, "pickle files are never loaded")
    return out


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def _main(capsys, *argv) -> str:
    """cli.main in this process: exit status 2 and one ``error:`` line, returned."""
    assert cli.main([str(a) for a in argv]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error: "), line
    return line


def test_oversized_checkpoint_is_refused_before_reading(tiny_pair, tmp_path, monkeypatch):
    folder = _folder(tiny_pair, tmp_path, "big")
    monkeypatch.setenv("DMDVIZ_MAX_MODEL_MB", "0")
    with pytest.raises(DmdvizError, match="over the .* limit"):
        checkpoint.load_checkpoint(str(folder))


def test_oversized_hub_checkpoint_is_refused_before_download(monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants
    from huggingface_hub.hf_api import RepoFile

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "get_paths_info",
                        lambda self, repo, paths, revision=None: [RepoFile(path=paths[0], size=checkpoint.max_bytes() + 1,
                                                                           oid="0" * 40)])
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("downloaded anyway"))
    with pytest.raises(DmdvizError, match="big/model: model.safetensors is .* over the .* limit"):
        checkpoint.load_checkpoint("big/model@main")


def test_unreachable_hub_online_reads_as_one_line(monkeypatch, tmp_path):
    import huggingface_hub
    import huggingface_hub.constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    def unreachable(*args, **kwargs):
        raise ConnectionError("Name or service not known")  # what the HTTP stack raises, not a Hub error

    def cache_miss(*args, **kwargs):
        raise LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "get_paths_info", unreachable)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", cache_miss)
    with pytest.raises(DmdvizError, match="nobody/nothing: not in the local Hugging Face cache and the Hub is unreachable"):
        checkpoint.load_checkpoint("nobody/nothing")


def test_bad_checkpoints_through_the_cli(bad_checkpoints, tiny_pair, tmp_path, capsys):
    for name, (folder, needle) in bad_checkpoints.items():
        line = _main(capsys, "analyze", "--teacher", folder, "--student", tiny_pair[1], "--n", 16)
        assert needle in line, (name, line)
        line = _main(capsys, "distill", "--teacher", folder, "--out", tmp_path / name, "--steps", 2)
        assert needle in line, (name, line)
        assert not (tmp_path / name).exists(), name  # refused before a run folder is made


def test_process_exit_status_and_one_line(bad_checkpoints, tmp_path):
    """The same contract seen from outside: ``python -m dmdviz`` exits with status 2."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DMDVIZ_THREADS": "1", "HF_HOME": str(tmp_path / "hf")}
    for argv, needle in [
        (["distill", "--teacher", bad_checkpoints["pickled"][0], "--out", tmp_path / "x"], "not a valid safetensors file"),
        (["train-teacher", "--preset", "chessboard4d", "--out", tmp_path / "y", "--batch", "nan"], "--batch"),
        (["distill", "--teacher", "nobody/nothing@v2", "--out", tmp_path / "z"], "nobody/nothing@v2"),
    ]:
        r = subprocess.run([sys.executable, "-m", "dmdviz", *map(str, argv)], capture_output=True, text=True, cwd=ROOT,
                           env=env, timeout=120)
        assert r.returncode == 2 and needle in _one_line(r.stderr) and r.stdout == "", (argv, r.stderr)


# --------------------------------------------------------------------------- absurd numbers in the CLI

INT_BAD = ["-1", "0", "99999999999999", "nan", "1.5", "abc"]
REAL_BAD = ["-1", "nan", "inf", "-inf", "1e30", "abc"]
LIST_BAD = ["-1", "0", "99999999999999", "nan", "2,x", ","]


def _numeric_cases(teacher: str, student: str, out: str):
    base = {
        "train-teacher": ["train-teacher", "--preset", "chessboard4d", "--out", out, "--steps", "3"],
        "distill": ["distill", "--teacher", teacher, "--out", out, "--steps", "2", "--batch", "8", "--probe-n", "8"],
        "analyze": ["analyze", "--teacher", teacher, "--student", student, "--n", "16"],
        "sweep": ["sweep", "--out", out, "--dims", "2", "--teacher-steps", "2", "--student-steps", "2", "--n", "5"],
        "reproduce": ["reproduce", "moons", "--out-root", out],
    }
    zero_ok = {"--seed", "--seeds", "--gan-weight", "--gan-weight-g", "--gan-weight-d", "--regression-weight"}
    options = {
        "train-teacher": {"--steps": INT_BAD, "--batch": INT_BAD, "--seed": INT_BAD, "--threads": INT_BAD,
                          "--max-images": INT_BAD, "--student-steps": INT_BAD,
                          "--dim": INT_BAD, "--snapshots": LIST_BAD + ["3"]},  # a snapshot at or past the last step
        "distill": {o: INT_BAD for o in ("--steps", "--batch", "--seed", "--threads", "--ratio", "--probe-every",
                                         "--probe-n", "--k", "--student-hidden", "--student-depth")}
        | {o: REAL_BAD + ["0"] for o in ("--lr", "--critic-lr")}
        | {o: REAL_BAD for o in ("--gan-weight", "--gan-weight-g", "--gan-weight-d", "--regression-weight",
                                  "--extra-noise")},
        "analyze": {o: INT_BAD for o in ("--n", "--k", "--seed", "--threads")},
        "sweep": {o: INT_BAD for o in ("--cells", "--hidden", "--depth", "--teacher-steps", "--teacher-batch",
                                       "--student-steps", "--student-batch", "--ratio", "--n", "--k", "--threads")}
        | {"--dims": LIST_BAD, "--seeds": LIST_BAD, "--lr": REAL_BAD + ["0"]},
        "reproduce": {"--threads": INT_BAD, "--seeds": LIST_BAD},
    }
    for cmd, opts in options.items():
        for opt, values in opts.items():
            for value in values:
                if value == "0" and opt in zero_ok:
                    continue
                yield base[cmd] + [opt, value], opt


def test_absurd_numbers_in_every_numeric_option(tiny_pair, tmp_path, capsys):
    cases = list(_numeric_cases(str(tiny_pair[0]), str(tiny_pair[1]), str(tmp_path / "out")))
    commands = cli.build_parser()._subparsers._group_actions[0].choices
    numeric = {(cmd, a.option_strings[0]) for cmd, p in commands.items() for a in p._actions
               if a.type not in (None, str) and a.option_strings}
    assert numeric == {(argv[0], opt) for argv, opt in cases}, "a numeric option is missing from this test"
    for argv, opt in cases:
        line = _main(capsys, *argv)
        assert opt.lstrip("-") in line, (argv, line)
    assert not (tmp_path / "out").exists()  # nothing started


def test_unknown_repo_ids_offline(tiny_pair, tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    for ref, needle in [("nobody/nothing", "nobody/nothing"), ("nobody/nothing@0123abc", "nobody/nothing@0123abc"),
                        ("a/b/c", "neither a folder"), ("org/name@", "org/name@"), ("x" * 300, "not a usable path"),
                        ("y" * 5000, "at most 1024")]:
        assert needle in _main(capsys, "analyze", "--teacher", ref, "--student", tiny_pair[1])
        assert needle in _main(capsys, "distill", "--teacher", ref, "--out", tmp_path / "s")
    assert "offline" in _main(capsys, "push", tiny_pair[0], "nobody/nothing")


# --------------------------------------------------------------------------- the same through the app


@pytest.fixture(scope="module", autouse=True)
def _small_upload_cap():
    """Set before the module's ``served`` app is built (autouse fixtures come first)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DMDVIZ_MAX_UPLOAD_MB", str(UPLOAD_MB))
        yield


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    c = Client(served[1], analytics_enabled=False, download_files=str(served[2] / "dl"), verbose=False)
    c.predict(*VIEW, api_name="/init")
    yield c
    c.close()


@pytest.fixture
def refused(client, refusal):
    """``refusal(needle, *args, api=...)``: the one line a refused request gets: Gradio's own
    (a value out of a component's range or type) as the refused queue join's detail (the
    values are read when the request joins, where the per-session gate's validator runs) or an
    error, the app's in the event's error box with the other outputs unchanged (``refusal``)."""
    import httpx
    from gradio_client.exceptions import AppError

    def check(needle: str | None, *args, api: str) -> str:
        try:
            message = refusal(client.predict(*args, api_name=api))
        except AppError as e:
            message = str(e)
        except httpx.HTTPStatusError as e:
            assert e.response.status_code == 400, e
            message = str(e.response.json()["detail"]).splitlines()[0]  # Gradio's own wording, first line
        assert "\n" not in message and "Traceback" not in message, message
        if needle is not None:
            assert needle in message, (api, args, message)
        return message

    return check


def _still_serving(client, n: int = 60) -> None:
    info = client.predict(n, 0, 8, 0, api_name="/explore")[0]
    assert f"**{n} seeds**" in info, info


def _upload(folder: Path) -> list:
    from gradio_client import handle_file

    return [handle_file(str(folder / "config.json")), handle_file(str(folder / "model.safetensors"))]


def test_app_refuses_bad_uploads_and_keeps_serving(client, refused, served, bad_checkpoints, tmp_path):
    from gradio_client import handle_file

    for name, (folder, needle) in bad_checkpoints.items():
        if name == "only-pickle":
            continue
        refused(needle, _upload(folder), "", *VIEW, api="/upload")
    pickle_file = bad_checkpoints["only-pickle"][0] / "pytorch_model.bin"
    refused("Invalid file type", [handle_file(str(pickle_file))], "", *VIEW, api="/upload")
    slip, bomb = tmp_path / "slip.zip", tmp_path / "bomb.zip"
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("../../evil/config.json", "{}")
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "0" * (UPLOAD_MB * 2**20 + 1))
    refused("unsafe path", [handle_file(str(slip))], "", *VIEW, api="/upload")
    refused("unpacks to more than", [handle_file(str(bomb))], "", *VIEW, api="/upload")
    assert not (Path(served[2]).parent / "evil").exists()
    _still_serving(client)


def test_app_refuses_oversized_uploads_on_the_server(client, served, tmp_path):
    import httpx

    big = os.urandom(UPLOAD_MB * 2**20 + 1)
    r = httpx.post(f"{served[1]}gradio_api/upload", files={"files": ("big.zip", big)}, timeout=60)
    assert r.status_code == 413, (r.status_code, r.text[:200])
    (tmp_path / "big.zip").write_bytes(big)
    from gradio_client import handle_file

    with pytest.raises(ValueError, match="maximum file size"):  # gradio_client checks before sending
        client.predict([handle_file(str(tmp_path / "big.zip"))], "", *VIEW, api_name="/upload")
    _still_serving(client)


@pytest.mark.parametrize("args, needle", [
    ((-1, 0, 8, 0), "minimum"), ((0, 0, 8, 0), "minimum"), ((10**12, 0, 8, 0), "maximum"),
    ((100, 0, 0, 0), "K must be between"), ((100, 0, -3, 0), "K must be between"), ((100, 0, 10**9, 0), "K must be between"),
    (("abc", 0, 8, 0), None), ((100, "nan", 8, 0), None), ((100, 0, "inf", 0), None),  # text: a type error, one line
])
def test_app_refuses_absurd_numbers_in_explore(client, refused, args, needle):
    refused(needle, *args, api="/explore")
    _still_serving(client)


def test_app_refuses_absurd_seed_indices_and_training_specs(client, refused, served):
    from dmdviz.experiments import jobs

    for index in (-1, 100, 10**20):
        refused("seed index must be between", *VIEW[:3], index, api="/seed_detail")
    spec = dict(preset="chessboard4d", dim=0, teacher_steps=10, student_steps=10, ratio=2, gan=0.0, init="teacher", name="")
    for change, needle in [({"teacher_steps": -1}, "teacher steps"), ({"teacher_steps": 0}, "teacher steps"),
                           ({"student_steps": 10**12}, "student steps"), ({"dim": -5}, "dimension"),
                           ({"dim": 10**6}, "dimension"), ({"ratio": 0}, "ratio"), ({"gan": -1.0}, "GAN weight"),
                           ({"gan": "inf"}, "GAN weight"), ({"gan": "nan"}, "GAN weight"),
                           ({"name": "../../etc"}, "not a run name"), ({"preset": "nope"}, "nope"),
                           ({"init": "zeros"}, "zeros"), ({"teacher_steps": "abc"}, None)]:
        refused(needle, *{**spec, **change}.values(), api="/train_start")
    assert jobs.list_runs(served[2] / "runs") == ["tiny"]  # nothing was started (the finished tiny run is the fixture's)
    refused("not a run name", "../x", api="/train_cancel")
    refused("no run named", "nope", api="/train_resume")
    _still_serving(client)


NOT_A_NAME = "is not a shipped checkpoint, a finished run"


@pytest.mark.parametrize("ref, needle", [
    ("nobody/nothing", "nobody/nothing"), ("nobody/nothing@v1", "nobody/nothing@v1"),
    ("not a ref!", NOT_A_NAME), ("../" * 12 + "etc", NOT_A_NAME),  # would climb to /etc from any working folder
    ("/etc/passwd", f"a folder path {NOT_A_NAME}"), ("/root", f"a folder path {NOT_A_NAME}"),
    ("x" * 300, NOT_A_NAME), ("y" * 5000, "at most 1024"),
])
def test_app_refuses_bad_repo_ids_offline(client, refused, ref, needle):
    refused(needle, ref, "", *VIEW, api="/load_ref")  # as the student
    refused(needle, "chessboard4d/student", ref, *VIEW, api="/load_ref")  # as its teacher
    _still_serving(client)


def test_app_refuses_a_missing_or_wrong_role_reference(client, refused):
    refused("empty", "", "", *VIEW, api="/load_ref")
    refused("is a teacher", "chessboard4d/teacher", "", *VIEW, api="/load_ref")
    refused("not a teacher", "chessboard4d/student", "chessboard4d/student", *VIEW, api="/load_ref")
    _still_serving(client)
