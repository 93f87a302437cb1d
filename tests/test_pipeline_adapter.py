"""Pipeline sides on tiny random-init stand-ins of the published students' pipelines (nothing
downloaded): dmdviz's Φ_K and G equal the pipeline's own ``output_type="latent"`` call on the
same latents and generators; an untrained student reads ρ ≈ 1; bad inputs are one line."""

import json

import pytest
import torch

pytest.importorskip("transformers")  # every diffusers pipeline class imports it
diffusers = pytest.importorskip("diffusers")

from pipelines import (  # noqa: E402
    flux_pipeline,
    masked_prompts,
    pixart_pipeline,
    sana_pipelines,
    sd_pipeline,
    sd_prompts,
    sdxl_pipeline,
    sdxl_prompts,
    tiny_unet,
)

from dmdviz import analysis  # noqa: E402
from dmdviz.core import metrics, noise  # noqa: E402
from dmdviz.errors import DmdvizError  # noqa: E402
from dmdviz.models import pairfile  # noqa: E402
from dmdviz.models import pipeline_adapter as pa  # noqa: E402

DMD2_1STEP = {"call": {"guidance_scale": 0.0, "timesteps": [399]}, "scheduler": "LCMScheduler"}
DMD2_4STEP = {"call": {"guidance_scale": 0.0, "timesteps": [999, 749, 499, 249]}, "scheduler": "LCMScheduler"}


@pytest.fixture(scope="session")
def sdxl(tmp_path_factory):
    """A tiny SDXL pipeline, its prompts, and a DMD2-style student UNet state dict (other weights)."""
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("sdxl")
    sdxl_pipeline(root / "base")
    save_file(tiny_unet(True, seed=7).state_dict(), str(root / "student_unet.safetensors"))
    return root / "base", sdxl_prompts(root / "prompts.safetensors"), root / "student_unet.safetensors"


@pytest.fixture(scope="session")
def sd(tmp_path_factory):
    root = tmp_path_factory.mktemp("sd")
    return sd_pipeline(root / "base"), sd_prompts(root / "prompts.safetensors")


def _own(folder, z, y, prompts, steps, call, scheduler=None, state=None, lora=None, trailing=True):
    """The pipeline's own call, set up as a model card does (diffusers only, no dmdviz)."""
    from safetensors.torch import load_file

    pipe = diffusers.DiffusionPipeline.from_pretrained(str(folder))
    pipe.set_progress_bar_config(disable=True)
    if state is not None:
        pipe.unet.load_state_dict(load_file(str(state)))
    if lora is not None:
        pipe.load_lora_weights(str(lora.parent), weight_name=lora.name)
        pipe.fuse_lora()
    if scheduler is not None:
        pipe.scheduler = getattr(diffusers, scheduler).from_config(pipe.scheduler.config)
    elif trailing:
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, timestep_spacing="trailing")
    embeds = {k: v[y] for k, v in load_file(str(prompts)).items()}
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    with torch.no_grad():
        return pipe(latents=z.clone(), output_type="latent", generator=pa.generators(z), height=size, width=size,
                    **steps, **call, **embeds).images


