"""Classifier-free guidance for text-to-image diffusion (chapter 08).

Ho & Salimans 2022, "Classifier-Free Diffusion Guidance": train one network both with the
prompt and, for a fraction of the examples, with an empty prompt; at sampling time
extrapolate from the unconditional noise prediction towards the conditional one,

    eps_guided = eps_uncond + w (eps_cond - eps_uncond),

w = 1 is the conditional model, w = 0 the unconditional one, w > 1 trades diversity for
faithfulness to the prompt. This is Diffusers' convention (``guidance_scale`` = w). Ho &
Salimans write ``(1 + w') eps_cond - w' eps_uncond``, so their w' = w - 1: their w' = 0 is
the conditional model and their best-FID w' of 0.1-0.3 is ``guidance_scale`` 1.1-1.3. The
unconditional input is the text embedding of the empty prompt ``""`` (what
``StableDiffusionPipeline`` uses when ``negative_prompt`` is None).

:func:`guided_sample` is the DDIM loop of ``StableDiffusionPipeline.__call__`` written out
(same noise draw, same batch order ``[uncond, cond]``, same scheduler calls), so for the
same generator, scheduler and guidance scale **w > 1** it returns the pipeline's images.
Below that they differ on purpose: the pipeline guides only when ``guidance_scale > 1``
(``do_classifier_free_guidance``) and otherwise runs the conditional model alone, while
:func:`guided_sample` applies the formula at every w (at w = 0 the unconditional model;
w = 1 skips the unconditional pass, which cannot change the result).
:func:`guidance_sweep` measures the trade-off: prompt accuracy, digits-FID, diversity.
"""

from __future__ import annotations

import time

import torch

from genlab._checks import check_int, check_positive, check_same_shape, check_tensor
from genlab.metrics.prompts import prompt_accuracy, samples_fid, within_class_spread
from genlab.pretrained.digits_t2i import caption, encode_prompts, make_ddim_scheduler


