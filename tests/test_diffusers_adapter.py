"""diffusers adapters on tiny, randomly initialised models saved locally (nothing downloaded):
the adapter's Φ_K equals diffusers' own deterministic scheduler loop on the same noise."""

import json
import shutil

import pytest
import torch

from dmdviz import analysis, checkpoint
from dmdviz.core import noise
from dmdviz.errors import DmdvizError
from dmdviz.models import diffusers_adapter as dif

diffusers = pytest.importorskip("diffusers")
K = 5
SCHEDS = {
    # clip_sample off: x̂0 clipping is a sampler heuristic outside the ODE Φ_K solves (docs)
    "ddim-epsilon": ("DDIMScheduler", {"beta_schedule": "scaled_linear", "steps_offset": 1, "clip_sample": False,
                                       "set_alpha_to_one": False}),
    "ddim-v-trailing": ("DDIMScheduler", {"prediction_type": "v_prediction", "timestep_spacing": "trailing",
                                          "clip_sample": False}),
    "flow-match": ("FlowMatchEulerDiscreteScheduler", {"shift": 3.0}),
    "edm": ("EDMEulerScheduler", {"sigma_max": 80.0}),
}


def tiny_unet(**extra):
    torch.manual_seed(0)
    net = diffusers.UNet2DModel(sample_size=8, in_channels=2, out_channels=2, layers_per_block=1,
                                block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4, **extra)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))  # no zero-initialised layer: every output depends on the input
    return net.eval()


def save_pipe(folder, net, sched_name, kw):
    net.save_pretrained(folder / "unet" if isinstance(net, diffusers.UNet2DModel) else folder / "transformer")
    getattr(diffusers, sched_name)(**kw).save_pretrained(folder / "scheduler")
    return folder


@pytest.fixture(scope="module")
def unet():
    return tiny_unet()


def _diffusers_loop(net, sched, z):
    """The scheduler's own deterministic loop (eta = 0, no churn), exactly as a pipeline runs it."""
    sched.set_timesteps(K)
    x = z * 80.0 if isinstance(sched, diffusers.EDMEulerScheduler) else z  # EDM: x = σ_max z (docs)
    for t in sched.timesteps:
        inp = sched.scale_model_input(x, t) if hasattr(type(sched), "scale_model_input") else x
        out = net(inp, t).sample
        step = sched.step(out, t, x, eta=0.0) if isinstance(sched, diffusers.DDIMScheduler) else sched.step(out, t, x)
        x = step.prev_sample
    return x


@pytest.mark.parametrize("name", list(SCHEDS))
def test_phi_k_equals_the_diffusers_scheduler_loop(name, unet, tmp_path):
    sched_name, kw = SCHEDS[name]
    teacher = dif.teacher(str(save_pipe(tmp_path, unet, sched_name, kw)))
    assert teacher.shape == (2, 8, 8) and teacher.n_classes == 0
    z = noise.noise(0, 6, teacher.shape)
    with torch.no_grad():
        want = _diffusers_loop(unet, getattr(diffusers, sched_name).from_pretrained(tmp_path / "scheduler"), z)
        got = teacher.phi(z, K)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert teacher.times(K).shape == (K + 1,)


def test_a_dmd2_style_one_step_student_and_a_class_conditional_unet(tmp_path):
    net = tiny_unet(num_class_embeds=3)
    root = save_pipe(tmp_path / "t", net, "DDIMScheduler", {})
    teacher = dif.teacher(str(root))
    student = dif.student(str(root), {"timestep": 999})
    assert teacher.n_classes == student.n_classes == 3
    z, y = noise.seeded(1, 4, teacher.shape, 3)
    abar = diffusers.DDIMScheduler().alphas_cumprod[999].double()
    with torch.no_grad():
        eps = net(z, torch.full((4,), 999.0), class_labels=y).sample
        torch.testing.assert_close(student(z, y), (z - (1 - abar).sqrt() * eps) / abar.sqrt(), rtol=1e-5, atol=1e-5)
    s = analysis.sample_pair(teacher, student, 6, 0, ks=(1, 2))
    assert s.g.shape == (6, 2, 8, 8) and s.y is not None


