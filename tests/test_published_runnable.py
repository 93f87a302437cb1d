"""The shipped runnable pipeline pair (checkpoints/pairs/digits-ddim.toml, trained by
benchmarks/digits_pipeline.py) and the app's pair-file list: the pair opens offline through the
pipeline adapter, its teacher's Φ_K equals the model-level adapter's DDIM in dmdviz
coordinates, ``analyze`` runs on it, and the published recipes are offered only where the
server can run them."""

import json
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")

from dmdviz import checkpoint
from dmdviz.models import diffusers_adapter, pairfile

PAIRS = Path(__file__).resolve().parent.parent / "checkpoints" / "pairs"
PAIR = PAIRS / "digits-ddim.toml"


def test_the_runnable_pair_is_small_and_its_teacher_is_the_model_level_ddim():
    size = sum(p.stat().st_size for p in (PAIRS / "digits-ddim").rglob("*") if p.is_file())
    assert size < 3_000_000
    teacher, student = pairfile.build(pairfile.read(PAIR), open_checkpoint=None)
    assert teacher.shape == student.shape == (1, 8, 8) and teacher.n_classes == 0
    z = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    model_level = diffusers_adapter.teacher(str(PAIRS / "digits-ddim" / "teacher"))
    with torch.no_grad():
        for k in (1, 8):
            assert torch.allclose(teacher.phi(z, k), model_level.phi(z, k), atol=1e-4)
        assert torch.allclose(teacher.times(8), model_level.times(8), atol=1e-6)
        # the drill-down: the pipeline's own states (read in dmdviz's loop) in dmdviz coordinates
        assert torch.allclose(teacher.phi(z, 8, trajectory=True), model_level.phi(z, 8, trajectory=True), atol=1e-4)
        g = student(z)
    assert torch.isfinite(g).all() and not torch.allclose(g, teacher.phi(z, 1), atol=1e-2)  # trained away from θ


def test_analyze_runs_on_the_runnable_pair(tmp_path, capsys):
    from dmdviz.cli.main import main

    out = tmp_path / "a.json"
    code = main(["analyze", "--pair", str(PAIR), "--n", "24", "--k", "8", "--json", str(out), "--no-cache",
                 "--threads", "1", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["n"] == 24 and report["dim"] == 64 and 0 <= report["ot_agreement"] <= 1 and report["copy_ratio"] > 0
    assert report["teacher"].startswith("pipeline:") and report["student"].startswith("pipeline:")
    assert report["teacher"] != report["student"]  # the student's state dict is in its identity


def test_no_shipped_name_comes_from_the_pairs_folder():
    """The diffusers folders under pairs/ hold config.json files; they are not dmdviz checkpoints."""
    names = checkpoint.shipped_names()
    assert names and not any(n.startswith("pairs/") for n in names)
    assert not checkpoint.is_shipped("pairs/digits-ddim/teacher/unet")


def test_published_recipes_are_offered_only_where_the_server_runs_them(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from dmdviz.training import runtime
    from dmdviz.web import catalog

    (tmp_path / "pairs" / "published").mkdir(parents=True)
    for name in ("sd-turbo.toml", "dmd2-sdxl-1step.toml"):
        shutil.copy(PAIRS / "published" / name, tmp_path / "pairs" / "published" / name)
    monkeypatch.setenv("DMDVIZ_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("DMDVIZ_DEVICE", "cpu")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    offered, note = catalog.published()
    assert offered == [] and catalog.shipped_pair_files() == []
    assert note == ("2 published-student recipes (docs/published.md) need the Hugging Face Hub (offline here) "
                    "and a GPU (this app runs on cpu)")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(runtime, "pick_device", lambda name=None: torch.device("cuda"))
    (tmp_path / "pairs" / "published" / "prompts-sd21.safetensors").write_bytes(b"")
    offered, note = catalog.published()
    assert offered == [("sd-turbo (published recipe)", "pairs/published/sd-turbo.toml")]  # dmd2 lacks its files
    assert note.startswith("1 published-student recipes wait for") and catalog.shipped_pair_files() == offered


def test_the_pair_file_list_and_its_note_come_from_one_read_of_the_recipes(monkeypatch):
    import gradio as gr

    from dmdviz.web import catalog, layout

    calls, offered = [], [("x (published recipe)", "pairs/published/x.toml")]

    def published():
        calls.append(1)
        return offered, "1 published-student recipes wait for their files"

    monkeypatch.setattr(catalog, "published", published)
    monkeypatch.setattr(layout, "published", published)
    with gr.Blocks():
        c = layout.explore_pickers()
    assert len(calls) == 1
    assert c.pairfile_dd.info == "1 published-student recipes wait for their files"
    assert ("x (published recipe)", "pairs/published/x.toml") in c.pairfile_dd.choices


def test_the_web_app_opens_the_runnable_pair_from_its_list(tmp_path, monkeypatch):
    from dmdviz.web import catalog
    from dmdviz.web.registry import Registry

    monkeypatch.setenv("DMDVIZ_CACHE_DIR", str(tmp_path))
    assert ("digits-ddim (pair file)", "pairs/digits-ddim.toml") in catalog.shipped_pair_files()
    pair = Registry().pairfile("pairs/digits-ddim.toml")  # the web rules: folders a shipped pair file names
    assert pair.teacher.identity.startswith("pipeline:") and pair.student.shape == (1, 8, 8)
