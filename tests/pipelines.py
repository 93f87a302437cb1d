"""Tiny random-init diffusers pipelines, saved with ``save_pretrained`` (nothing downloaded):
stand-ins for the published students' pipelines, with their classes, schedulers and config
features (SDXL's text_time conditioning, leading spacing, Flux's packing), sizes shrunk."""

import torch

SD_BETAS = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1,
            "timestep_spacing": "leading"}
TOKENS, TEXT, POOLED = 5, 16, 8


def _perturb(net):
    """No zero-initialised layer: every output depends on every input."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


def tiny_vae():
    import diffusers

    torch.manual_seed(1)
    return diffusers.AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8),
                                   down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                                   norm_num_groups=4, sample_size=16)


def tiny_unet(sdxl: bool, seed: int = 0):
    import diffusers

    torch.manual_seed(seed)
    extra = dict(addition_embed_type="text_time", addition_time_embed_dim=4,
                 projection_class_embeddings_input_dim=POOLED + 6 * 4) if sdxl else {}
    return _perturb(diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=4, cross_attention_dim=TEXT, attention_head_dim=2, **extra))


def sdxl_pipeline(folder, seed: int = 0):
    """SDXL base's features: text_time UNet, EulerDiscreteScheduler with leading spacing."""
    import diffusers

    sched = diffusers.EulerDiscreteScheduler(**SD_BETAS)
    pipe = diffusers.StableDiffusionXLPipeline(vae=tiny_vae(), text_encoder=None, text_encoder_2=None, tokenizer=None,
                                               tokenizer_2=None, unet=tiny_unet(True, seed), scheduler=sched)
    pipe.save_pretrained(folder)
    return folder


def sd_pipeline(folder, seed: int = 0):
    """SD 1.5's features: a cross-attention UNet, scaled-linear betas, leading spacing (DDIM)."""
    import diffusers

    sched = diffusers.DDIMScheduler(**SD_BETAS, clip_sample=False, set_alpha_to_one=False)
    pipe = diffusers.StableDiffusionPipeline(vae=tiny_vae(), text_encoder=None, tokenizer=None,
                                             unet=tiny_unet(False, seed), scheduler=sched, safety_checker=None,
                                             feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def sdxl_prompts(path, n: int = 3, seed: int = 0):
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    save_file({"prompt_embeds": torch.randn(n, TOKENS, TEXT, generator=g),
               "pooled_prompt_embeds": torch.randn(n, POOLED, generator=g)}, str(path))
    return path


def sd_prompts(path, n: int = 3, seed: int = 0):
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    save_file({"prompt_embeds": torch.randn(n, TOKENS, TEXT, generator=g),
               "negative_prompt_embeds": torch.randn(n, TOKENS, TEXT, generator=g)}, str(path))
    return path


def tiny_plain_unet():
    import diffusers

    torch.manual_seed(0)
    return _perturb(diffusers.UNet2DModel(sample_size=8, in_channels=2, out_channels=2, layers_per_block=1,
                                          block_out_channels=(8, 16), down_block_types=("DownBlock2D",) * 2,
                                          up_block_types=("UpBlock2D",) * 2, norm_num_groups=4))


def flux_pipeline(folder, dynamic: bool = True):
    """FLUX.1's features: a packed-latent transformer, flow matching with dynamic shifting (dev)
    or a fixed shift (schnell)."""
    import diffusers

    torch.manual_seed(0)
    net = _perturb(diffusers.FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                                    attention_head_dim=8, num_attention_heads=2, joint_attention_dim=TEXT,
                                                    pooled_projection_dim=POOLED, axes_dims_rope=(2, 2, 4)))
    sched = diffusers.FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=dynamic, shift=1.0, base_image_seq_len=16,
                                                      max_image_seq_len=256)
    pipe = diffusers.FluxPipeline(scheduler=sched, vae=tiny_vae(), text_encoder=None, tokenizer=None,
                                  text_encoder_2=None, tokenizer_2=None, transformer=net)
    pipe.save_pretrained(folder)
    return folder