def test_an_sd3_transformer_with_prompt_embeddings(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = diffusers.SD3Transformer2DModel(sample_size=8, patch_size=2, in_channels=4, num_layers=1,
                                          attention_head_dim=8, num_attention_heads=2, joint_attention_dim=16,
                                          caption_projection_dim=16, pooled_projection_dim=8, out_channels=4,
                                          pos_embed_max_size=8).eval()
    root = save_pipe(tmp_path / "sd3", net, "FlowMatchEulerDiscreteScheduler", {"shift": 3.0})
    embeds = {"prompt_embeds": torch.randn(3, 5, 16), "pooled_prompt_embeds": torch.randn(3, 8)}
    save_file(embeds, str(tmp_path / "prompts.safetensors"))
    teacher = dif.teacher(str(root), prompts=tmp_path / "prompts.safetensors")
    assert teacher.shape == (4, 8, 8) and teacher.n_classes == 3  # one "class" per stored prompt
    z, y = noise.seeded(0, 2, teacher.shape, 3)
    sched = diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0)
    sched.set_timesteps(K)
    x = z
    with torch.no_grad():
        for t in sched.timesteps:
            out = net(hidden_states=x, timestep=t.expand(2), encoder_hidden_states=embeds["prompt_embeds"][y],
                      pooled_projections=embeds["pooled_prompt_embeds"][y]).sample
            x = sched.step(out, t, x).prev_sample
        torch.testing.assert_close(teacher.phi(z, K, y), x, rtol=1e-4, atol=1e-4)
    with pytest.raises(DmdvizError, match="prompt embeddings"):
        dif.teacher(str(root))


def test_a_bin_only_folder_is_refused_unopened(tmp_path, unet):
    root = save_pipe(tmp_path / "p", unet, "DDIMScheduler", {})
    (root / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    (root / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"not even a pickle")
    with pytest.raises(DmdvizError, match="pickle files are never loaded") as e:
        dif.teacher(str(root))
    assert "\n" not in str(e.value)


def test_unknown_args_and_an_unsupported_class_are_one_line(tmp_path, unet):
    root = save_pipe(tmp_path / "p", unet, "DDIMScheduler", {})
    with pytest.raises(DmdvizError, match="unknown args guidance_scale"):
        dif.teacher(str(root), {"guidance_scale": 7.5})  # nothing silently ignored
    cfg = json.loads((root / "unet" / "config.json").read_text())
    (root / "unet" / "config.json").write_text(json.dumps({**cfg, "_class_name": "AutoencoderKL"}))
    with pytest.raises(DmdvizError, match="not supported"):
        dif.teacher(str(root))
    with pytest.raises(DmdvizError, match="timestep"):
        dif.student(str(root))


def test_a_repo_id_resolves_from_an_offline_hugging_face_cache(tmp_path, unet, monkeypatch):
    import huggingface_hub.constants

    local = save_pipe(tmp_path / "local", unet, "DDIMScheduler", {})
    sha = "c" * 40
    repo = tmp_path / "hub" / "models--dmdviz-test--tiny-ddim"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    shutil.copytree(local, repo / "snapshots" / sha)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    teacher = dif.teacher("dmdviz-test/tiny-ddim")
    assert teacher.identity.startswith("diffusers:dmdviz-test/tiny-ddim@" + sha)
    z = noise.noise(0, 2, teacher.shape)
    torch.testing.assert_close(teacher.phi(z, K), dif.teacher(str(local)).phi(z, K))
    with pytest.raises(DmdvizError, match="not in the local Hugging Face cache"):
        dif.teacher("dmdviz-test/absent")


def test_pixel_space_decodes_both_sides_through_the_pairs_vae(tmp_path, unet):
    from dmdviz.models import pairfile

    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL(in_channels=3, out_channels=3, latent_channels=2, block_out_channels=(8, 8),
                                  down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                                  layers_per_block=1, norm_num_groups=4, sample_size=16, scaling_factor=0.5).eval()
    root = save_pipe(tmp_path / "p", unet, "DDIMScheduler", {"clip_sample": False})
    vae.save_pretrained(root / "vae")
    pair = {"teacher": {"ref": "p", "adapter": "diffusers"},
            "student": {"ref": "p", "adapter": "diffusers", "args": {"timestep": 999}},
            "space": "pixels", "vae": {"ref": "p"}, "k": [2]}
    (tmp_path / "pair.json").write_text(json.dumps(pair))
    teacher, student = pairfile.build(pairfile.read(tmp_path / "pair.json"), checkpoint.load_checkpoint)
    latent_t, latent_g = dif.teacher(str(root)), dif.student(str(root), {"timestep": 999})
    z = noise.noise(0, 3, teacher.shape)
    with torch.no_grad():
        torch.testing.assert_close(teacher.phi(z, 2), vae.decode(latent_t.phi(z, 2) / 0.5).sample)
        torch.testing.assert_close(student(z), vae.decode(latent_g(z) / 0.5).sample)
    s = analysis.sample_pair(teacher, student, 4, 0, (1, 2))
    assert s.phi[2].shape == (4, 3, 16, 16) and s.z.shape == (4, 2, 8, 8)  # the same latent noise, decoded samples
    assert teacher.identity != latent_t.identity  # pixel samples never meet latent ones in the cache
    del pair["vae"]
    (tmp_path / "pair.json").write_text(json.dumps(pair))
    with pytest.raises(DmdvizError, match="go together"):
        pairfile.read(tmp_path / "pair.json")
