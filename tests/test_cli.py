"""The CLI contract: the teacher -> student -> analyze chain and one-line errors (exit 2)."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import dmdviz

ROOT = Path(__file__).resolve().parent.parent


def run(*args, env=None):
    e = {**os.environ, "HF_HUB_OFFLINE": "1", "DMDVIZ_THREADS": "1", **(env or {})}
    e.pop("DMDVIZ_DATA_DIR", None) if env and env.get("DMDVIZ_DATA_DIR") == "" else None
    return subprocess.run([sys.executable, "-m", "dmdviz", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=e, timeout=600)


def test_teacher_student_analyze_chain(tmp_path):
    r = run("train-teacher", "--preset", "chessboard4d", "--out", tmp_path / "t", "--steps", 150, "--batch", 128)
    assert r.returncode == 0, r.stderr
    r = run("distill", "--teacher", tmp_path / "t", "--out", tmp_path / "s", "--steps", 10, "--batch", 32,
            "--probe-every", 5, "--probe-n", 16)
    assert r.returncode == 0, r.stderr
    r = run("analyze", "--teacher", tmp_path / "t", "--student", tmp_path / "s", "--n", 64, "--json", tmp_path / "m.json")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert {"n", "k", "dataset", "dim", "copy_ratio", "ot_agreement", "nn_agreement", "diag_contrast"} <= set(m)
    assert m["n"] == 64 and m["k"] == 8 and m["dataset"] == "chessboard" and m["dim"] == 4
    assert 0 <= m["ot_agreement"] <= 1
    assert m["dmdviz_version"] == dmdviz.__version__  # the version that wrote the numbers
    assert json.loads((tmp_path / "s" / "config.json").read_text())["dmdviz_version"] == dmdviz.__version__
    assert f"dmdviz_version: {dmdviz.__version__}" in (tmp_path / "s" / "README.md").read_text()


def test_a_pair_in_one_process_is_the_two_command_chain(tmp_path):
    """``train-teacher --student`` distils the preset's student in the same process: the same
    weights as ``train-teacher`` then ``distill`` (every stage seeds its own generators)."""
    from safetensors.torch import load_file

    teacher = ("train-teacher", "--preset", "chessboard4d", "--steps", 60, "--batch", 64)
    r = run(*teacher, "--out", tmp_path / "one" / "t", "--student", tmp_path / "one" / "s", "--student-steps", 6)
    assert r.returncode == 0, r.stderr
    assert "teacher written to" in r.stdout and "student written to" in r.stdout
    assert run(*teacher, "--out", tmp_path / "two" / "t").returncode == 0
    r = run("distill", "--teacher", tmp_path / "two" / "t", "--out", tmp_path / "two" / "s", "--steps", 6)
    assert r.returncode == 0, r.stderr
    for role in ("t", "s"):
        one, two = (load_file(tmp_path / w / role / "model.safetensors") for w in ("one", "two"))
        assert one.keys() == two.keys() and all((one[k] == two[k]).all() for k in one), role
    assert json.loads((tmp_path / "one" / "s" / "config.json").read_text())["train"]["steps"] == 6
    _assert_one_line_error(run(*teacher, "--out", tmp_path / "x", "--student", tmp_path / "x"), "another folder")
    _assert_one_line_error(run(*teacher, "--out", tmp_path / "y", "--student-steps", 5), "needs --student")


def _assert_one_line_error(r, needle):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_preset(tmp_path):
    _assert_one_line_error(run("train-teacher", "--preset", "nope", "--out", tmp_path / "x"), "unknown preset")


def test_missing_mnist_folder(tmp_path):
    r = run("train-teacher", "--preset", "mnist-mlp", "--out", tmp_path / "x", "--data-dir", tmp_path / "none",
            env={"HF_HOME": str(tmp_path / "hf"), "DMDVIZ_DATA_DIR": ""})
    _assert_one_line_error(r, "MNIST not found")


def test_shipped_mnist_pair_gets_every_training_set_metric_offline_with_no_data_folder(tmp_path):
    r = run("analyze", "--teacher", "mnist/teacher-8192", "--student", "mnist/student-8192", "--n", 64,
            "--json", tmp_path / "m.json", env={"HF_HOME": str(tmp_path / "hf"), "DMDVIZ_DATA_DIR": ""})
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["notes"] == [] and 1.0 <= m["memorization_median"] < 3.0 and -1 <= m["boundary_corr"] <= 1
    assert 0 < m["swd_floor"] < m["swd_g"] < 1 and m["swd_phi_8"] > 0


def test_bad_numbers_and_refs(tmp_path, tiny_pair):
    _assert_one_line_error(run("distill", "--teacher", tiny_pair[0], "--out", tmp_path / "x", "--steps", "abc"), "invalid int")
    _assert_one_line_error(run("distill", "--teacher", tiny_pair[0], "--out", tmp_path / "x", "--steps", "-5"), "steps")
    _assert_one_line_error(run("distill", "--teacher", tiny_pair[0], "--out", tmp_path / "x", "--ratio", "0"), "ratio")
    _assert_one_line_error(run("analyze", "--teacher", "nobody/nothing", "--student", tiny_pair[1]), "nobody/nothing")
    _assert_one_line_error(run("analyze", "--teacher", tiny_pair[0], "--student", tiny_pair[1], "--n", "10000000"), "seeds")
    _assert_one_line_error(run("analyze", "--teacher", tiny_pair[1], "--student", tiny_pair[0]), "not a teacher")
    _assert_one_line_error(run("distill", "--teacher", tiny_pair[1], "--out", tmp_path / "x"), "not a teacher")


def test_pickle_checkpoint(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps({"a": 1}))
    _assert_one_line_error(run("analyze", "--teacher", tmp_path / "pytorch_model.bin", "--student", tmp_path), "pickle")




def test_distill_gan_options_give_dmd2_weights_and_refuse_a_mix(tmp_path, tiny_pair):
    from dmdviz.cli import main

    base = ["distill", "--teacher", str(tiny_pair[0]), "--steps", "2", "--batch", "8", "--probe-n", "8"]
    assert main(base + ["--out", str(tmp_path / "a"), "--gan", "--gan-weight-d", "0.05"]) == 0
    train = json.loads((tmp_path / "a" / "config.json").read_text())["train"]
    assert (train["gan_weight_g"], train["gan_weight_d"], train["gan_weight"]) == (3e-3, 0.05, 0.0)
    assert main(base + ["--out", str(tmp_path / "b"), "--gan-weight", "0.1", "--gan-weight-g", "0.01"]) == 2
