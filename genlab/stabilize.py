"""Stabilizing training: gradient clipping, spectral norm, label smoothing, TTUR, mixed precision.

Taught in chapter 05_stabilization. Each helper is a thin layer over what PyTorch already
provides (``clip_grad_norm_``, the ``spectral_norm`` parametrization, ``torch.autocast`` and
``torch.amp.GradScaler``); the hand-written pieces (power iteration, the loss-scale update)
exist because writing them is the lesson, and the tests check them against torch.

- clipping: :func:`clip_gradients` (returns the norm *before* clipping, for logging),
  :func:`gradient_norm`.
- spectral norm (Miyato et al. 2018): :func:`apply_spectral_norm`,
  :func:`spectral_norm_estimate` (power iteration), :func:`lipschitz_bound`,
  :func:`empirical_lipschitz`.
- label smoothing (Salimans et al. 2016, one-sided): :func:`smoothed_targets`,
  :func:`d_loss_smoothed`.
- TTUR (Heusel et al. 2017; SAGAN, Zhang et al. 2019): :data:`TTUR_DEFAULTS`,
  :func:`ttur_optimizers`.
- mixed precision (Micikevicius et al. 2018): :func:`mixed_precision` returns a
  :class:`MixedPrecision` (autocast context + gradient scaler for the device),
  :func:`scaled_step`; for teaching, :func:`fp16_roundtrip` and :func:`loss_scale_update`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from genlab._checks import (check_betas, check_bool, check_int, check_module, check_positive,
                            check_tensor)
from genlab.device import MixedPrecision, choose_mixed_precision
from genlab.optim import make_optimizer

# ---------------------------------------------------------------------------------------
# Gradient clipping
# ---------------------------------------------------------------------------------------


def _check_norm_type(norm_type) -> float:
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)):
        raise TypeError(f"norm_type must be a number, got {type(norm_type).__name__}")
    if not norm_type > 0:  # inf is allowed: the max-norm
        raise ValueError(f"norm_type must be > 0 (e.g. 2.0 or math.inf), got {norm_type}")
    return float(norm_type)


def _as_param_list(parameters) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        return [parameters]
    if isinstance(parameters, nn.Module):
        raise TypeError("parameters must be tensors, e.g. model.parameters(), not a Module")
    params = list(parameters)
    for p in params:
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"parameters must be tensors, got {type(p).__name__}")
    return params


def gradient_norm(parameters, norm_type: float = 2.0) -> float:
    """Total ``norm_type``-norm of the gradients of ``parameters``, as if concatenated.

    Parameters without a gradient are skipped; returns 0.0 when none has one. The value
    can be ``inf``/``nan`` after an overflow: that is what a NaN guard wants to see.
    """
    params = _as_param_list(parameters)
    _check_norm_type(norm_type)
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norms = torch.stack([torch.linalg.vector_norm(g.float(), norm_type) for g in grads])
    return float(torch.linalg.vector_norm(norms, norm_type))


def clip_gradients(parameters, max_norm: float, norm_type: float = 2.0) -> float:
    """Rescale gradients in place so their total norm is at most ``max_norm``.

    A wrapper over :func:`torch.nn.utils.clip_grad_norm_` (Pascanu et al. 2013): when the
    total norm ``||g||`` of all gradients exceeds ``max_norm`` every gradient is multiplied
    by ``max_norm / ||g||`` (the direction is kept). Returns the total norm *before*
    clipping, as a float, so a training loop can log it ("how often did we clip?").

    parameters: an iterable of tensors (e.g. ``model.parameters()``) or one tensor.
    max_norm: > 0; ``math.inf`` measures without clipping.
    """
    params = _as_param_list(parameters)
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)):
        raise TypeError(f"max_norm must be a number, got {type(max_norm).__name__}")
    if not max_norm > 0:  # also catches NaN
        raise ValueError(f"max_norm must be > 0 (use math.inf to only measure), got {max_norm}")
    _check_norm_type(norm_type)
    if not any(p.grad is not None for p in params):
        return 0.0
    if math.isinf(max_norm):
        return gradient_norm(params, norm_type)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    return float(total)


# ---------------------------------------------------------------------------------------
# Spectral norm
# ---------------------------------------------------------------------------------------

_SN_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
              nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _weight_matrix(weight: torch.Tensor, name: str = "weight") -> torch.Tensor:
    check_tensor(name, weight, min_ndim=2)
    return weight.reshape(weight.shape[0], -1)


def spectral_norm_estimate(weight: torch.Tensor, n_iters: int = 20,
                           v0: torch.Tensor | None = None) -> torch.Tensor:
    """Largest singular value of ``weight`` by power iteration (a 0-d tensor, no grad).

    weight: ``(out, in)`` or a conv kernel ``(out, in, k...)``, reshaped to
    ``(out, in * prod(k))`` as Miyato et al. (2018) and torch's ``spectral_norm`` do.
    Starting from ``v = v0 / ||v0||`` (default: all ones, normalized), each iteration does
    ``u = W v / ||W v||``, ``v = W^T u / ||W^T u||``; the estimate is ``||W v||``. It never
    overshoots sigma_max and converges at the rate ``(sigma_2 / sigma_1)^(2 n_iters)``
    unless ``v0`` is orthogonal to the top singular vector. ``n_iters=0`` returns
    ``||W v0||``. Compare with ``torch.linalg.matrix_norm(W, 2)``.
    """
    check_int("n_iters", n_iters, minimum=0)
    with torch.no_grad():
        w = _weight_matrix(weight).double()
        if v0 is None:
            v = torch.ones(w.shape[1], dtype=w.dtype, device=w.device)
        else:
            check_tensor("v0", v0, ndim=1)
            if v0.shape[0] != w.shape[1]:
                raise ValueError(f"v0 must have {w.shape[1]} entries, got {v0.shape[0]}")
            v = v0.to(w)
        if float(v.norm()) == 0:
            raise ValueError("v0 must not be the zero vector")
        v = v / v.norm()
        for _ in range(n_iters):
            u = w @ v
            u = u / u.norm().clamp_min(1e-30)
            v = w.T @ u
            v = v / v.norm().clamp_min(1e-30)
        return (w @ v).norm().to(weight.dtype)


def _sn_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, _SN_LAYERS)]


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Put every Linear/Conv/ConvTranspose layer of ``module`` under spectral normalization.

    Uses :func:`torch.nn.utils.parametrizations.spectral_norm`: each weight is divided by
    its largest singular value (estimated with ``n_power_iterations`` power iterations per
    training forward pass, the 1 of Miyato et al. 2018), so each layer is 1-Lipschitz and,
    with 1-Lipschitz activations (ReLU, LeakyReLU), so is the network. Changes ``module``
    in place and returns it. Layers that already carry a spectral norm are left alone.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    check_int("n_power_iterations", n_power_iterations, minimum=1)
    layers = _sn_layers(module)
    if not layers:
        raise ValueError("module has no Linear or Conv layer to normalize")
    for layer in layers:
        if not parametrize.is_parametrized(layer, "weight"):
            spectral_norm(layer, n_power_iterations=n_power_iterations)
    return module


def has_spectral_norm(module: nn.Module) -> bool:
    """True if every Linear/Conv layer of ``module`` carries a spectral-norm parametrization."""
    check_module("module", module)
    layers = _sn_layers(module)
    return bool(layers) and all(parametrize.is_parametrized(m, "weight") for m in layers)


def layer_spectral_norms(module: nn.Module) -> list[float]:
    """Exact largest singular value of each Linear/Conv weight (reshaped to 2-D), in order.

    For a spectrally normalized layer this is the weight the layer uses (about 1).
    """
    check_module("module", module)
    norms = []
    with torch.no_grad():
        for layer in _sn_layers(module):
            w = _weight_matrix(layer.weight.detach().float())
            norms.append(float(torch.linalg.matrix_norm(w, 2)))
    return norms


def lipschitz_bound(module: nn.Module) -> float:
    """Upper bound of the Lipschitz constant of an MLP: the product of its layers' norms.

    Valid for a chain of Linear layers with 1-Lipschitz activations (ReLU, LeakyReLU,
    tanh); for conv layers the reshaped-kernel norm is only the usual SN-GAN proxy.
    """
    check_module("module", module)
    norms = layer_spectral_norms(module)
    if not norms:
        raise ValueError("module has no Linear or Conv layer")
    return float(math.prod(norms))


def empirical_lipschitz(module: nn.Module, x: torch.Tensor) -> float:
    """Largest input-gradient norm ``max_i ||d f(x_i) / d x_i||`` over the points ``x``.

    ``module`` maps ``(n, ...)`` to ``(n,)`` or ``(n, 1)`` (a discriminator). A lower bound
    of the true Lipschitz constant, measured where the data lie.
    """
    if not callable(module):
        raise TypeError(f"module must be a network (callable), got {type(module).__name__}")
    check_tensor("x", x, min_ndim=2)
    x = x.detach().clone().requires_grad_(True)
    out = module(x).reshape(len(x), -1)
    if out.shape[1] != 1:
        raise ValueError(f"module must return one value per sample, got shape {tuple(out.shape)}")
    (grad,) = torch.autograd.grad(out.sum(), x)
    return float(grad.reshape(len(x), -1).norm(dim=1).max())


# ---------------------------------------------------------------------------------------
# Label smoothing
# ---------------------------------------------------------------------------------------

def _check_smoothing(smoothing) -> float:
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)):
        raise TypeError(f"smoothing must be a number, got {type(smoothing).__name__}")
    if not 0 <= smoothing < 0.5:  # at 0.5 real and fake targets meet: D learns nothing
        raise ValueError(f"smoothing must be in [0, 0.5), got {smoothing}")
    return float(smoothing)


def smoothed_targets(logits: torch.Tensor, real: bool, smoothing: float = 0.1,
                     two_sided: bool = False) -> torch.Tensor:
    """Targets for a discriminator's logits, shaped, typed and placed like ``logits``.

    One-sided label smoothing (Salimans et al. 2016; the default): real targets are
    ``1 - smoothing`` (0.9 by default), fake targets stay 0. ``two_sided=True`` also lifts
    fake targets to ``smoothing``, which Salimans et al. advise against (it rewards fakes
    where the data are absent). ``smoothing`` must lie in [0, 0.5).
    Usable with any D loss that takes targets, e.g. ``binary_cross_entropy_with_logits``.
    """
    check_tensor("logits", logits, finite=False)
    if not isinstance(real, bool):
        raise TypeError(f"real must be True or False, got {type(real).__name__}")
    smoothing = _check_smoothing(smoothing)
    if real:
        value = 1.0 - smoothing
    else:
        value = smoothing if two_sided else 0.0
    return torch.full_like(logits, value)


def real_loss_and_grad(logits: torch.Tensor, smoothing: float = 0.1
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample D loss on real samples and its derivative with respect to the logit.

    loss(l) = BCE(sigmoid(l), 1 - s) = softplus(-l) + s * l, and
    d loss / d l = sigmoid(l) - (1 - s): zero at ``l* = log((1 - s) / s)`` (2.2 for
    s = 0.1), so D gains nothing by pushing real logits further; with ``s = 0`` the
    gradient only vanishes as ``l`` goes to infinity. Both outputs have ``logits``' shape.
    (The curves of chapter 05's label-smoothing widget.)
    """
    check_tensor("logits", logits)
    target = smoothed_targets(logits, True, smoothing)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return loss, torch.sigmoid(logits) - target


