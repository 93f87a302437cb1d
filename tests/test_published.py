"""The published recipes (checkpoints/pairs/published/): each parses, names only arguments its
pipelines' ``__call__`` takes, and the SDXL-based ones run end to end on the tiny SDXL stand-in
with the recipe's own scheduler, state-dict / LoRA student and call (refs swapped for local
folders, dtype float32: nothing downloaded)."""

import inspect
import json
import tomllib
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
diffusers = pytest.importorskip("diffusers")

from pipelines import sdxl_pipeline, sdxl_prompts, tiny_unet  # noqa: E402

from dmdviz import analysis  # noqa: E402
from dmdviz.models import pairfile  # noqa: E402
from dmdviz.models import pipeline_adapter as pa  # noqa: E402

PUBLISHED = Path(__file__).resolve().parent.parent / "checkpoints" / "pairs" / "published"
SDXL = "StableDiffusionXLPipeline"
CLASSES = {  # recipe -> (teacher, student) pipeline classes of the repos it names
    "dmd2-sdxl-1step": (SDXL, SDXL), "dmd2-sdxl-4step": (SDXL, SDXL), "dmd2-sdxl-4step-lora": (SDXL, SDXL),
    "sdxl-turbo": (SDXL, SDXL), "lcm-lora-sdxl": (SDXL, SDXL), "hyper-sdxl-1step": (SDXL, SDXL),
    "sd-turbo": ("StableDiffusionPipeline", "StableDiffusionPipeline"),
    "pixart-alpha-dmd": ("PixArtAlphaPipeline", "PixArtAlphaPipeline"),
    "sana-sprint": ("SanaPipeline", "SanaSprintPipeline"), "flux-schnell": ("FluxPipeline", "FluxPipeline"),
}


def test_every_recipe_parses_and_calls_its_pipelines_with_their_own_arguments():
    assert {p.stem for p in PUBLISHED.glob("*.toml")} == set(CLASSES)
    for name, classes in CLASSES.items():
        spec = pairfile.read(PUBLISHED / f"{name}.toml")
        for side, cls in zip((spec.teacher, spec.student), classes):
            assert side.adapter == "pipeline" and set(side.args) <= set(pa.ARGS), name
            params = inspect.signature(getattr(diffusers, cls).__call__).parameters
            assert set(side.args["call"]) <= set(params), (name, set(side.args["call"]) - set(params))
            if side.args.get("scheduler"):
                assert issubclass(getattr(diffusers, side.args["scheduler"]), diffusers.SchedulerMixin)
        assert not set(spec.teacher.args["call"]) & set(pa.TEACHER_GRID), name
        assert "guidance_scale" in spec.teacher.args["call"] and spec.prompts is not None, name


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """A folder holding the tiny SDXL base, a student UNet and LoRA files under the recipes' names."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("published")
    sdxl_pipeline(root / "base")
    sdxl_prompts(root / "prompts-sdxl.safetensors")
    for steps in ("1step", "4step"):
        save_file(tiny_unet(True, seed=7).state_dict(), str(root / f"dmd2_sdxl_{steps}_unet_fp16.safetensors"))
    unet = tiny_unet(True)
    unet.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_k", "to_v", "to_out.0"],
                                init_lora_weights=False))
    (root / "lora").mkdir()
    for name in ("dmd2_sdxl_4step_lora_fp16", "pytorch_lora_weights", "Hyper-SDXL-1step-lora"):
        diffusers.StableDiffusionXLPipeline.save_lora_weights(root / "lora", get_peft_model_state_dict(unet),
                                                              weight_name=f"{name}.safetensors")
    return root


def _local(raw: dict, root: Path) -> dict:
    for role in ("teacher", "student"):
        side = raw[role]
        side["ref"] = str(root / "base")
        side["args"] = {k: v for k, v in side["args"].items() if k not in ("dtype", "variant")}
        if "lora" in side["args"]:
            side["args"]["lora"]["ref"] = str(root / "lora")
    return raw


@pytest.mark.parametrize("name", ["dmd2-sdxl-1step", "dmd2-sdxl-4step", "dmd2-sdxl-4step-lora", "lcm-lora-sdxl",
                                  "hyper-sdxl-1step"])
def test_an_sdxl_recipe_runs_on_the_tiny_stand_in(name, stand_in):
    raw = _local(tomllib.loads((PUBLISHED / f"{name}.toml").read_text()), stand_in)
    (stand_in / f"{name}.json").write_text(json.dumps(raw))
    teacher, student = pairfile.build(pairfile.read(stand_in / f"{name}.json"), open_checkpoint=None)
    assert teacher.guidance == raw["teacher"]["args"]["call"]["guidance_scale"] and student.guidance == 0.0
    s = analysis.sample_pair(teacher, student, 2, 0, ks=(1, 2))
    assert s.g.shape == s.phi[2].shape == (2, 4, 8, 8) and torch.isfinite(s.g).all()


def test_the_web_app_opens_a_pipeline_side_only_from_the_hub(tmp_path):
    """A visitor's pair file may name Hub repos and a scheduler class; never a server file."""
    from dmdviz.errors import DmdvizError
    from dmdviz.limits import Limits
    from dmdviz.web import sides

    limits = Limits.from_env()
    raw = tomllib.loads((PUBLISHED / "dmd2-sdxl-4step-lora.toml").read_text())
    sides.check(pairfile.parse(raw, tmp_path), False, limits)
    raw["student"]["args"]["unet"] = "/srv/secret/unet.safetensors"
    with pytest.raises(DmdvizError, match="args.unet a folder path is not available"):
        sides.check(pairfile.parse(raw, tmp_path), False, limits)
    raw["student"]["args"].pop("unet")
    raw["student"]["args"]["lora"]["ref"] = "../lora"
    with pytest.raises(DmdvizError, match="args.lora '../lora' is not available"):
        sides.check(pairfile.parse(raw, tmp_path), False, limits)
