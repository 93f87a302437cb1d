"""Checkpoint folders: bit-exact round trip, refusals, and the offline Hub cache path."""

import json
import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from dmdviz import checkpoint
from dmdviz.errors import DmdvizError


def test_round_trip_is_bit_exact(tiny_pair, tmp_path):
    teacher = checkpoint.load_checkpoint(str(tiny_pair[0]))
    checkpoint.save_checkpoint(tmp_path / "copy", teacher.model, teacher.config)
    again = checkpoint.load_checkpoint(str(tmp_path / "copy"))
    for (k, a), (k2, b) in zip(teacher.model.state_dict().items(), again.model.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert again.config == teacher.config
    assert (tmp_path / "copy" / "README.md").read_text().startswith("---")


def test_student_records_its_teacher(tiny_pair):
    student = checkpoint.load_checkpoint(str(tiny_pair[1]))
    assert student.role == "student"
    assert Path(student.config["teacher"]["ref"]) == tiny_pair[0].resolve()
    assert "ot_agreement" in student.config["metrics"]


class Boom:
    """Unpickling this writes a marker file: proof that a pickle was executed."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "executed"))


@pytest.mark.parametrize("name", ["model.bin", "model.pt", "model.safetensors"])
def test_pickles_are_refused_and_never_executed(tiny_pair, tmp_path, name):
    folder = tmp_path / "evil"
    folder.mkdir()
    shutil.copy(tiny_pair[0] / "config.json", folder / "config.json")
    marker = tmp_path / "marker"
    (folder / name).write_bytes(pickle.dumps({"w": Boom(marker)}))
    with pytest.raises(DmdvizError) as e:
        checkpoint.load_checkpoint(str(folder))
    assert "\n" not in str(e.value)
    assert ("pickle" in str(e.value)) or ("not a valid safetensors" in str(e.value))
    assert not marker.exists()
    with pytest.raises(DmdvizError, match="pickle" if name != "model.safetensors" else "is a file"):
        checkpoint.load_checkpoint(str(folder / name))
    assert not marker.exists()


def _copy(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("state.safetensors", "metrics.jsonl", "snapshots"))
    return dst


def test_shape_mismatch_is_refused(tiny_pair, tmp_path):
    folder = _copy(tiny_pair[0], tmp_path / "bad")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["net"]["hidden"] = 32
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(DmdvizError, match="shape mismatch"):
        checkpoint.load_checkpoint(str(folder))


def test_wrong_dtype_missing_keys_and_truncation_are_refused(tiny_pair, tmp_path):
    teacher = checkpoint.load_checkpoint(str(tiny_pair[0]))
    state = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    folder = _copy(tiny_pair[0], tmp_path / "dtype")
    save_file({**state, "inp.weight": state["inp.weight"].long()}, str(folder / "model.safetensors"))
    with pytest.raises(DmdvizError, match="dtype"):
        checkpoint.load_checkpoint(str(folder))
    state.pop("inp.bias")
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(DmdvizError, match="missing"):
        checkpoint.load_checkpoint(str(folder))
    folder = _copy(tiny_pair[0], tmp_path / "trunc")
    raw = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DmdvizError, match="not a valid safetensors file"):
        checkpoint.load_checkpoint(str(folder))


def test_unknown_reference_offline(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(DmdvizError, match="nobody/nothing") as e:
        checkpoint.load_checkpoint("nobody/nothing@main")
    assert "\n" not in str(e.value)
    with pytest.raises(DmdvizError, match="neither a folder"):
        checkpoint.load_checkpoint("not a ref!")


def fake_hub_cache(cache: Path, repo: str, folder: Path, sha: str = "a" * 40) -> None:
    """Lay a checkpoint folder out as the Hugging Face cache stores a downloaded repo."""
    org, name = repo.split("/")
    root = cache / f"models--{org}--{name}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(sha)
    snap = root / "snapshots" / sha
    snap.mkdir(parents=True)
    for f in ("config.json", "model.safetensors", "README.md"):
        shutil.copy(folder / f, snap / f)


def test_pair_loads_by_repo_id_from_an_offline_cache(tiny_pair, monkeypatch, tmp_path):
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    fake_hub_cache(cache, "dmdviz-test/cb-teacher", tiny_pair[0])
    fake_hub_cache(cache, "dmdviz-test/cb-student", tiny_pair[1], sha="b" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    teacher = checkpoint.load_checkpoint("dmdviz-test/cb-teacher")
    student = checkpoint.load_checkpoint("dmdviz-test/cb-student@main")
    assert teacher.ref == "dmdviz-test/cb-teacher" and teacher.revision == "a" * 40
    assert student.revision == "main"
    local = checkpoint.load_checkpoint(str(tiny_pair[0]))
    for a, b in zip(teacher.model.parameters(), local.model.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(DmdvizError, match="revision|offline|cache"):
        checkpoint.load_checkpoint("dmdviz-test/cb-teacher@v9")


def test_model_cards_are_hub_model_cards_and_a_student_names_its_hub_teacher(tiny_pair):
    from huggingface_hub import ModelCard

    student = checkpoint.read_config(tiny_pair[1])
    on_hub = ModelCard(checkpoint.card(dict(student, teacher={"ref": "someone/cb-teacher", "revision": ""})))
    assert on_hub.data.base_model == "someone/cb-teacher" and on_hub.data.library_name == "dmdviz"
    assert "Distilled from teacher `someone/cb-teacher`" in on_hub.text
    local = ModelCard(checkpoint.card(student))  # a teacher folder on this machine is no Hub model to link
    assert local.data.base_model is None and "dmdviz" in local.data.tags
    assert ModelCard((tiny_pair[0] / "README.md").read_text()).data.base_model is None


def test_config_sizes_are_bounded_on_the_meta_device(tiny_pair):
    from dmdviz.limits import Limits

    config = checkpoint.read_config(tiny_pair[0])
    skeleton = checkpoint.check_size(config)
    assert all(p.is_meta for p in skeleton.parameters())
    size = sum(p.numel() * 4 for p in skeleton.parameters())
    small = replace(Limits.from_env(), max_model_mb=0)
    with pytest.raises(DmdvizError, match=f"network of {size / 2**20:,.0f} MB, over the 0 MB limit"):
        checkpoint.check_size(config, small)
    for net, needle in [({"hidden": True}, "net.hidden"), ({"shape": "4"}, "net.shape"), ({"shape": [2, 2, 2, 2]}, "1 to 3"),
                        ({"channels": [10**6]}, "net.channels"), ({"time_dim": 0}, "net.time_dim")]:
        with pytest.raises(DmdvizError, match=needle):
            checkpoint.check_size(dict(config, net={**config["net"], **net}))
    with pytest.raises(DmdvizError, match="data.dim"):
        checkpoint.check_size(dict(config, data={**config["data"], "dim": 10**9}))


def test_is_shipped_agrees_with_the_walk_and_refuses_what_it_leaves_out(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    for name in ("fam/student", "fam/teacher", ".hidden/student", "fam/.cache/student"):
        (root / name).mkdir(parents=True)
        (root / name / "config.json").write_text("{}")
    (root / "fam" / "empty").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "config.json").write_text("{}")
    (root / "link").symlink_to(tmp_path / "outside")
    monkeypatch.setenv("DMDVIZ_CHECKPOINTS", str(root))
    assert checkpoint.shipped_names() == ["fam/student", "fam/teacher"]
    assert all(checkpoint.is_shipped(name) for name in checkpoint.shipped_names())
    for ref in (".hidden/student", "fam/.cache/student", "fam/empty", "fam", "fam/../fam/student", "fam//student",
                "/fam/student", "link", "fam\\student", "", "missing", "x" * 300, "fam/" + "y" * 5000):
        assert not checkpoint.is_shipped(ref), ref
