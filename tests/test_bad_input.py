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
                        lambda self, repo, paths, revision=None: [RepoFile(path="model.safetensors", oid="0" * 40,
                                                                           size=checkpoint.max_bytes() + 1)])
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("downloaded anyway"))
    with pytest.raises(DmdvizError, match="big/model: model.safetensors is .* over the .* limit"):
        checkpoint.load_checkpoint("big/model@main")


# --------------------------------------------------------------------------- Hub downloads: planned, then bounded

PIPE_EXTRAS = {"v1-5-pruned.safetensors": 4 * 2**30, "unet/diffusion_pytorch_model.fp16.safetensors": 2**20,
               "text_encoder/model.safetensors": 500 * 2**20, "README.md": 150 * 2**20}  # listed, never needed
PIPE_NEEDS = {"unet/config.json", "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"}


def test_a_pipeline_repo_downloads_only_what_a_side_needs(tmp_path, monkeypatch):
    from fake_hub import OnlineHub, tiny_pipe

    from dmdviz.limits import Limits
    from dmdviz.models import diffusers_adapter, pairfile
    from dmdviz.web import sides

    hub = OnlineHub(monkeypatch, tmp_path, tiny_pipe(tmp_path / "pipe"), PIPE_EXTRAS)
    teacher = diffusers_adapter.teacher("org/pipe")  # the command line: the adapter's own plan
    assert set(hub.fetched) == PIPE_NEEDS and teacher.shape == (2, 8, 8)
    hub.fetched.clear()
    spec = pairfile.parse({"teacher": {"ref": "org/pipe", "adapter": "diffusers"},
                           "student": {"ref": "org/pipe", "adapter": "diffusers", "args": {"timestep": 999}}}, tmp_path)
    spec = sides.fetched(spec, False, Limits.from_env())  # the web app: configs first, then one folder's weights
    assert set(hub.fetched) == PIPE_NEEDS and spec.teacher.args["subfolder"] == "unet"
    assert diffusers_adapter.teacher(spec.teacher.ref, spec.teacher.args).shape == (2, 8, 8)


@pytest.mark.parametrize("claimed, env, needle", [
    ({"unet/diffusion_pytorch_model.safetensors": 20 * 2**30}, {},
     "unet/diffusion_pytorch_model.safetensors is 20,480 MB, over the 1,024 MB limit (DMDVIZ_MAX_MODEL_MB)"),
    ({"unet/config.json": 30 * 2**20}, {}, "unet/config.json is 30 MB, over the 1 MB limit"),
    ({}, {"DMDVIZ_MAX_DOWNLOAD_MB": "0"}, "over the 0 MB download limit (DMDVIZ_MAX_DOWNLOAD_MB)"),
])
def test_an_oversized_pipeline_repo_is_refused_before_any_byte(tmp_path, monkeypatch, claimed, env, needle):
    from fake_hub import OnlineHub, tiny_pipe

    from dmdviz.models import diffusers_adapter

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    hub = OnlineHub(monkeypatch, tmp_path, tiny_pipe(tmp_path / "pipe"), claimed)
    with pytest.raises(DmdvizError, match="^org/pipe: ") as e:
        diffusers_adapter.teacher("org/pipe")
    assert needle in str(e.value) and hub.fetched == []


def test_a_dmdviz_repo_and_a_pair_file_are_sized_before_download(tiny_pair, tmp_path, monkeypatch):
    from fake_hub import OnlineHub

    from dmdviz.models import pairfile

    hub = OnlineHub(monkeypatch, tmp_path, tiny_pair[0], {"README.md": 150 * 2**20, "pair.json": 30 * 2**20})
    with pytest.raises(DmdvizError, match="README.md is 150 MB, over the 1 MB limit"):
        checkpoint.load_checkpoint("org/ckpt")
    with pytest.raises(DmdvizError, match="pair.json is 30 MB, over the 0.06 MB limit"):
        pairfile.fetch("org/pair")
    assert hub.fetched == []


def test_hub_prompts_beside_a_pair_file_are_fetched_and_read(tiny_pair, tmp_path, monkeypatch):
    """The cached prompts file is a link into the cache's blobs/: a path inside the pair
    file's folder by name, and read as such."""
    from safetensors.torch import save_file

    from dmdviz.models import pairfile

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pair.json").write_text(json.dumps({"teacher": "a/b", "student": "a/c",
                                                "conditioning": {"prompts": "embeds/p.safetensors"}}))
    (repo / "embeds").mkdir()
    save_file({"prompt_embeds": torch.zeros(2, 3, 4)}, str(repo / "embeds" / "p.safetensors"))
    import huggingface_hub.constants

    cache = tmp_path / "hub" / "models--org--pair"
    sha = "f" * 40
    (cache / "refs").mkdir(parents=True)
    (cache / "refs" / "main").write_text(sha)
    (cache / "blobs").mkdir()
    for name in ("pair.json", "embeds/p.safetensors"):  # as the Hub cache lays them out: links into blobs/
        blob, link = cache / "blobs" / name.replace("/", "-"), cache / "snapshots" / sha / name
        shutil.copyfile(repo / name, blob)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    path = pairfile.fetch("org/pair")
    assert pairfile.read(path).prompts.is_file()


