"""Pair files and `analyze --pair`: native, entry point, one-line errors, torchrun sharding."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dmdviz import checkpoint
from dmdviz.errors import DmdvizError
from dmdviz.models import pairfile

ROOT = Path(__file__).resolve().parent.parent
PAIRING = ("copy_ratio", "ot_agreement", "nn_agreement", "diag_contrast", "ot_agreement_init", "nn_agreement_init")


def run(*args, cache, launcher=("-m",)):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DMDVIZ_THREADS": "1", "OMP_NUM_THREADS": "1",
           "DMDVIZ_CACHE_DIR": str(cache), "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    return subprocess.run([sys.executable, *launcher, "dmdviz", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def _write(path, pair):
    path.write_text(json.dumps(pair))
    return path


def _pair(tiny_pair, t_adapter="dmdviz", s_adapter="dmdviz"):
    refs = {"dmdviz": (str(tiny_pair[0]), str(tiny_pair[1])),
            "entrypoint": ("entry_pair:teacher", "entry_pair:student")}
    side = lambda adapter, i: {"ref": refs[adapter][i], "adapter": adapter,  # noqa: E731
                               "args": {"ref": str(tiny_pair[i])} if adapter == "entrypoint" else {}}
    return {"teacher": side(t_adapter, 0), "student": side(s_adapter, 1), "k": [8]}


def _metrics(r):
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_a_pair_file_and_an_entry_point_give_the_native_metrics(tiny_pair, tmp_path):
    native = _metrics(run("analyze", "--teacher", tiny_pair[0], "--student", tiny_pair[1], "--n", 200, "--no-cache",
                          cache=tmp_path / "c"))
    by_file = _metrics(run("analyze", "--pair", _write(tmp_path / "p.json", _pair(tiny_pair)), "--n", 200,
                           cache=tmp_path / "c"))
    entry = _metrics(run("analyze", "--pair", _write(tmp_path / "e.json", _pair(tiny_pair, "entrypoint", "entrypoint")),
                         "--n", 200, cache=tmp_path / "c"))
    assert entry["teacher"] == f"entry:{tiny_pair[0]}" and entry["dataset"] is None
    for key in PAIRING:
        assert by_file[key] == native[key] == entry[key], key
    assert by_file["dataset"] == "chessboard" and by_file["k"] == 8


def test_shipped_pair_files_parse_in_json_and_toml():
    mnist = pairfile.read(ROOT / "checkpoints" / "pairs" / "mnist-unet.json")
    board = pairfile.read(ROOT / "checkpoints" / "pairs" / "chessboard4d.toml")
    assert mnist.teacher.ref == "mnist-unet/teacher-8192" and mnist.ks == (8, 32)
    assert board.student.ref == "chessboard4d/student" and board.ks == (8,)
    teacher, student = pairfile.build(board, checkpoint.load_checkpoint)
    assert teacher.shape == student.shape == (4,)


@pytest.mark.parametrize("change, needle", [
    (lambda p: p["student"].update(adapter="onnx"), "unknown adapter 'onnx'"),
    (lambda p: p["student"].update(ref="mnist-unet/student-8192"), "shape mismatch"),
    (lambda p: p.update(space="pixels"), "a vae go together"),
    (lambda p: p.update(space="latent"), "space must be"),
    (lambda p: p["teacher"].update(ref="json:dumps", adapter="entrypoint", args={"obj": 1}), "not a protocol teacher"),
    (lambda p: p["teacher"].update(ref="json:dumps", adapter="entrypoint", args={}), "entry point json:dumps failed"),
])
def test_bad_pair_files_end_in_one_line(tiny_pair, tmp_path, change, needle):
    pair = _pair(tiny_pair)
    change(pair)
    r = run("analyze", "--pair", _write(tmp_path / "bad.json", pair), "--n", 20, cache=tmp_path / "c")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and needle in r.stderr, r.stderr


def test_a_bin_only_diffusers_folder_in_a_pair_file_is_one_line(tiny_pair, tmp_path):
    unet = tmp_path / "pipe" / "unet"
    unet.mkdir(parents=True)
    (unet / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel", "in_channels": 1, "sample_size": 8}))
    (unet / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04junk")
    pair = _pair(tiny_pair)
    pair["teacher"] = {"ref": "pipe", "adapter": "diffusers"}
    r = run("analyze", "--pair", _write(tmp_path / "bin.json", pair), cache=tmp_path / "c")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "pickle files are never loaded" in r.stderr, r.stderr


def test_the_web_app_never_builds_an_entry_point(tiny_pair, tmp_path):
    spec = pairfile.read(_write(tmp_path / "e.json", _pair(tiny_pair, "dmdviz", "entrypoint")))
    with pytest.raises(DmdvizError, match="never in the web app"):
        pairfile.build(spec, checkpoint.load_checkpoint, allow_code=False)


def test_torchrun_two_cpu_ranks_equal_one_process_bit_for_bit(tiny_pair, tmp_path):
    # 300 seeds: two cache blocks of 256, one a rank
    args = ("analyze", "--teacher", tiny_pair[0], "--student", tiny_pair[1], "--num-seeds", 300, "--device", "cpu")
    one = _metrics(run(*args, cache=tmp_path / "one"))
    torchrun = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m")
    two = run(*args, cache=tmp_path / "two", launcher=torchrun)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count('"notes"') == 1  # rank 0 alone reports
    assert _metrics(two) == one
    blocks = sorted(p.name for p in (tmp_path / "two").glob("*/block-*.safetensors"))
    assert blocks == sorted(p.name for p in (tmp_path / "one").glob("*/block-*.safetensors"))