def test_sdxl_teacher_with_cfg_and_dmd2_students_equal_the_pipelines_own_output(sdxl):
    base, prompts, state = sdxl
    teacher = pa.teacher(str(base), {"call": {"guidance_scale": 8.0}}, prompts)
    one = pa.student(str(base), {**DMD2_1STEP, "unet": str(state)}, prompts)
    four = pa.student(str(base), {**DMD2_4STEP, "unet": str(state)}, prompts)
    assert teacher.shape == one.shape == (4, 8, 8) and teacher.n_classes == 3 and teacher.guidance == 8.0
    assert "trailing spacing used" in teacher.notes[0] and one.guidance == 0.0
    z, y = noise.seeded(0, 3, teacher.shape, teacher.n_classes)
    with torch.no_grad():
        phi, g1, g4 = teacher.phi(z, 4, y), one(z, y), four(z, y)
    torch.testing.assert_close(phi, _own(base, z, y, prompts, {"num_inference_steps": 4}, {"guidance_scale": 8.0}),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g1, _own(base, z, y, prompts, {}, DMD2_1STEP["call"], "LCMScheduler", state))
    torch.testing.assert_close(g4, _own(base, z, y, prompts, {}, DMD2_4STEP["call"], "LCMScheduler", state))
    unguided = _own(base, z, y, prompts, {"num_inference_steps": 4}, {"guidance_scale": 1.0})
    assert (phi - unguided).abs().max() > 1e-3  # the guidance is really on
    assert (g1 - _own(base, z, y, prompts, {}, DMD2_1STEP["call"], "LCMScheduler")).abs().max() > 1e-3  # its weights
    # the 4-step LCM student injects noise between steps: it comes from the per-seed generators
    pipe = four.side.pipe
    with torch.no_grad():
        other = pipe(latents=z.clone(), output_type="latent", generator=pa.generators(z, salt=1), height=8, width=8,
                     **DMD2_4STEP["call"], **{k: v[y] for k, v in four.side.prompts.tensors.items()}).images
    assert (g4 - other).abs().max() > 1e-3
    torch.testing.assert_close(four(z, y), g4)  # and is a pure function of the seed
    trajectory = teacher.phi(z[:1], 4, y[:1], trajectory=True)
    assert trajectory.shape == (5, 1, 4, 8, 8) and torch.all(teacher.times(4).diff() > 0)


def test_a_lora_student_is_loaded_and_fused_as_its_card_does(sdxl, tmp_path):
    pytest.importorskip("peft")
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    base, prompts, _ = sdxl
    unet = tiny_unet(True)
    unet.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_k", "to_v", "to_out.0"],
                                init_lora_weights=False))
    diffusers.StableDiffusionXLPipeline.save_lora_weights(tmp_path, unet_lora_layers=get_peft_model_state_dict(unet),
                                                          weight_name="lora.safetensors")
    lora = {"ref": str(tmp_path), "weight_name": "lora.safetensors", "scale": 1.0}
    student = pa.student(str(base), {**DMD2_1STEP, "lora": lora}, prompts)
    z, y = noise.seeded(1, 2, student.shape, student.n_classes)
    with torch.no_grad():
        g = student(z, y)
    want = _own(base, z, y, prompts, {}, DMD2_1STEP["call"], "LCMScheduler", lora=tmp_path / "lora.safetensors")
    torch.testing.assert_close(g, want, rtol=1e-5, atol=1e-5)
    assert (g - _own(base, z, y, prompts, {}, DMD2_1STEP["call"], "LCMScheduler")).abs().max() > 1e-3


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_an_untrained_student_reads_copy_ratio_one_only_from_the_noisiest_start(family, sd, sdxl):
    """The student is the teacher's own UNet at timestep 999 (LCM x̂0): its Φ_1 on a grid that
    starts at the noisiest step. Leading spacing (the configs' own grid) starts elsewhere."""
    base, prompts = (sd[0], sd[1]) if family == "sd" else sdxl[:2]
    student = pa.student(str(base), {"call": {"guidance_scale": 3.0, "timesteps": [999]},
                                     "scheduler": "LCMScheduler"}, prompts)
    from dmdviz.models import diffusers_adapter

    decode = diffusers_adapter.Decoder(str(base), {"subfolder": "vae"})  # pixels: as a "space": "pixels" pair sees them
    rho = {}
    for grid in ("trailing", "own"):
        teacher = pa.teacher(str(base), {"call": {"guidance_scale": 3.0}, "grid": grid}, prompts)
        s = analysis.sample_pair(teacher, student, 10, 0, ks=(1, 4))
        with torch.no_grad():
            px = [decode(x).float() for x in (s.phi[1], s.phi[4], s.g)]
        rho[grid] = (metrics.copy_ratio(s.phi[1], s.phi[4], s.g), metrics.copy_ratio(*px))
    assert all(abs(r - 1) < 0.05 for r in rho["trailing"]), rho  # latents and pixels
    assert all(abs(r - 1) > 0.05 for r in rho["own"]), rho  # the defect the trailing grid removes


