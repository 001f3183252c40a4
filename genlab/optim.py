"""Optimizer presets and learning-rate schedules, built on ``torch.optim``.

Taught in chapter 04_optimizers_schedules.

Presets carry the settings of the paper that introduced them, so a training loop says
``make_optimizer(critic.parameters(), "wgan_gp")`` instead of copying numbers:

=========  =========  ======  ==============  ==========================================
preset     optimizer  lr      betas / alpha   source
=========  =========  ======  ==============  ==========================================
adam       Adam       1e-3    (0.9, 0.999)    Kingma & Ba 2015, the defaults
gan        Adam       2e-4    (0.5, 0.999)    Radford et al. 2016 (DCGAN)
wgan       RMSprop    5e-5    alpha 0.99      Arjovsky et al. 2017 (WGAN, weight clipping)
wgan_gp    Adam       1e-4    (0.0, 0.9)      Gulrajani et al. 2017 (WGAN-GP)
sngan      Adam       2e-4    (0.0, 0.9)      Miyato et al. 2018 (SN-GAN, hinge loss)
adamw      AdamW      1e-3    (0.9, 0.999)    Loshchilov & Hutter 2019, weight decay 0.01
=========  =========  ======  ==============  ==========================================

This is the one table of optimizer settings: the GAN loop's per-loss recipes
(:data:`genlab.train.gan.PRESETS`) are built from it.

Schedules are ``torch.optim.lr_scheduler`` objects: :func:`warmup_cosine` and
:func:`linear_warmup` are ``LambdaLR`` built from the pure multipliers
:func:`warmup_cosine_multiplier` and :func:`linear_warmup_multiplier`;
:func:`plateau` is a ``ReduceLROnPlateau``. :func:`trace_lr` records what any scheduler
does to the learning rate over steps without training anything, for plots.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch

from genlab._checks import (check_betas, check_choice, check_finite_number, check_int,
                            check_parameters, check_positive, check_tensor)

PRESETS: dict[str, dict] = {
    "adam": {
        "optimizer": "Adam", "lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 0.0,
        "source": "Kingma & Ba 2015, Adam: A Method for Stochastic Optimization (defaults)",
    },
    "gan": {
        "optimizer": "Adam", "lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 0.0,
        "source": "Radford, Metz & Chintala 2016, DCGAN (Adam lr 2e-4, beta1 0.5)",
    },
    "wgan": {
        "optimizer": "RMSprop", "lr": 5e-5, "alpha": 0.99, "momentum": 0.0,
        "weight_decay": 0.0,
        "source": "Arjovsky, Chintala & Bottou 2017, Wasserstein GAN (RMSprop lr 5e-5, "
                  "no momentum, with weight clipping 0.01)",
    },
    "wgan_gp": {
        "optimizer": "Adam", "lr": 1e-4, "betas": (0.0, 0.9), "weight_decay": 0.0,
        "source": "Gulrajani et al. 2017, Improved Training of Wasserstein GANs "
                  "(Adam lr 1e-4, betas (0, 0.9), n_critic 5)",
    },
    "sngan": {
        "optimizer": "Adam", "lr": 2e-4, "betas": (0.0, 0.9), "weight_decay": 0.0,
        "source": "Miyato et al. 2018, Spectral Normalization for GANs "
                  "(Adam lr 2e-4, betas (0, 0.9), n_critic 5, hinge loss)",
    },
    "adamw": {
        "optimizer": "AdamW", "lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 1e-2,
        "source": "Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization (AdamW)",
    },
}

_OPTIMIZERS = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW,
               "RMSprop": torch.optim.RMSprop}


def preset_settings(preset: str) -> dict:
    """A copy of the settings of ``preset`` (one of :data:`PRESETS`), source included."""
    check_choice("preset", preset, sorted(PRESETS))
    return dict(PRESETS[preset])


def make_optimizer(params: Iterable, preset: str = "gan", **overrides) -> torch.optim.Optimizer:
    """A ``torch.optim`` optimizer with the settings of ``preset``.

    params: parameters or parameter groups, as for any torch optimizer.
    preset: ``"adam"``, ``"gan"`` (DCGAN), ``"wgan"``, ``"wgan_gp"`` or ``"adamw"``.
    overrides: settings to change, e.g. ``lr=1e-4`` or ``betas=(0.9, 0.999)``; each must
    be a setting the preset's optimizer has (``betas`` for RMSprop is an error).
    fast: use torch's fused implementation where it exists (``fused=True`` for Adam and
    AdamW when every parameter is a floating tensor on the CPU or CUDA; torch's default
    otherwise). The update is the same up to float rounding; on the small networks of the 2-D and 8x8 demos it removes most of the
    optimizer's per-tensor Python overhead (about 3x faster steps on a CPU). Off by
    default, so a plain call builds exactly the optimizer ``torch.optim`` would.
    """
    fast = overrides.pop("fast", False)
    if not isinstance(fast, bool):
        raise TypeError(f"fast must be True or False, got {fast!r}")
    params = check_parameters("params", params)
    settings = preset_settings(preset)
    kind = settings.pop("optimizer")
    settings.pop("source")
    for name, value in overrides.items():
        if name not in settings and name != "eps":
            raise ValueError(
                f"preset {preset!r} ({kind}) has no setting {name!r}; "
                f"it has {sorted(settings) + ['eps']}"
            )
        settings[name] = value
    check_positive("lr", settings["lr"])
    check_positive("weight_decay", settings["weight_decay"], allow_zero=True)
    if "betas" in settings:
        settings["betas"] = check_betas(settings["betas"])
    if "eps" in settings:
        check_positive("eps", settings["eps"])
    if kind == "RMSprop":
        check_positive("momentum", settings["momentum"], allow_zero=True)
        if not 0.0 <= settings["alpha"] < 1.0:
            raise ValueError(f"alpha must be in [0, 1), got {settings['alpha']}")
    if fast:
        settings.update(_fast_implementation(kind, params))
    return _OPTIMIZERS[kind](params, **settings)


def _fast_implementation(kind: str, params: list) -> dict:
    """``{"fused": True}`` when every parameter sits on a device torch has a fused ``kind``
    kernel for (Adam/AdamW on CPU or CUDA, floating point), ``{}`` otherwise."""
    tensors = []
    for group in params:
        found = group["params"] if isinstance(group, dict) else [group]
        if isinstance(found, torch.Tensor):
            found = [found]
        if not isinstance(found, (list, tuple)):
            return {}  # a generator inside a group: reading it here would empty it
        tensors += list(found)
    if kind in ("Adam", "AdamW") and tensors and all(
            t.device.type in ("cpu", "cuda") and t.is_floating_point() for t in tensors):
        return {"fused": True}
    return {}


_check_betas = check_betas  # the name chapter 04's toys used


# --------------------------------------------------------------------------------------
# Adam, written out (the reference of the chapter's exercise; tested against torch.optim)


def adam_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Adam step (Kingma & Ba 2015, Algorithm 1), without changing the inputs.

    param, grad, exp_avg (first moment m), exp_avg_sq (second moment v): same shape.
    step: the number of this step, starting at 1 (used for the bias corrections).
    Returns ``(new_param, new_exp_avg, new_exp_avg_sq)``, equal to what
    ``torch.optim.Adam`` computes (it adds ``eps`` after the bias correction of v).
    """
    for name, x in [("param", param), ("grad", grad), ("exp_avg", exp_avg),
                    ("exp_avg_sq", exp_avg_sq)]:
        check_tensor(name, x)
        if x.shape != param.shape:
            raise ValueError(f"{name} must have the shape of param {tuple(param.shape)}, "
                             f"got {tuple(x.shape)}")
    check_int("step", step, minimum=1)
    check_positive("lr", lr)
    check_positive("eps", eps)
    _check_betas(betas)
    beta1, beta2 = betas
    exp_avg = beta1 * exp_avg + (1 - beta1) * grad
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
    m_hat = exp_avg / (1 - beta1**step)
    v_hat = exp_avg_sq / (1 - beta2**step)
    new_param = param - lr * m_hat / (v_hat.sqrt() + eps)
    return new_param, exp_avg, exp_avg_sq