def d_loss_smoothed(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                    smoothing: float = 0.1, two_sided: bool = False) -> torch.Tensor:
    """Discriminator binary cross-entropy with smoothed targets (a scalar, mean over batch).

    ``BCE(real_logits, 1 - smoothing) + BCE(fake_logits, 0 or smoothing)``, computed from
    logits with ``binary_cross_entropy_with_logits`` (stable for large logits). With
    ``smoothing=0`` it is the minimax D loss of Goodfellow et al. (2014).
    real_logits: ``(n,)`` or ``(n, 1)``; fake_logits: ``(m,)`` or ``(m, 1)``.
    """
    check_tensor("real_logits", real_logits, min_ndim=1)
    check_tensor("fake_logits", fake_logits, min_ndim=1)
    real_t = smoothed_targets(real_logits, True, smoothing, two_sided)
    fake_t = smoothed_targets(fake_logits, False, smoothing, two_sided)
    return (F.binary_cross_entropy_with_logits(real_logits, real_t)
            + F.binary_cross_entropy_with_logits(fake_logits, fake_t))


# ---------------------------------------------------------------------------------------
# TTUR: two time-scale update rule
# ---------------------------------------------------------------------------------------

#: Heusel et al. (2017) and SAGAN (Zhang et al. 2019): D learns 4x faster than G, Adam
#: with beta1 = 0 (no momentum: the target D is chasing moves) and beta2 = 0.9.
TTUR_DEFAULTS = {"lr_g": 1e-4, "lr_d": 4e-4, "betas": (0.0, 0.9)}


