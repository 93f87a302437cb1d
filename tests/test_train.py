"""Training loops: resume after an interruption is exact; the copying meter is logged."""

import json
from dataclasses import replace

import pytest
import torch

from dmdviz import checkpoint, settings
from dmdviz.config import get_preset
from dmdviz.files import read_metrics
from dmdviz.training import distill, train_teacher
from dmdviz.training.runtime import Runtime

P = get_preset("moons")
NET = replace(P.net, hidden=32, depth=2)


def _stopper(at):
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] == at

    return should_stop


def _weights(folder):
    return checkpoint.load_checkpoint(str(folder)).model.state_dict()


def test_teacher_resume_equals_an_uninterrupted_run(tmp_path):
    cfg = replace(P.teacher, steps=60, batch=64, log_every=10, snapshots=(30,))
    rt = Runtime.create("cpu")
    train_teacher(P.data, NET, cfg, tmp_path / "a", rt=rt)
    train_teacher(P.data, NET, cfg, tmp_path / "b", rt=rt, should_stop=_stopper(25))
    assert not (tmp_path / "b" / "model.safetensors").exists()
    train_teacher(P.data, NET, cfg, tmp_path / "b", rt=rt, resume=True)
    for (k, a), (_, b) in zip(_weights(tmp_path / "a").items(), _weights(tmp_path / "b").items()):
        assert torch.equal(a, b), k
    ma, mb = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert [m["step"] for m in mb] == [10, 20, 25, 30, 40, 50, 60]
    assert [m["fm_loss"] for m in ma if m["step"] in (40, 50, 60)] == [m["fm_loss"] for m in mb if m["step"] in (40, 50, 60)]
    snap = checkpoint.load_checkpoint(str(tmp_path / "a" / "snapshots" / "step-000030"))
    assert snap.config["train"]["step"] == 30


def test_distill_logs_every_iteration_and_resumes_exactly(tmp_path, tiny_pair):
    teacher = checkpoint.load_checkpoint(str(tiny_pair[0]))
    cfg = replace(get_preset("chessboard4d").distill, steps=20, batch=32, probe_every=10, probe_n=16, ratio=2)
    rt = Runtime.create("cpu")
    distill(teacher, cfg, tmp_path / "a", rt=rt, state_every=5)
    distill(teacher, cfg, tmp_path / "b", rt=rt, state_every=5, should_stop=_stopper(13))
    distill(teacher, cfg, tmp_path / "b", rt=rt, state_every=5, resume=True)
    ma, mb = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert [m["step"] for m in ma] == list(range(21))
    assert [m["step"] for m in mb] == list(range(21))
    assert {"dm_loss", "dm_numerator", "dm_normaliser", "critic_loss"} <= set(ma[2])
    assert "dm_loss" not in ma[1] and "critic_loss" in ma[1]
    assert {"ot_agreement", "copy_ratio", "ot_agreement_init"} <= set(ma[0]) and "ot_agreement" in ma[10]
    assert ma[0]["copy_ratio"] == 1.0
    for a, b in zip(ma[14:], mb[14:]):
        assert a["critic_loss"] == b["critic_loss"]
    for (k, a), (_, b) in zip(_weights(tmp_path / "a").items(), _weights(tmp_path / "b").items()):
        assert torch.equal(a, b), k
    student = checkpoint.load_checkpoint(str(tmp_path / "a"))
    assert student.config["teacher"]["ref"] == teacher.ref
    assert json.loads((tmp_path / "a" / "run.json").read_text())["role"] == "student"


def test_gan_and_regression_terms_are_logged(tmp_path, tiny_pair):
    teacher = checkpoint.load_checkpoint(str(tiny_pair[0]))
    cfg = replace(get_preset("chessboard4d").distill, steps=4, batch=16, ratio=1, probe_every=4, probe_n=8,
                  gan_weight=0.1, regression_weight=1.0, regression_pairs=8)
    distill(teacher, cfg, tmp_path / "s", rt=Runtime.create("cpu"))
    last = read_metrics(tmp_path / "s")[-1]
    assert {"gan_d_loss", "gan_g_loss", "regression_loss"} <= set(last)


def test_random_init_differs_from_phi_1_and_rotation_starts_at_phi_1_of_its_noise(tmp_path, tiny_pair):
    """A random-init student starts away from Φ_1; a noise-rotated one starts at Φ_1(R z),
    and its meter scores it against Φ_K(R z), so at step 0 it reads exactly its start."""
    teacher = checkpoint.load_checkpoint(str(tiny_pair[0]))
    for name, kw in (("random", {"init": "random"}), ("rot", {"noise_rotation": True})):
        cfg = replace(get_preset("chessboard4d").distill, steps=2, batch=8, probe_every=2, probe_n=8, **kw)
        distill(teacher, cfg, tmp_path / name, rt=Runtime.create("cpu"))
        m = read_metrics(tmp_path / name)[0]
        if name == "random":
            assert m["copy_ratio"] != 1.0
        else:
            assert m["copy_ratio"] == pytest.approx(1.0) and m["nn_agreement"] == m["nn_agreement_init"]
        checkpoint.load_checkpoint(str(tmp_path / name))


def test_gan_weights_for_g_and_d_are_separate_and_old_configs_keep_one():
    from dmdviz.config import GAN_WEIGHT_D, GAN_WEIGHT_G, DistillConfig, from_dict

    assert DistillConfig().gan_weights == (0.0, 0.0)
    assert DistillConfig(gan_weight_g=GAN_WEIGHT_G, gan_weight_d=GAN_WEIGHT_D).gan_weights == (3e-3, 1e-2)
    old = json.load(open(settings.shipped_root() / "mnist" / "student-8192-gan" / "config.json"))["train"]
    fields = {k: v for k, v in old.items() if k in DistillConfig.__dataclass_fields__}
    assert from_dict(DistillConfig, fields).gan_weights == (0.1, 0.1)  # the single λ of before the split