# --------------------------------------------------------------------------------------
# Schedules


def _check_schedule(warmup_steps: int, total_steps: int | None) -> None:
    check_int("warmup_steps", warmup_steps, minimum=0)
    if total_steps is not None:
        check_int("total_steps", total_steps, minimum=1)
        if warmup_steps >= total_steps:
            raise ValueError(
                f"warmup_steps ({warmup_steps}) must be smaller than total_steps "
                f"({total_steps}): the warmup would take the whole run"
            )


def warmup_cosine_multiplier(step: int, warmup_steps: int, total_steps: int,
                             min_ratio: float = 0.0) -> float:
    """Factor applied to the base learning rate at ``step`` (0-based).

    Linear warmup from 0: ``step / warmup_steps`` for ``step < warmup_steps``; then a
    half cosine from 1 down to ``min_ratio`` at ``step == total_steps``, and
    ``min_ratio`` after it (Loshchilov & Hutter 2017, SGDR, without restarts; warmup as
    in Goyal et al. 2017). With ``min_ratio=0`` it equals
    ``transformers.get_cosine_schedule_with_warmup`` for steps 0..total_steps.
    """
    check_int("step", step, minimum=0)
    _check_schedule(warmup_steps, total_steps)
    if isinstance(min_ratio, bool) or not isinstance(min_ratio, (int, float)) \
            or not 0.0 <= min_ratio <= 1.0:
        raise ValueError(f"min_ratio must be a number in [0, 1], got {min_ratio!r}")
    if step < warmup_steps:
        return step / warmup_steps
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_ratio + (1.0 - min_ratio) * cosine