def ttur_optimizers(generator: nn.Module, discriminator: nn.Module,
                    lr_g: float = TTUR_DEFAULTS["lr_g"], lr_d: float = TTUR_DEFAULTS["lr_d"],
                    betas: tuple[float, float] = TTUR_DEFAULTS["betas"]):
    """Two Adam optimizers ``(opt_g, opt_d)`` with separate learning rates (TTUR).

    Defaults: G 1e-4, D 4e-4, betas (0, 0.9). Equal rates are the special case
    ``lr_g == lr_d``.
    """
    check_module("generator", generator)
    check_module("discriminator", discriminator)
    check_positive("lr_g", lr_g)
    check_positive("lr_d", lr_d)
    betas = check_betas(betas)
    opt_g = make_optimizer(generator.parameters(), "adam", lr=lr_g, betas=betas)
    opt_d = make_optimizer(discriminator.parameters(), "adam", lr=lr_d, betas=betas)
    return opt_g, opt_d


# ---------------------------------------------------------------------------------------
# Mixed precision
# ---------------------------------------------------------------------------------------

# MixedPrecision and the recipe choice live in genlab.device (the lowest layer, which
# get_device's users reach without importing this module); chapter 05 teaches them here.


def mixed_precision(amp=False, device: torch.device | str = "cpu") -> MixedPrecision:
    """Choose the mixed-precision recipe for ``device`` from one ``amp=`` option.

    amp: ``False``/``None``/``"off"`` (fp32), ``True``/``"auto"`` (CUDA: fp16 with a
    gradient scaler, the classic recipe of Micikevicius et al. 2018; CPU: bf16), ``"fp16"``
    or ``"bf16"``. fp16 on the CPU is not supported well by torch, so it falls back to
    bf16 with a warning; bf16 on a CUDA GPU that lacks it raises. On other devices (MPS)
    AMP is turned off with a warning. (The recipe itself: :func:`genlab.device.choose_mixed_precision`.)
    """
    return choose_mixed_precision(amp, device, stacklevel=3)


