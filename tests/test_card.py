"""Model cards as the Hub reads them: base_model only for a real Hub id, the pipeline tag of
image checkpoints, the licence and the dmdviz version that wrote the checkpoint."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard

import dmdviz
from dmdviz import checkpoint


def _config(shape, teacher_ref=None, **extra) -> dict:
    cfg = {"role": "student" if teacher_ref is not None else "teacher", "data": {"name": "x"},
           "net": {"kind": "mlp", "shape": list(shape)}, "train": {}, **extra}
    if teacher_ref is not None:
        cfg["teacher"] = {"ref": teacher_ref, "revision": ""}
    return cfg


@pytest.mark.parametrize(("ref", "base"), [
    ("someone/cb-teacher", "someone/cb-teacher"),
    ("someone/cb-teacher@v1", "someone/cb-teacher"),  # base_model names a repo, not a revision
    ("moons/teacher", None),  # a shipped name reads like org/name but is no Hub model
    ("/tmp/runs/teacher", None),
    ("", None),
])
def test_base_model_only_for_a_hub_id(ref, base):
    assert ModelCard(checkpoint.card(_config([2], ref))).data.base_model == base


def test_a_local_folder_named_like_a_repo_id_is_not_a_base_model(tmp_path, monkeypatch):
    (tmp_path / "runs" / "teacher").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert ModelCard(checkpoint.card(_config([2], "runs/teacher"))).data.base_model is None


def test_pipeline_tag_licence_and_version():
    image = ModelCard(checkpoint.card(_config([1, 28, 28])))
    vector = ModelCard(checkpoint.card(_config([4])))
    assert image.data.pipeline_tag == "unconditional-image-generation" and vector.data.pipeline_tag is None
    assert image.data.license == vector.data.license == "mit"
    assert image.data.to_dict()["dmdviz_version"] == dmdviz.__version__
    old = ModelCard(checkpoint.card(_config([4], dmdviz_version="0.0.9")))  # a card names the writer's version
    assert old.data.to_dict()["dmdviz_version"] == "0.0.9" and "Written by dmdviz 0.0.9." in old.text


def test_make_config_records_the_version():
    from dmdviz.config import DataConfig, NetConfig

    cfg = checkpoint.make_config("teacher", DataConfig(), NetConfig(), {})
    assert cfg["dmdviz_version"] == dmdviz.__version__
    assert checkpoint.Checkpoint(None, cfg, None, "x").role == "teacher"  # the typed config still parses it
