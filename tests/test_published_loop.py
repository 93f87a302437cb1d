"""Pipelines whose ``__call__`` takes no latents (``models.pipeline_loop``): dmdviz's loop from z
equals DiTPipeline's and DDIMPipeline's own output on the same generators (tiny random-init
stand-ins, learned sigma included), and a learned-sigma UNet opens in the model-level adapter."""

import json

import pytest
import torch

pytest.importorskip("transformers")
diffusers = pytest.importorskip("diffusers")

from pipelines import tiny_vae

from dmdviz import analysis
from dmdviz.models import diffusers_adapter, pairfile, pipeline_loop


def _perturb(net, seed=0):
    """No zero-initialised layer (DiT's adaLN-zero): every output depends on every input."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return net.eval()


def tiny_dit(seed=0, learned_sigma=True):
    torch.manual_seed(seed)
    return _perturb(diffusers.DiTTransformer2DModel(
        num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8 if learned_sigma else 4,
        num_layers=1, sample_size=4, patch_size=2, num_embeds_ada_norm=1000), seed)


def _gens(n, offset=0):
    return [torch.Generator().manual_seed(offset + i) for i in range(n)]


def _noise(shape, n):
    from diffusers.utils.torch_utils import randn_tensor

    gens = _gens(n)
    return randn_tensor((n, *shape), generator=gens), gens  # the generators advanced past z, as in the pipelines


@pytest.mark.parametrize("guidance,learned", [(4.0, True), (1.0, False)])
def test_the_dit_loop_equals_dit_pipeline_on_the_same_generators(guidance, learned):
    pipe = diffusers.DiTPipeline(transformer=tiny_dit(learned_sigma=learned), vae=tiny_vae(),
                                 scheduler=diffusers.DDIMScheduler())
    pipe.set_progress_bar_config(disable=True)
    labels = [3, 999, 3]
    z, gens = _noise((4, 4, 4), 3)
    call = {"num_inference_steps": 3, "guidance_scale": guidance}
    with torch.no_grad():
        x = pipeline_loop.run(pipe, z, torch.tensor(labels), call, gens)
        ours = (pipe.vae.decode(x / pipe.vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1)
        theirs = pipe(class_labels=labels, generator=_gens(3), output_type="pt", return_dict=False, **call)[0]
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()
    with torch.no_grad():
        other = pipeline_loop.run(pipe, z, torch.tensor([5, 999, 3]), call, gens)
    assert not torch.allclose(other[0], x[0], atol=1e-4) and torch.allclose(other[1:], x[1:])  # the label matters


@pytest.mark.parametrize("cls,eta", [("DDIMPipeline", 0.0), ("DDIMPipeline", 1.0), ("DDPMPipeline", None)])
def test_the_unconditional_loop_equals_the_pipeline_before_its_clamp(cls, eta):
    from pipelines import tiny_plain_unet

    pipe = getattr(diffusers, cls)(unet=tiny_plain_unet(), scheduler=diffusers.DDPMScheduler())
    pipe.set_progress_bar_config(disable=True)
    shape = (pipe.unet.config.in_channels, *(pipe.unet.config.sample_size,) * 2)
    z, gens = _noise(shape, 2)
    call = {"num_inference_steps": 4, **({"eta": eta} if eta is not None else {})}
    with torch.no_grad():
        x = pipeline_loop.run(pipe, z, None, call, gens)
        theirs = pipe(generator=_gens(2), output_type="pt", return_dict=False, batch_size=2, **call)[0]
    assert torch.allclose((x / 2 + 0.5).clamp(0, 1), theirs, atol=1e-5)


def test_a_dit_pair_file_samples_with_labels_from_the_seed(tmp_path):
    from safetensors.torch import save_file

    pipe = diffusers.DiTPipeline(transformer=tiny_dit(), vae=tiny_vae(), scheduler=diffusers.DDIMScheduler(
        timestep_spacing="trailing"))
    pipe.save_pretrained(tmp_path / "dit")
    save_file(tiny_dit(seed=5).state_dict(), str(tmp_path / "student.safetensors"))
    (tmp_path / "pair.json").write_text(json.dumps({
        "teacher": {"ref": "dit", "adapter": "pipeline", "args": {"call": {"guidance_scale": 4.0}}},
        "student": {"ref": "dit", "adapter": "pipeline", "args": {"transformer": "student.safetensors",
                                                                  "call": {"guidance_scale": 1.0}}}}))
    teacher, student = pairfile.build(pairfile.read(tmp_path / "pair.json"), open_checkpoint=None)
    assert teacher.n_classes == student.n_classes == 1000 and teacher.shape == (4, 4, 4)
    assert teacher.guidance == 4.0 and student.guidance == 1.0
    s = analysis.sample_pair(teacher, student, 3, 0, ks=(1, 2))
    with torch.no_grad():
        direct = pipeline_loop.run(teacher.side.pipe, s.z, s.y, {"num_inference_steps": 2, "guidance_scale": 4.0},
                                   _gens(3))
    assert s.y is not None and torch.allclose(s.phi[2], direct, atol=1e-5)
    raw = json.loads((tmp_path / "pair.json").read_text())
    raw["teacher"]["args"]["call"]["class_labels"] = [1]
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    with pytest.raises(Exception, match="class_labels are set by dmdviz"):
        pairfile.build(pairfile.read(tmp_path / "bad.json"), open_checkpoint=None)


def test_a_learned_sigma_unet_opens_in_the_model_level_adapter(tmp_path):
    """out_channels = 2 × in: the first half (ε̂) drives the sampler, as the pipelines read it."""
    torch.manual_seed(0)
    kw = {"sample_size": 8, "in_channels": 1, "block_out_channels": (8, 8), "layers_per_block": 1,
          "norm_num_groups": 4, "down_block_types": ("DownBlock2D",) * 2, "up_block_types": ("UpBlock2D",) * 2}
    wide = _perturb(diffusers.UNet2DModel(out_channels=2, **kw))
    narrow = diffusers.UNet2DModel(out_channels=1, **kw)
    state = wide.state_dict()
    state["conv_out.weight"], state["conv_out.bias"] = state["conv_out.weight"][:1], state["conv_out.bias"][:1]
    narrow.load_state_dict(state)
    for name, net in (("wide", wide), ("narrow", narrow)):
        diffusers.DDIMPipeline(unet=net, scheduler=diffusers.DDIMScheduler()).save_pretrained(tmp_path / name)
    z = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        a, b = (diffusers_adapter.teacher(str(tmp_path / name)).phi(z, 3) for name in ("wide", "narrow"))
    assert a.shape == (2, 1, 8, 8) and torch.allclose(a, b, atol=1e-5)