def scaled_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler | None = None, parameters=None,
                max_norm: float | None = None) -> float:
    """Backward, (unscale), (clip), step and scaler update for one optimizer.

    The order matters: gradients are unscaled *before* clipping, so ``max_norm`` is in
    true units; a step whose gradients overflowed is skipped by the scaler (and the scale
    halved). Zero the gradients yourself before the forward pass.
    Returns the gradient norm before clipping (``inf``/``nan`` on an overflowed fp16
    step) when ``parameters`` is given, else ``nan``.
    """
    check_tensor("loss", loss, finite=False)
    if scaler is None:  # full precision: a plain backward and step
        loss.backward()
    else:
        scaler.scale(loss).backward()
    norm = math.nan
    if parameters is not None:
        params = _as_param_list(parameters)
        if scaler is not None:
            scaler.unscale_(optimizer)
        if max_norm is None:
            norm = gradient_norm(params)
        else:
            if not math.isfinite(gradient_norm(params)):
                norm = math.inf  # don't clip inf grads: the scaler will skip this step
            else:
                norm = clip_gradients(params, max_norm)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    return norm


# -- for teaching: what fp16 does to small gradients, and how a loss scale helps ---------

def fp16_roundtrip(values: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``values`` multiplied by ``scale``, stored in fp16, then divided back in fp32.

    Simulates on any device what happens to a gradient computed in fp16 with a loss scale:
    values below fp16's smallest subnormal (about 6e-8) become 0 unless scaled up;
    values whose scaled version exceeds 65504 become ``inf``.
    """
    check_tensor("values", values)
    check_positive("scale", scale)
    return (values.float() * scale).half().float() / scale


def loss_scale_update(scale: float, found_inf: bool, growth_tracker: int,
                      growth_factor: float = 2.0, backoff_factor: float = 0.5,
                      growth_interval: int = 2000) -> tuple[float, int]:
    """One update of a dynamic loss scale, as :class:`torch.amp.GradScaler` does it.

    After an overflow (``found_inf``) the step is skipped, the scale is multiplied by
    ``backoff_factor`` and the count of good steps restarts at 0. After
    ``growth_interval`` good steps in a row the scale is multiplied by ``growth_factor``.
    Returns ``(new_scale, new_growth_tracker)``.
    """
    check_positive("scale", scale)
    check_bool("found_inf", found_inf)
    check_int("growth_tracker", growth_tracker, minimum=0)
    check_int("growth_interval", growth_interval, minimum=1)
    check_positive("growth_factor", growth_factor)
    check_positive("backoff_factor", backoff_factor)
    if found_inf:
        return scale * backoff_factor, 0
    growth_tracker += 1
    if growth_tracker == growth_interval:
        return scale * growth_factor, 0
    return scale, growth_tracker


def unscale_gradients(grads: Iterable[torch.Tensor], scale: float
                      ) -> tuple[list[torch.Tensor], bool]:
    """Divide scaled gradients by ``scale``; return ``(unscaled, found_inf)``.

    ``found_inf`` is True if any scaled gradient holds ``inf`` or ``nan`` (an overflow:
    the optimizer step must be skipped).
    """
    check_positive("scale", scale)
    grads = list(grads)
    found_inf = any(not bool(torch.isfinite(g).all()) for g in grads)
    return [g.float() / scale for g in grads], found_inf


def activation_bytes(forward) -> int:
    """Bytes of the tensors autograd saves for the backward pass while ``forward()`` runs.

    ``forward``: a no-argument callable running a forward pass (and loss), e.g. under
    :meth:`MixedPrecision.autocast`. Saved activations dominate a training step's memory
    on small batches of big models; autocast stores many of them in 16 bits, which is
    where its memory saving comes from. Counts every save, so a tensor saved by two
    operations counts twice (an upper bound). Works on every device.
    """
    if not callable(forward):
        raise TypeError(f"forward must be callable, got {type(forward).__name__}")
    total = 0

    def pack(t: torch.Tensor):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        forward()
    return total