def cfg_combine(eps_uncond: torch.Tensor, eps_cond: torch.Tensor,
                guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance: ``eps_uncond + guidance_scale * (eps_cond - eps_uncond)``.

    eps_uncond, eps_cond: noise predictions of the same shape (e.g. ``(batch, C, H, W)``);
    guidance_scale: w >= 0 (0: unconditional, 1: conditional; Stable Diffusion's default
    is 7.5; Diffusers' pipelines call this only for w > 1). Returns a tensor of that
    shape; differentiable in both inputs.
    """
    check_tensor("eps_uncond", eps_uncond, finite=False)
    check_tensor("eps_cond", eps_cond, finite=False)
    check_same_shape("eps_uncond", eps_uncond, "eps_cond", eps_cond)
    check_positive("guidance_scale", guidance_scale, allow_zero=True)
    return eps_uncond + guidance_scale * (eps_cond - eps_uncond)


def _check_prompts(prompts) -> list[str]:
    if isinstance(prompts, str):
        prompts = [prompts]
    if not (isinstance(prompts, (list, tuple)) and prompts
            and all(isinstance(p, str) for p in prompts)):
        raise TypeError(f"prompts must be a string or a non-empty list of strings, got {prompts!r}")
    return list(prompts)


@torch.no_grad()
def guided_sample(parts, prompts, guidance_scale: float = 3.0, num_inference_steps: int = 20,
                  generator: torch.Generator | None = None, eta: float = 0.0,
                  scheduler=None, combine=None) -> torch.Tensor:
    """Sample one image per prompt with classifier-free guidance and DDIM, by hand.

    parts: ``genlab.pretrained.digits_t2i.T2IParts`` (ours, or a Stable Diffusion
    checkpoint's); prompts: a string or a list of strings; guidance_scale: w >= 0; w == 1
    runs the conditional pass only (the combination equals it, the unconditional pass
    would be wasted, as in the pipeline); generator: a torch.Generator for the initial
    noise (and the DDIM noise when eta > 0), as passed to the pipeline; scheduler: a
    DDIM-like scheduler (default ``make_ddim_scheduler(parts)``: ``clip_sample=False``);
    combine: the guidance formula (default :func:`cfg_combine`; chapter 08 passes the
    learner's). Returns images ``(len(prompts), C, H, W)`` decoded by ``parts.vae``, in
    [-1, 1] for the digits (the pipeline's ``output_type="pt"`` is ``(x + 1) / 2`` clamped).
    """
    from diffusers.utils.torch_utils import randn_tensor

    prompts = _check_prompts(prompts)
    check_positive("guidance_scale", guidance_scale, allow_zero=True)
    check_int("num_inference_steps", num_inference_steps, minimum=1)
    check_positive("eta", eta, allow_zero=True)
    combine = cfg_combine if combine is None else combine
    scheduler = make_ddim_scheduler(parts) if scheduler is None else scheduler
    unet, vae = parts.unet, parts.vae
    device = unet.device
    guided = guidance_scale != 1.0
    cond = encode_prompts(parts, prompts)
    embeddings = torch.cat([encode_prompts(parts, [""] * len(prompts)), cond]) if guided else cond
    size = unet.config.sample_size
    shape = (len(prompts), unet.config.in_channels, size, size)
    latents = randn_tensor(shape, generator=generator, device=device, dtype=embeddings.dtype)
    latents = latents * scheduler.init_noise_sigma
    scheduler.set_timesteps(num_inference_steps, device=device)
    for t in scheduler.timesteps:
        model_input = torch.cat([latents, latents]) if guided else latents
        model_input = scheduler.scale_model_input(model_input, t)
        eps = unet(model_input, t, encoder_hidden_states=embeddings).sample
        if guided:
            eps_uncond, eps_cond = eps.chunk(2)
            eps = combine(eps_uncond, eps_cond, guidance_scale)
        latents = scheduler.step(eps, t, latents, eta=eta, generator=generator).prev_sample
    return vae.decode(latents / vae.config.scaling_factor).sample


def digit_prompts(n_per_class: int, template: int = 0) -> tuple[list[str], torch.Tensor]:
    """Prompts ``caption(k, template)`` for k = 0..9, ``n_per_class`` each, and their digits."""
    check_int("n_per_class", n_per_class, minimum=1)
    digits = torch.arange(10).repeat_interleave(n_per_class)
    return [caption(int(k), template) for k in digits], digits


def guidance_sweep(parts, scales=(1.0, 2.0, 3.0, 5.0, 8.0), n_per_class: int = 20,
                   seed: int = 0, num_inference_steps: int = 20, real: str = "test",
                   scheduler_factory=None, keep_images: bool = False) -> list[dict]:
    """Sample ``n_per_class`` images of each digit prompt at each guidance scale; measure.

    The same seed (so the same initial noise) at every scale. Returns one dict per scale:
    ``guidance_scale``, ``accuracy`` (the digits classifier reads the prompted digit),
    ``fid`` (digits-FID against the ``real`` split), ``diversity`` (mean pairwise feature
    distance within a digit, averaged over digits), ``ink`` (mean pixel value in [0, 1]),
    ``cpu_seconds`` (sampling). ``scheduler_factory(parts)`` overrides the DDIM scheduler
    (the chapter shows ``clip_sample=True`` with it). ``keep_images`` adds ``images``
    ``(10 n_per_class, 1, 8, 8)`` (digit-major, on the CPU) to each row.
    """
    check_int("seed", seed, minimum=0)
    prompts, digits = digit_prompts(n_per_class)
    rows = []
    for w in scales:
        check_positive("scales", w, allow_zero=True)
        start = time.process_time()
        scheduler = scheduler_factory(parts) if scheduler_factory is not None else None
        images = guided_sample(parts, prompts, w, num_inference_steps,
                               torch.Generator().manual_seed(seed), scheduler=scheduler)
        # Unclipped DDIM can overshoot [-1, 1] by a little; the pipeline's image output
        # clamps too, and the classifier expects the digits' range.
        images = images.cpu().clamp(-1, 1)
        seconds = time.process_time() - start
        rows.append({
            "guidance_scale": float(w),
            "accuracy": prompt_accuracy(images, digits),
            "fid": samples_fid(images, real),
            "diversity": within_class_spread(images, digits),
            "ink": float(((images + 1) / 2).clamp(0, 1).mean()),
            "cpu_seconds": seconds,
            **({"images": images} if keep_images else {}),
        })
    return rows