# --------------------------------------------------------------------------- one budget before any work


@pytest.mark.parametrize("config, shape, needle", [
    ({"sample_size": 2048}, None, "sample shape [2, 2048, 2048] holds 8,388,608 numbers per sample, over the 1,048,576"),
    ({}, [2, 10**9, 10**9], "args.shape [2, 1000000000, 1000000000] holds ~10^18 numbers per sample"),
    ({}, [2, float("nan"), 8], "args.shape [2, nan, 8] must be 1 to 4 positive integers"),
    ({}, "big", "args.shape 'big' must be 1 to 4 positive integers"),
    ({"block_out_channels": [8, 2**19]}, None, "config.json describes a 111,149,950 MB network, over the 1,024 MB limit"),
    ({"layers_per_block": 10**7}, None, "layers_per_block = 10000000 is out of range (at most 64)"),
    ({"layers_per_block": 2}, None, "its weights lack 44 of the tensors its config.json describes"),
    ({"norm_num_groups": 3}, None, "config.json does not build a UNet2DModel"),
])
def test_a_diffusers_model_is_budgeted_before_it_is_built(tmp_path, monkeypatch, config, shape, needle):
    from fake_hub import tiny_pipe

    from dmdviz.models import diffusers_adapter

    built = []
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: built.append(self) or self)
    root = tiny_pipe(tmp_path / "pipe", **config)
    with pytest.raises(DmdvizError) as e:
        diffusers_adapter.teacher(str(root), {"shape": shape} if shape is not None else {})
    assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert not built  # refused before from_pretrained


def test_weights_with_the_old_attention_names_pass_the_strict_key_check(tmp_path):
    from fake_hub import tiny_pipe
    from safetensors.torch import load_file

    from dmdviz.models import diffusers_adapter

    root = tiny_pipe(tmp_path / "pipe")
    path = root / "unet" / "diffusion_pytorch_model.safetensors"
    old = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    state = load_file(str(path))
    renamed = {next((k.replace(f".{a}.", f".{b}.") for a, b in old.items() if f"attentions.0.{a}." in k), k): v
               for k, v in state.items()}
    assert renamed.keys() != state.keys()  # the mid-block attention is there to rename
    save_file(renamed, str(path))
    z = torch.randn(2, 2, 8, 8)
    assert torch.isfinite(diffusers_adapter.teacher(str(root)).phi(z, 2)).all()  # diffusers renames them on load


def test_public_mode_bounds_samples_and_bad_prompts_are_one_line(tmp_path, monkeypatch, capsys):
    from fake_hub import tiny_pipe

    from dmdviz.models import budget, diffusers_adapter

    root = tiny_pipe(tmp_path / "pipe")
    monkeypatch.setenv("DMDVIZ_PUBLIC", "1")
    with pytest.raises(DmdvizError, match=r"holds 32,768 numbers per sample, over the 16,384 limit"):
        diffusers_adapter.teacher(str(root), {"shape": [2, 128, 128]})
    with pytest.raises(DmdvizError, match="take 128 MB, over the 64 MB limit"):
        budget.check_samples((2, 64, 64), 4096)
    (tmp_path / "p.safetensors").write_bytes(os.urandom(64))
    with pytest.raises(DmdvizError, match="p.safetensors is not a valid safetensors file"):
        diffusers_adapter.teacher(str(root), prompts=tmp_path / "p.safetensors")
    pair = {"teacher": {"ref": str(root), "adapter": "diffusers", "args": {"shape": [2, 10**9, 10**9]}},
            "student": {"ref": str(root), "adapter": "diffusers", "args": {"timestep": 999}}}
    line = _main(capsys, "analyze", "--pair", _write_json(tmp_path / "p.json", pair), "--n", 16)
    assert "holds ~10^18 numbers per sample" in line
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 30_000 + "]" * 30_000)
    assert "not valid JSON" in _main(capsys, "analyze", "--pair", deep, "--n", 16)
    assert "--n" in _main(capsys, "analyze", "--pair", deep, "--n", 4)  # the bootstrap needs 5 seeds


def _write_json(path: Path, value) -> Path:
    path.write_text(json.dumps(value))
    return path


def test_a_failed_job_start_leaves_no_folder(tmp_path, monkeypatch):
    import errno

    from dmdviz.experiments import jobs, launcher

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(launcher, "launch", full)
    with pytest.raises(DmdvizError, match="run r1 could not be started \\(No space left on device\\)"):
        jobs.start(jobs.JobSpec(teacher_steps=2, student_steps=2), "r1", root=tmp_path)
    assert not (tmp_path / "r1").exists()


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
    ((-1, 0, 8, 0), "minimum"), ((0, 0, 8, 0), "minimum"), ((4, 0, 8, 0), "minimum"), ((10**12, 0, 8, 0), "maximum"),
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