def linear_warmup_multiplier(step: int, warmup_steps: int) -> float:
    """``step / warmup_steps`` during the warmup, 1 after it (``step`` is 0-based)."""
    check_int("step", step, minimum=0)
    _check_schedule(warmup_steps, None)
    if step < warmup_steps:
        return step / warmup_steps
    return 1.0


def _check_optimizer(optimizer) -> None:
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                  min_lr: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup from 0 over ``warmup_steps``, then cosine decay to ``min_lr``.

    Call ``scheduler.step()`` once per optimizer step. ``min_lr`` is an absolute rate
    (the same for every parameter group) and must not exceed any group's rate; each
    group decays from its own initial rate. At ``total_steps`` and after, the rate is
    ``min_lr``.
    """
    _check_optimizer(optimizer)
    _check_schedule(warmup_steps, total_steps)
    check_positive("min_lr", min_lr, allow_zero=True)
    lambdas = []
    for i, group in enumerate(optimizer.param_groups):
        base_lr = group.get("initial_lr", group["lr"])
        if min_lr > base_lr:
            raise ValueError(f"min_lr ({min_lr}) is larger than the learning rate of "
                             f"parameter group {i} ({base_lr})")
        ratio = min_lr / base_lr if base_lr > 0 else 0.0

        def multiplier(step, ratio=ratio):
            return warmup_cosine_multiplier(step, warmup_steps, total_steps, ratio)

        lambdas.append(multiplier)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)


def linear_warmup(optimizer: torch.optim.Optimizer,
                  warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup from 0 to each group's rate over ``warmup_steps``, then constant."""
    _check_optimizer(optimizer)
    _check_schedule(warmup_steps, None)
    if warmup_steps == 0:
        raise ValueError("warmup_steps must be >= 1 for a warmup schedule")
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: linear_warmup_multiplier(step, warmup_steps))


def plateau(optimizer: torch.optim.Optimizer, mode: str = "min", factor: float = 0.5,
            patience: int = 5, threshold: float = 1e-4,
            min_lr: float = 0.0) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    """``ReduceLROnPlateau``: multiply the rate by ``factor`` after ``patience`` checks
    without improvement of the monitored metric (lower is better for ``mode="min"``).

    Use it once per validation check, after the optimizer steps::

        for epoch in range(n_epochs):
            train_one_epoch(model, optimizer)
            scheduler.step(validation_loss(model))
    """
    _check_optimizer(optimizer)
    check_choice("mode", mode, ["min", "max"])
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) \
            or not 0.0 < factor < 1.0:
        raise ValueError(f"factor must be a number in (0, 1), got {factor!r}")
    check_int("patience", patience, minimum=0)
    check_positive("threshold", threshold, allow_zero=True)
    check_positive("min_lr", min_lr, allow_zero=True)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=mode, factor=factor, patience=patience, threshold=threshold,
        min_lr=min_lr)


def trace_lr(make_scheduler: Callable, n_steps: int, lr: float = 1.0,
             metrics: Sequence[float] | None = None) -> list[float]:
    """The learning rate a scheduler sets at each of ``n_steps`` steps, without training.

    make_scheduler: ``optimizer -> scheduler``, e.g.
    ``lambda opt: warmup_cosine(opt, 10, 100)`` or
    ``lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=100)``.
    It is called with a fresh SGD optimizer over one dummy parameter, rate ``lr``.
    metrics: for ``ReduceLROnPlateau``, the monitored value at each step (length
    ``n_steps``); required for it and refused for other schedulers.
    Returns a list of ``n_steps`` floats: the rate used by step 0, 1, ...
    """
    if not callable(make_scheduler):
        raise TypeError("make_scheduler must be a function optimizer -> scheduler")
    check_int("n_steps", n_steps, minimum=1)
    check_positive("lr", lr)
    dummy = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([dummy], lr=lr)
    scheduler = make_scheduler(optimizer)
    is_plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if not (is_plateau or isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)):
        raise TypeError(f"make_scheduler must return a torch scheduler, got "
                        f"{type(scheduler).__name__}")
    if scheduler.optimizer is not optimizer:
        raise ValueError("make_scheduler must build its scheduler on the optimizer it is given")
    if is_plateau:
        if metrics is None or len(metrics) != n_steps:
            raise ValueError("ReduceLROnPlateau needs metrics: one value per step "
                             f"(n_steps={n_steps})")
        for i, value in enumerate(metrics):
            check_finite_number(f"metrics[{i}]", value)  # NaN never "improves": it would
            # silently count as a bad epoch and cut the rate
    elif metrics is not None:
        raise ValueError("metrics are only used by ReduceLROnPlateau")
    rates = []
    for step in range(n_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradient: nothing moves, but torch sees the usual order
        if is_plateau:
            scheduler.step(float(metrics[step]))
        else:
            scheduler.step()
    return rates