def test_a_pair_file_with_pipeline_sides_opens_through_the_analysis_road(sdxl, tmp_path):
    base, prompts, state = sdxl
    (tmp_path / "prompts.safetensors").write_bytes(prompts.read_bytes())
    (tmp_path / "unet.safetensors").write_bytes(state.read_bytes())
    raw = {"teacher": {"ref": str(base), "adapter": "pipeline", "args": {"call": {"guidance_scale": 8.0}}},
           "student": {"ref": str(base), "adapter": "pipeline",
                       "args": {**DMD2_1STEP, "unet": "unet.safetensors", "batch": 3}},
           "conditioning": {"prompts": "prompts.safetensors"}, "k": [2]}
    (tmp_path / "pair.json").write_text(json.dumps(raw))
    teacher, student = pairfile.build(pairfile.read(tmp_path / "pair.json"), open_checkpoint=None)
    s = analysis.sample_pair(teacher, student, 4, 0, ks=(1, 2))
    assert s.g.shape == (4, 4, 8, 8) and s.y is not None and teacher.identity != student.identity
    whole = pa.student(str(base), {**DMD2_1STEP, "unet": str(state)}, prompts)  # one call of 4, not 3 + 1
    with torch.no_grad():
        torch.testing.assert_close(s.g, whole(s.z, s.y), rtol=1e-5, atol=1e-5)
    assert whole.identity == student.identity  # the batch size shapes no sample


def _one_line(fn, match):
    with pytest.raises(DmdvizError, match=match) as e:
        fn()
    assert "\n" not in str(e.value)


def test_bad_students_are_one_line(sdxl, tmp_path):
    base, prompts, state = sdxl
    pickle = tmp_path / "dmd2_sdxl_1step_unet_fp16.bin"
    torch.save({"w": torch.zeros(1)}, pickle)
    _one_line(lambda: pa.student(str(base), {**DMD2_1STEP, "unet": str(pickle)}, prompts),
              "never loaded.*python -m dmdviz convert dmd2_sdxl_1step_unet_fp16.bin")
    from safetensors.torch import load_file, save_file

    bad = {k.replace("conv_in", "conv_first"): v for k, v in load_file(str(state)).items()}
    save_file(bad, str(tmp_path / "bad.safetensors"))
    _one_line(lambda: pa.student(str(base), {**DMD2_1STEP, "unet": str(tmp_path / "bad.safetensors")}, prompts),
              r"keys 2 missing \(conv_in.bias, conv_in.weight\); 2 unexpected \(conv_first")
    _one_line(lambda: pa.student(str(base), {**DMD2_1STEP, "scheduler": "LCMSchedular"}, prompts),
              "unknown scheduler class 'LCMSchedular'")
    _one_line(lambda: pa.teacher(str(base), {"call": {"num_inference_steps": 4}}, prompts), "set by K")
    _one_line(lambda: pa.student(str(base), {"call": {"latents": 1}}, prompts), "set by dmdviz")
    _one_line(lambda: pa.student(str(base), DMD2_1STEP), "conditioning.prompts")
    _one_line(lambda: pa.student(str(base), {"call": {"guidence_scale": 0.0}}, prompts), "guidence_scale are not")
    save_file({"unet.foo.lora_A.weight": torch.ones(2, 8), "unet.foo.lora_B.weight": torch.ones(8, 2)},
              str(tmp_path / "lora.safetensors"))
    _one_line(lambda: pa.student(str(base), {**DMD2_1STEP, "lora": {"ref": str(tmp_path / "lora.safetensors")}},
                                 prompts), "could not be fused")
    _one_line(lambda: pa.student(str(tmp_path), DMD2_1STEP), "no model_index.json")


def test_prompts_given_to_an_unconditional_pipeline_are_one_line(tmp_path, sdxl):
    from pipelines import tiny_plain_unet

    diffusers.DDIMPipeline(unet=tiny_plain_unet(), scheduler=diffusers.DDIMScheduler()).save_pretrained(tmp_path / "p")
    _one_line(lambda: pa.teacher(str(tmp_path / "p"), {}, sdxl[1]), "takes no prompt embeddings")
    assert pa.teacher(str(tmp_path / "p"), {}).shape == (2, 8, 8)  # run by dmdviz's loop (models.pipeline_loop)
    diffusers.ScoreSdeVePipeline(unet=tiny_plain_unet(), scheduler=diffusers.ScoreSdeVeScheduler()).save_pretrained(
        tmp_path / "sde")
    _one_line(lambda: pa.teacher(str(tmp_path / "sde"), {}), "takes no latents")
    from dmdviz.models import diffusers_adapter  # the model-level adapter says the same of an unconditional UNet

    _one_line(lambda: diffusers_adapter.teacher(str(tmp_path / "p"), {}, sdxl[1]), "takes no prompt embeddings")