def pixart_pipeline(folder):
    """PixArt-α's features: a DiT with learned sigma (out = 2 × in channels), T5-sized caption
    projection, DPM-Solver++."""
    import diffusers

    torch.manual_seed(0)
    net = _perturb(diffusers.PixArtTransformer2DModel(sample_size=8, num_layers=1, patch_size=2, attention_head_dim=8,
                                                      num_attention_heads=2, in_channels=4, out_channels=8,
                                                      cross_attention_dim=16, caption_channels=TEXT,
                                                      norm_type="ada_norm_single", norm_num_groups=4))
    pipe = diffusers.PixArtAlphaPipeline(tokenizer=None, text_encoder=None, vae=tiny_vae(), transformer=net,
                                         scheduler=diffusers.DPMSolverMultistepScheduler())
    pipe.save_pretrained(folder)
    return folder


def masked_prompts(path, n: int = 3, seed: int = 0, pooled: bool = False):
    """T5-style conditioning: embeddings and attention masks, with the negative pair (CFG)."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(n, TOKENS, dtype=torch.long)
    mask[:, -1] = 0
    out = {"prompt_embeds": torch.randn(n, TOKENS, TEXT, generator=g), "prompt_attention_mask": mask,
           "negative_prompt_embeds": torch.randn(n, TOKENS, TEXT, generator=g), "negative_prompt_attention_mask": mask.clone()}
    if pooled:
        out = {"prompt_embeds": out["prompt_embeds"], "pooled_prompt_embeds": torch.randn(n, POOLED, generator=g)}
    save_file(out, str(path))
    return path


def _sana_net(guidance: bool):
    import diffusers

    torch.manual_seed(0)
    return _perturb(diffusers.SanaTransformer2DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=8, num_layers=1,
        num_cross_attention_heads=2, cross_attention_head_dim=8, cross_attention_dim=16, caption_channels=TEXT,
        sample_size=16, guidance_embeds=guidance, qk_norm="rms_norm_across_heads"))


def _dc_vae():
    import diffusers

    torch.manual_seed(1)
    return diffusers.AutoencoderDC(in_channels=3, latent_channels=4, attention_head_dim=2,
                                   encoder_block_types=("ResBlock", "EfficientViTBlock"),
                                   decoder_block_types=("ResBlock", "EfficientViTBlock"),
                                   encoder_block_out_channels=(8, 8), decoder_block_out_channels=(8, 8),
                                   encoder_qkv_multiscales=((), (5,)), decoder_qkv_multiscales=((), (5,)),
                                   encoder_layers_per_block=(1, 1), decoder_layers_per_block=(1, 1),
                                   downsample_block_type="conv", upsample_block_type="interpolate",
                                   decoder_norm_types="rms_norm", decoder_act_fns="silu", scaling_factor=0.41407)


def sana_pipelines(folder):
    """SANA's features (flow DPM-Solver++, CFG, DC-AE latents) as teacher, SANA-Sprint's (SCM
    scheduler, trigflow, guidance embedding) as student: two pipelines on one latent space."""
    import diffusers

    teacher = diffusers.SanaPipeline(tokenizer=None, text_encoder=None, vae=_dc_vae(), transformer=_sana_net(False),
                                     scheduler=diffusers.DPMSolverMultistepScheduler(
                                         flow_shift=3.0, use_flow_sigmas=True, prediction_type="flow_prediction"))
    teacher.save_pretrained(folder / "sana")
    student = diffusers.SanaSprintPipeline(tokenizer=None, text_encoder=None, vae=_dc_vae(), transformer=_sana_net(True),
                                           scheduler=diffusers.SCMScheduler())
    student.save_pretrained(folder / "sprint")
    return folder / "sana", folder / "sprint"


def tiny_clip(folder):
    """A tiny CLIP text encoder and tokenizer built from configs and a hand-made vocabulary."""
    import transformers

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c], vocab[c + "</w>"] = len(vocab), len(vocab) + 1
    merges = [("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>")]
    for m in merges:
        vocab["".join(m)] = len(vocab)
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=8)
    torch.manual_seed(2)
    encoder = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=TEXT, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=8, projection_dim=POOLED)).eval()
    return tokenizer, encoder


def sd_pipeline_with_text(folder):
    """The SD 1.5 stand-in with its tiny text encoder and tokenizer (for ``embed``)."""
    import diffusers

    tokenizer, encoder = tiny_clip(folder)
    sched = diffusers.DDIMScheduler(**SD_BETAS, clip_sample=False, set_alpha_to_one=False)
    pipe = diffusers.StableDiffusionPipeline(vae=tiny_vae(), text_encoder=encoder, tokenizer=tokenizer,
                                             unet=tiny_unet(False), scheduler=sched, safety_checker=None,
                                             feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder
