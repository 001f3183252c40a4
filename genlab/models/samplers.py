"""Diffusion samplers written out: DDPM ancestral sampling and DDIM with fewer steps.

The loops are in plain sight (as in diffusers, schedulers apart from models). Each step
turns the network's output into a prediction of x0 (clipped to [-1, 1] by default,
like diffusers' ``clip_sample=True``), then

- DDPM (Ho et al. 2020): x_{t-1} ~ N(posterior mean, sigma_t^2), sigma_t^2 = beta-tilde_t,
  or the learned interpolated variance of Improved DDPM when the model has one;
- DDIM (Song et al. 2021): x_{t'} = sqrt(abar_{t'}) x0 + sqrt(1 - abar_{t'} - s^2) eps
  (+ s z), on a sub-sequence of timesteps; eta = 0 is deterministic.

A ``model`` is called as ``model(x_t, t, labels)`` with t ``(batch,)`` int64; with
``guidance_scale`` w != 1 and labels, the output is uncond + w (cond - uncond)
(classifier-free guidance, Ho & Salimans 2022).
"""

from __future__ import annotations

import torch

from genlab._checks import check_choice, check_finite_number, check_int, check_positive, check_tensor
from genlab.losses.diffusion import (
    PREDICTIONS,
    _check_alphas_cumprod,
    convert_prediction,
    learned_log_variance,
    posterior_mean_variance,
)


def _split_output(model_output, x_t, learned_variance):
    c = x_t.shape[1]
    expected = 2 * c if learned_variance else c
    if model_output.shape[1] != expected or model_output.shape[0] != x_t.shape[0] \
            or model_output.shape[2:] != x_t.shape[2:]:
        raise ValueError(f"model_output must have {expected} channels and x_t's batch and size, "
                         f"got {tuple(model_output.shape)} for x_t {tuple(x_t.shape)}")
    if learned_variance:
        return model_output[:, :c], model_output[:, c:]
    return model_output, None


def _batch_t(t: int, x):
    return torch.full((len(x),), t, dtype=torch.long, device=x.device)


def ddpm_step(model_output: torch.Tensor, t: int, x_t: torch.Tensor, alphas_cumprod: torch.Tensor,
              prediction: str = "epsilon", noise: torch.Tensor | None = None,
              clip_x0: bool = True, learned_variance: bool = False):
    """One ancestral step x_t -> x_{t-1}; returns ``(x_prev, x0_pred)``.

    model_output: ``(batch, C, ...)``, or ``(batch, 2C, ...)`` with ``learned_variance``;
    t: the current timestep (int); noise: standard normal like x_t (drawn if None; unused
    at t = 0, the last step, which returns the mean). Matches diffusers'
    ``DDPMScheduler.step`` (variance ``fixed_small`` or ``learned_range``).
    """
    check_choice("prediction", prediction, PREDICTIONS)
    check_tensor("x_t", x_t, min_ndim=2)
    check_tensor("model_output", model_output, min_ndim=2)
    _check_alphas_cumprod(alphas_cumprod)
    check_int("t", t, minimum=0)
    if t >= len(alphas_cumprod):
        raise ValueError(f"t must be < T={len(alphas_cumprod)}, got {t}")
    pred, var_output = _split_output(model_output, x_t, learned_variance)
    tt = _batch_t(t, x_t)
    x0_pred = convert_prediction(pred, x_t, tt, alphas_cumprod, prediction, "x0")
    if clip_x0:
        x0_pred = x0_pred.clamp(-1, 1)
    mean, variance, _ = posterior_mean_variance(x0_pred, x_t, tt, alphas_cumprod)
    if t == 0:
        return mean, x0_pred
    if noise is None:
        noise = torch.randn_like(x_t)
    if learned_variance:
        std = torch.exp(0.5 * learned_log_variance(var_output, tt, alphas_cumprod))
    else:
        std = variance.sqrt()
    return mean + std * noise, x0_pred


def ddim_timesteps(T: int, num_steps: int) -> list[int]:
    """Decreasing timesteps 0, k, 2k, ... reversed, k = T // num_steps.

    diffusers' ``DDIMScheduler`` with ``timestep_spacing="leading"`` (its default).
    """
    check_int("T", T, minimum=1)
    check_int("num_steps", num_steps, minimum=1)
    if num_steps > T:
        raise ValueError(f"num_steps must be <= T={T}, got {num_steps}")
    ratio = T // num_steps
    return [i * ratio for i in range(num_steps)][::-1]


def ddim_step(model_output: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor,
              alphas_cumprod: torch.Tensor, prediction: str = "epsilon", eta: float = 0.0,
              noise: torch.Tensor | None = None, clip_x0: bool = True):
    """One DDIM step x_t -> x_{t_prev} (t_prev < 0 means the end: abar = 1).

    sigma = eta sqrt((1 - abar_prev) / (1 - abar_t) (1 - abar_t / abar_prev)); eta = 0 is
    deterministic, eta = 1 is DDPM-like. Matches diffusers' ``DDIMScheduler.step``
    (``set_alpha_to_one=True``). Returns ``(x_prev, x0_pred)``.
    """
    check_choice("prediction", prediction, PREDICTIONS)
    check_tensor("x_t", x_t, min_ndim=2)
    check_tensor("model_output", model_output, min_ndim=2)
    _check_alphas_cumprod(alphas_cumprod)
    check_int("t", t, minimum=0)
    check_positive("eta", eta, allow_zero=True)
    if t >= len(alphas_cumprod) or t_prev >= t:
        raise ValueError(f"need t_prev < t < T={len(alphas_cumprod)}, got t={t}, t_prev={t_prev}")
    pred, _ = _split_output(model_output, x_t, False)
    tt = _batch_t(t, x_t)
    x0_pred = convert_prediction(pred, x_t, tt, alphas_cumprod, prediction, "x0")
    eps_pred = convert_prediction(pred, x_t, tt, alphas_cumprod, prediction, "epsilon")
    if clip_x0:
        x0_pred = x0_pred.clamp(-1, 1)
    abar = float(alphas_cumprod[t])
    abar_prev = float(alphas_cumprod[t_prev]) if t_prev >= 0 else 1.0
    sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)) ** 0.5
    x_prev = abar_prev ** 0.5 * x0_pred + max(1 - abar_prev - sigma ** 2, 0.0) ** 0.5 * eps_pred
    if eta > 0:
        x_prev = x_prev + sigma * (torch.randn_like(x_t) if noise is None else noise)
    return x_prev, x0_pred


def _model_output(model, x, t: int, labels, guidance_scale: float):
    tt = _batch_t(t, x)
    if labels is None or guidance_scale == 1.0:
        return model(x, tt, labels)
    null = torch.full_like(labels, model.null_label)
    both = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([labels, null]))
    cond, uncond = both.chunk(2)
    return uncond + guidance_scale * (cond - uncond)


def _check_guidance(model, labels, guidance_scale) -> None:
    check_finite_number("guidance_scale", guidance_scale)
    if guidance_scale == 1.0:
        return
    if getattr(model, "null_label", None) is None:
        raise ValueError(f"guidance_scale={guidance_scale} needs a class-conditional model with "
                         "a null_label (e.g. SmallUNet(num_classes=10)); this one has none: "
                         "leave guidance_scale at 1.0")
    if labels is None:
        raise ValueError(f"guidance_scale={guidance_scale} needs labels (the classes to "
                         "guide towards); pass labels=... or leave guidance_scale at 1.0")


def _start(model, shape, labels, generator, device):
    if not (isinstance(shape, tuple) and all(isinstance(s, int) and s > 0 for s in shape)):
        raise ValueError(f"shape must be a tuple of positive ints like (n, 1, 8, 8), got {shape!r}")
    if device is None:
        device = next(model.parameters()).device
    if labels is not None:
        check_tensor("labels", labels, ndim=1, floating=False)
        if len(labels) != shape[0]:
            raise ValueError(f"labels has {len(labels)} entries for {shape[0]} samples")
        labels = labels.to(device)
    x = torch.randn(shape, generator=generator, device="cpu").to(device)
    return x, labels, device


@torch.no_grad()
def ddpm_sample(model, shape: tuple, alphas_cumprod: torch.Tensor, prediction: str = "epsilon",
                labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
                generator: torch.Generator | None = None, clip_x0: bool = True,
                learned_variance: bool | None = None, device=None) -> torch.Tensor:
    """Ancestral sampling through all T steps; returns ``shape`` samples (about [-1, 1]).

    ``learned_variance`` None reads ``model.learned_variance`` (False if absent).
    ``generator`` (a CPU ``torch.Generator``) makes the run reproducible on any device.
    """
    _check_alphas_cumprod(alphas_cumprod)
    if learned_variance is None:
        learned_variance = bool(getattr(model, "learned_variance", False))
    _check_guidance(model, labels, guidance_scale)
    x, labels, device = _start(model, shape, labels, generator, device)
    was_training = model.training
    model.eval()
    try:
        for t in range(len(alphas_cumprod) - 1, -1, -1):
            out = _model_output(model, x, t, labels, guidance_scale)
            noise = torch.randn(shape, generator=generator).to(device) if t > 0 else None
            x, _ = ddpm_step(out, t, x, alphas_cumprod, prediction, noise, clip_x0, learned_variance)
    finally:
        model.train(was_training)
    return x


@torch.no_grad()
def ddim_sample(model, shape: tuple, alphas_cumprod: torch.Tensor, num_steps: int = 50,
                prediction: str = "epsilon", eta: float = 0.0, labels: torch.Tensor | None = None,
                guidance_scale: float = 1.0, generator: torch.Generator | None = None,
                clip_x0: bool = True, device=None) -> torch.Tensor:
    """DDIM sampling with ``num_steps`` network calls (Song et al. 2021).

    A model with a learned variance is used through its prediction channels only.
    """
    _check_alphas_cumprod(alphas_cumprod)
    steps = ddim_timesteps(len(alphas_cumprod), num_steps)
    _check_guidance(model, labels, guidance_scale)
    x, labels, device = _start(model, shape, labels, generator, device)
    learned = bool(getattr(model, "learned_variance", False))
    was_training = model.training
    model.eval()
    try:
        for i, t in enumerate(steps):
            t_prev = steps[i + 1] if i + 1 < len(steps) else -1
            out = _model_output(model, x, t, labels, guidance_scale)
            if learned:
                out = out[:, : shape[1]]
            noise = torch.randn(shape, generator=generator).to(device) if eta > 0 else None
            x, _ = ddim_step(out, t, t_prev, x, alphas_cumprod, prediction, eta, noise, clip_x0)
    finally:
        model.train(was_training)
    return x