def test_analyze_a_pipeline_pair_states_its_guidance_and_saves_its_samples(sdxl, tmp_path, capsys):
    from safetensors.torch import load_file

    from dmdviz.cli.main import main

    base, prompts, state = sdxl
    (tmp_path / "prompts.safetensors").write_bytes(prompts.read_bytes())
    pickle = tmp_path / "unet.bin"
    torch.save(load_file(str(state)), pickle)
    assert main(["convert", str(pickle), str(tmp_path / "unet.safetensors")]) == 0
    (tmp_path / "junk.bin").write_bytes(b"\x80\x04not a state dict")
    assert main(["convert", str(tmp_path / "junk.bin"), str(tmp_path / "junk.safetensors")]) == 2
    torch.save({"step": 3}, tmp_path / "meta.pt")
    assert main(["convert", str(tmp_path / "meta.pt"), str(tmp_path / "meta.safetensors")]) == 2
    assert "not a state dict" in capsys.readouterr().err
    raw = {"teacher": {"ref": str(base), "adapter": "pipeline", "args": {"call": {"guidance_scale": 8.0}}},
           "student": {"ref": str(base), "adapter": "pipeline", "args": {**DMD2_1STEP, "unet": "unet.safetensors"}},
           "conditioning": {"prompts": "prompts.safetensors"}, "k": [2]}
    (tmp_path / "pair.json").write_text(json.dumps(raw))
    capsys.readouterr()
    code = main(["analyze", "--pair", str(tmp_path / "pair.json"), "--n", "6", "--no-cache", "--threads", "1",
                 "--save-samples", str(tmp_path / "s.safetensors")])
    out = capsys.readouterr()
    assert code == 0, out.err
    summary = json.loads(out.out)
    assert summary["guidance"] == {"teacher": 8.0, "student": 0.0}
    assert any("trailing spacing used" in n for n in summary["notes"])
    saved = load_file(str(tmp_path / "s.safetensors"))
    assert saved["seeds"].tolist() == list(range(6)) and saved["z"].shape == (6, 4, 8, 8)
    assert {"phi_1", "phi_2", "phi_8", "phi_32", "g", "y"} <= set(saved)
    z, y = noise.seeded(0, 6, (4, 8, 8), 3)
    torch.testing.assert_close(saved["z"], z)
    assert torch.equal(saved["y"], y)
    raw["student"]["args"]["unet"] = "unet.bin"
    (tmp_path / "pair.json").write_text(json.dumps(raw))
    assert main(["analyze", "--pair", str(tmp_path / "pair.json"), "--n", "6", "--no-cache"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: args.unet: unet.bin is a pickle") and "\n" not in err


# (teacher and student folders, conditioning, teacher call, student args): FLUX.1-dev-like
# teacher (dynamic shift) with a schnell-like 1-step student; PixArt-α (DPM-Solver++, CFG) with
# a DMD-like student at timestep 400; SANA (flow DPM-Solver++, CFG) with a 2-step SANA-Sprint
STAND_INS = {
    "flux": (lambda p: (flux_pipeline(p),) * 2, dict(pooled=True), {"height": 16, "width": 16},
             {"call": {"height": 16, "width": 16, "num_inference_steps": 1}}),
    "pixart": (lambda p: (pixart_pipeline(p),) * 2, {}, {"guidance_scale": 4.5},
               {"call": {"guidance_scale": 1.0, "timesteps": [400]}, "scheduler": "DDPMScheduler"}),
    "sana-sprint": (sana_pipelines, {}, {"guidance_scale": 4.5},
                    {"call": {"guidance_scale": 4.5, "num_inference_steps": 2}}),
}


def _own_call(root, z, y, prompts, call):
    """The pipeline's own K = 3 call on z, latents packed and unpacked where it packs them."""
    from safetensors.torch import load_file

    index = json.loads((root / "model_index.json").read_text())
    own = diffusers.DiffusionPipeline.from_pretrained(str(root), **{k: None for k in index if k.startswith("t")
                                                                    and k not in ("transformer",)})
    own.set_progress_bar_config(disable=True)
    size = z.shape[-1] * own.vae_scale_factor
    packed = hasattr(own, "_pack_latents")
    latents = own._pack_latents(z, len(z), *z.shape[1:]) if packed else z
    extra = {} if packed else {"use_resolution_binning": False, "height": size, "width": size, "negative_prompt": None}
    embeds = {k: v[y] for k, v in load_file(str(prompts)).items()}
    with torch.no_grad():
        want = own(latents=latents.clone(), output_type="latent", generator=pa.generators(z), num_inference_steps=3,
                   **call, **extra, **embeds).images
    return own._unpack_latents(want, size, size, own.vae_scale_factor) if packed else want


@pytest.mark.parametrize("name", list(STAND_INS))
def test_transformer_pipelines_equal_their_own_output(name, tmp_path):
    make, prompt_kw, call, student_args = STAND_INS[name]
    (t_root, s_root), prompts = make(tmp_path / name), masked_prompts(tmp_path / "p.safetensors", **prompt_kw)
    teacher, student = pa.teacher(str(t_root), {"call": call}, prompts), pa.student(str(s_root), student_args, prompts)
    assert teacher.shape == student.shape and teacher.n_classes == student.n_classes == 3 and not teacher.notes
    z, y = noise.seeded(0, 2, teacher.shape, teacher.n_classes)
    with torch.no_grad():
        phi, g = teacher.phi(z, 3, y), student(z, y)
    torch.testing.assert_close(phi, _own_call(t_root, z, y, prompts, call), rtol=1e-5, atol=1e-5)
    assert g.shape == phi.shape and (phi - g).abs().max() > 1e-3 and teacher.times(3)[-1] == 1.0
    assert teacher.phi(z[:1], 3, y[:1], trajectory=True).shape == (4, 1, *teacher.shape)
    assert torch.all(teacher.times(3).diff() > 0) and teacher.times(3)[0] < 0.1
    assert not student.notes if name != "sana-sprint" else "negative_prompt_attention_mask" in student.notes[0]


def test_embed_computes_the_prompts_file_the_pipeline_would_compute_itself(tmp_path, capsys):
    """``embed`` writes encode_prompt's outputs under their __call__ names: a guided teacher on
    them equals the pipeline called with the prompt strings and its own empty negative prompt."""
    from pipelines import sd_pipeline_with_text

    from dmdviz.cli.main import main

    root = sd_pipeline_with_text(tmp_path / "sd")
    (tmp_path / "prompts.txt").write_text("a cat\n\nthe dog\na dog\n")
    assert main(["embed", str(root), "--prompts", str(tmp_path / "prompts.txt"), "--out",
                 str(tmp_path / "p.safetensors")]) == 0
    assert "prompt_embeds [3, 8, 16], negative_prompt_embeds [3, 8, 16]" in capsys.readouterr().out
    teacher = pa.teacher(str(root), {"call": {"guidance_scale": 7.5}}, tmp_path / "p.safetensors")
    z, y = noise.noise(0, 3, teacher.shape), torch.arange(3)
    own = diffusers.DiffusionPipeline.from_pretrained(str(root))
    own.scheduler = type(own.scheduler).from_config(own.scheduler.config, timestep_spacing="trailing")
    own.set_progress_bar_config(disable=True)
    with torch.no_grad():
        want = own(prompt=["a cat", "the dog", "a dog"], latents=z.clone(), num_inference_steps=2, guidance_scale=7.5,
                   output_type="latent", height=16, width=16).images
        torch.testing.assert_close(teacher.phi(z, 2, y), want, rtol=1e-5, atol=1e-5)
    assert main(["embed", str(root), "--prompts", str(tmp_path / "none.txt"), "--out", "x.safetensors"]) == 2
