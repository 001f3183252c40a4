"""One GAN training loop for every loss of chapter 01_gan_losses, in the loop contract.

:func:`train_gan` trains any generator/discriminator pair with any loss of
:data:`genlab.losses.gan.GAN_LOSSES`, with the settings of a :class:`GANConfig`. One
*step* is ``n_critic`` discriminator updates followed by one generator update::

    for step in range(1, config.steps + 1):
        for _ in range(config.n_critic):
            d_record = critic_step(generator, discriminator, real_batch(), noise(), ...)
        g_record = generator_step(generator, discriminator, noise(), ...)
        history.log(step, **record)        # d_loss (mean over the critic updates), g_loss
        run.step_done(step)                # EMA, LR decay, snapshots, your callbacks

:func:`critic_step` and :func:`generator_step` are the two updates a chapter shows; the
extras are callbacks of :mod:`genlab.train.loop`'s contract (:class:`GeneratorEMA`,
:class:`LinearLRDecay`, :class:`GANSnapshots`) and the functions :func:`lazy_r1_weight`
and :func:`ema_update_`. Every optimizer update goes through :func:`optimizer_step`
(:func:`genlab.stabilize.scaled_step`, the one AMP step), mixed precision through
:func:`autocast_context` and :func:`make_grad_scaler`: the places a stabilization method
plugs in (chapter 05).

:func:`train_gan_2d` builds the 2-D MLPs and a ring or grid data set and calls
:func:`train_gan`; :func:`gan_preset` returns each loss's published settings as a config.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from genlab._checks import check_betas, check_choice, check_int, check_module, check_positive
from genlab.data.toy2d import TOY_DATASETS, toy_dataset
from genlab.device import get_device, seed_everything
from genlab.history import GANRun, History
from genlab.losses.gan import (GAN_LOSSES, clip_weights_, get_gan_loss, gradient_penalty,
                               r1_penalty)
from genlab.metrics.modes import mode_coverage
from genlab.models.latent import GaussianPrior, make_prior
from genlab.models.mlp2d import MLPDiscriminator, MLPGenerator
from genlab.optim import PRESETS as OPTIMIZER_PRESETS, make_optimizer
from genlab.stabilize import apply_spectral_norm, mixed_precision, scaled_step
from genlab.train.loop import Callback, LoopState, TrainingRun, as_callbacks, guard

SMOOTHABLE_LOSSES = ("minimax", "nonsaturating")  # losses whose D loss takes real_target

# Published settings per loss. The optimizer numbers come from the one table of
# optimizer presets, genlab.optim.PRESETS (which names each paper); here only which
# preset each loss uses and its loss-specific settings:
#   minimax, nonsaturating, lsgan: DCGAN (Radford et al. 2016) / LSGAN (Mao et al. 2017):
#       preset "gan" (Adam lr 2e-4, betas (0.5, 0.999)), one D update per G update.
#   wgan: Arjovsky et al. 2017, Algorithm 1: preset "wgan" (RMSprop lr 5e-5), clip 0.01,
#       n_critic 5.
#   wgan-gp: Gulrajani et al. 2017, Algorithm 1: preset "wgan_gp" (Adam lr 1e-4, betas
#       (0, 0.9)), lambda 10, n_critic 5.
#   hinge: Miyato et al. 2018 (SN-GAN): preset "sngan" (Adam lr 2e-4, betas (0, 0.9)),
#       spectral norm on D, n_critic 5.
_LOSS_RECIPES: dict[str, tuple[str, dict]] = {
    "minimax": ("gan", dict(n_critic=1)),
    "nonsaturating": ("gan", dict(n_critic=1)),
    "lsgan": ("gan", dict(n_critic=1)),
    "wgan": ("wgan", dict(n_critic=5, weight_clip=0.01)),
    "wgan-gp": ("wgan_gp", dict(n_critic=5, gp_weight=10.0)),
    "hinge": ("sngan", dict(n_critic=5, spectral_norm=True)),
}


def _recipe(optimizer_preset: str, extra: dict) -> dict:
    settings = OPTIMIZER_PRESETS[optimizer_preset]
    kind = {"Adam": "adam", "RMSprop": "rmsprop"}[settings["optimizer"]]
    recipe = dict(optimizer=kind, lr_g=settings["lr"], lr_d=settings["lr"])
    if kind == "adam":
        recipe["betas"] = tuple(settings["betas"])
    return {**recipe, **extra}


#: :class:`GANConfig` fields per loss, built from :data:`genlab.optim.PRESETS`.
PRESETS: dict[str, dict] = {loss: _recipe(*spec) for loss, spec in _LOSS_RECIPES.items()}

#: Old spellings of GANConfig fields, still accepted by :func:`train_gan_2d` (chapters
#: 01 and 05 were written with them).
RENAMED = {"g_lr": "lr_g", "d_lr": "lr_d"}


@dataclass
class GANConfig:
    """Settings of one GAN run; checked when built. Defaults: DCGAN's (Radford et al. 2016).

    loss: a name of ``GAN_LOSSES`` (``"minimax"``, ``"nonsaturating"``, ``"lsgan"``,
    ``"wgan"``, ``"wgan-gp"``, ``"hinge"``). steps: generator updates, each after
    ``n_critic`` discriminator updates on ``batch_size`` real and fake samples.
    optimizer: ``"adam"`` (with ``betas``) or ``"rmsprop"``; ``lr_g`` and ``lr_d`` are
    the two learning rates (TTUR, Heusel et al. 2017, uses ``lr_d > lr_g``).
    weight_clip: clamp D's weights to +-this after each D update (None: 0.01 for
    ``"wgan"``, off otherwise; 0 turns it off). gp_weight: gradient-penalty weight (None:
    10 for ``"wgan-gp"``, 0 otherwise). real_target: 0.9 is one-sided label smoothing
    (minimax losses only). spectral_norm: wrap D's layers in spectral norm (in place).
    grad_clip: clip each network's gradient norm to this; the pre-clip norms are logged
    as ``d_grad_norm`` and ``g_grad_norm``. lr_decay: both learning rates decay linearly
    to 0 over the run. amp: mixed precision (CUDA fp16 with a gradient scaler, CPU bf16).
    ema_decay: keep an exponential moving average of G's weights (e.g. 0.999; Yazici et
    al. 2019), see :class:`GeneratorEMA`. r1_weight, r1_every: the zero-centred R1
    penalty on real data (Mescheder et al. 2018) with weight ``r1_weight * r1_every`` on
    every ``r1_every``-th D update (StyleGAN2's lazy regularization; 0 turns it off).
    snapshot_every: keep ``n_snapshot`` samples from fixed noise every that many steps
    and at the end (0: only at the end). progress: the tqdm bar (None: on, except while
    grading and under pytest).
    """

    loss: str = "nonsaturating"
    steps: int = 2000
    batch_size: int = 256
    optimizer: str = "adam"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1
    weight_clip: float | None = None
    gp_weight: float | None = None
    real_target: float = 1.0
    spectral_norm: bool = False
    grad_clip: float | None = None
    lr_decay: bool = False
    amp: bool = False
    ema_decay: float | None = None
    r1_weight: float = 0.0
    r1_every: int = 1
    snapshot_every: int = 0
    n_snapshot: int = 1000
    progress: bool | None = None

    def __post_init__(self) -> None:
        get_gan_loss(self.loss)  # a clear error for an unknown loss
        check_int("steps", self.steps, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_choice("optimizer", self.optimizer, ("adam", "rmsprop"))
        check_positive("lr_g", self.lr_g)
        check_positive("lr_d", self.lr_d)
        self.betas = check_betas(self.betas)
        check_int("n_critic", self.n_critic, minimum=1)
        check_positive("weight_clip", self.clip, allow_zero=True)
        check_positive("gp_weight", self.penalty, allow_zero=True)
        check_positive("real_target", self.real_target)
        if self.real_target != 1.0 and self.loss not in SMOOTHABLE_LOSSES:
            raise ValueError(
                f"real_target (label smoothing) applies to the losses {SMOOTHABLE_LOSSES}, "
                f"not to {self.loss!r}; leave it at 1.0")
        for name in ("spectral_norm", "lr_decay", "amp"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.grad_clip is not None:
            check_positive("grad_clip", self.grad_clip)
        if self.ema_decay is not None:
            check_positive("ema_decay", self.ema_decay, allow_zero=True)
            if self.ema_decay >= 1:
                raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        check_positive("r1_weight", self.r1_weight, allow_zero=True)
        check_int("r1_every", self.r1_every, minimum=1)
        check_int("snapshot_every", self.snapshot_every, minimum=0)
        check_int("n_snapshot", self.n_snapshot, minimum=1)
        if self.progress is not None and not isinstance(self.progress, bool):
            raise TypeError(f"progress must be True or False (or None: on except while "
                            f"grading and under pytest), got {self.progress!r}")

    @property
    def clip(self) -> float:
        """The weight clip in use: ``weight_clip``, or the loss's default (WGAN: 0.01)."""
        if self.weight_clip is not None:
            return self.weight_clip
        return 0.01 if self.loss == "wgan" else 0.0

    @property
    def penalty(self) -> float:
        """The gradient-penalty weight in use: ``gp_weight``, or the loss's (WGAN-GP: 10)."""
        if self.gp_weight is not None:
            return self.gp_weight
        return 10.0 if self.loss == "wgan-gp" else 0.0

    def settings(self) -> dict:
        """The settings as a plain dict, defaults resolved (what ``history.meta`` keeps)."""
        return {**dataclasses.asdict(self), "weight_clip": self.clip, "gp_weight": self.penalty}


def gan_preset(loss: str, **overrides) -> GANConfig:
    """A :class:`GANConfig` with ``loss``'s published hyperparameters (and ``overrides``)."""
    check_choice("loss", loss, sorted(PRESETS))
    return GANConfig(loss=loss, **{**PRESETS[loss], **overrides})


# --- the pieces a stabilization method replaces --------------------------------------------

def autocast_context(device: torch.device, amp: bool):
    """Mixed-precision context for forward passes: CUDA fp16, CPU bf16, or nothing.

    Delegates to :func:`genlab.stabilize.mixed_precision`; MPS and other devices run in
    float32 (``amp`` is ignored there, with a warning).
    """
    if not amp:
        return contextlib.nullcontext()
    return mixed_precision(amp, device).autocast()


def make_grad_scaler(device: torch.device, amp: bool):
    """A ``torch.amp.GradScaler`` for CUDA fp16 (its small gradients underflow without
    scaling), else ``None``: bf16 has float32's exponent range and needs none."""
    if not amp:
        return None
    recipe = mixed_precision(amp, device)
    return recipe.make_scaler() if recipe.needs_scaler else None


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                   params: list[torch.Tensor], scaler=None,
                   grad_clip: float | None = None) -> float | None:
    """Zero the gradients, then :func:`genlab.stabilize.scaled_step`: backward, unscale,
    clip ``params`` to ``grad_clip``, step (skipped by the scaler on overflow).

    Returns the gradient norm *before* clipping (a float; ``inf`` on an overflowed fp16
    step, which is not clipped) when ``grad_clip`` is set, else ``None``.
    """
    optimizer.zero_grad(set_to_none=True)
    if grad_clip is None:
        scaled_step(loss, optimizer, scaler)
        return None
    return scaled_step(loss, optimizer, scaler, params, max_norm=grad_clip)


def _gan_optimizer(params, kind: str, lr: float, betas) -> torch.optim.Optimizer:
    """``"adam"`` (with ``betas``) or ``"rmsprop"`` (WGAN's choice), through
    :func:`genlab.optim.make_optimizer` (its ``"adam"`` and ``"wgan"`` presets)."""
    if kind == "adam":
        return make_optimizer(params, "adam", lr=lr, betas=betas, fast=True)
    return make_optimizer(params, "wgan", lr=lr)


def _real_batch(sample_real, batch_size: int) -> torch.Tensor:
    """``sample_real(batch_size)``, checked to be a floating tensor of ``batch_size`` rows
    (a shape check only: no device sync)."""
    real = sample_real(batch_size)
    if not isinstance(real, torch.Tensor) or not real.is_floating_point() \
            or real.ndim < 2 or len(real) != batch_size:
        got = (f"{real.dtype} tensor of shape {tuple(real.shape)}"
               if isinstance(real, torch.Tensor) else type(real).__name__)
        raise ValueError(f"sample_real({batch_size}) must return a floating tensor of "
                         f"shape ({batch_size}, ...), got a {got}")
    return real


def _no_guard(**values) -> None:
    pass


# --- the two updates ------------------------------------------------------------------------

def critic_step(generator: nn.Module, discriminator: nn.Module, real: torch.Tensor,
                z: torch.Tensor, d_optimizer: torch.optim.Optimizer, config: GANConfig, *,
                r1_weight: float = 0.0, scaler=None, check=_no_guard) -> dict[str, float]:
    """One discriminator update on ``real`` ``(batch, ...)`` and fakes ``generator(z)``.

    The D loss of ``config.loss`` (+ gradient penalty, + ``r1_weight`` times the R1
    penalty), checked by ``check(**values)`` (the loop's NaN guard) *before* the update,
    then the update and WGAN's weight clipping. Returns ``d_loss`` (penalties included)
    and, where used, ``gp``, ``r1`` and ``d_grad_norm``; for the losses on logits
    (minimax, non-saturating) also ``d_real`` and ``d_fake``, D's mean probabilities.
    """
    d_loss_fn, _ = get_gan_loss(config.loss)
    device, amp = real.device, config.amp
    with torch.no_grad(), autocast_context(device, amp):
        fake = generator(z)
    with autocast_context(device, amp):
        real_out, fake_out = discriminator(real).float(), discriminator(fake).float()
    check(real_out=real_out, fake_out=fake_out)
    smoothing = {"real_target": config.real_target} if config.loss in SMOOTHABLE_LOSSES else {}
    d_loss = d_loss_fn(real_out, fake_out, **smoothing)
    record = {}
    # the penalties in float32: they differentiate a gradient, fragile in fp16
    with torch.autocast(device_type=device.type, enabled=False):
        if config.penalty > 0:
            record["gp"] = gradient_penalty(discriminator, real.float(), fake.float(),
                                            weight=config.penalty)
        if r1_weight > 0:
            record["r1"] = r1_penalty(discriminator, real.float(), weight=r1_weight)
    for penalty in record.values():
        d_loss = d_loss + penalty
    record = {"d_loss": float(d_loss.detach()),
              **{k: float(v.detach()) for k, v in record.items()}}
    if smoothing:
        record.update(d_real=float(torch.sigmoid(real_out.detach()).mean()),
                      d_fake=float(torch.sigmoid(fake_out.detach()).mean()))
    check(d_loss=record["d_loss"])  # the penalties can overflow too
    params = [p for p in discriminator.parameters() if p.requires_grad]
    norm = optimizer_step(d_loss, d_optimizer, params, scaler, config.grad_clip)
    if config.clip > 0:
        clip_weights_(discriminator, config.clip)
    if norm is not None:
        record["d_grad_norm"] = norm
    return record


def generator_step(generator: nn.Module, discriminator: nn.Module, z: torch.Tensor,
                   g_optimizer: torch.optim.Optimizer, config: GANConfig, *, scaler=None,
                   check=_no_guard) -> dict[str, float]:
    """One generator update on noise ``z``: the G loss of ``config.loss`` on D's output.

    D's parameters are frozen for this pass (no gradient is spent on them) and unfrozen
    afterwards, even after an error. ``check(**values)`` guards D's output and the loss
    before the update. Returns ``g_loss`` and, with ``grad_clip``, ``g_grad_norm``.
    """
    _, g_loss_fn = get_gan_loss(config.loss)
    d_params = [p for p in discriminator.parameters() if p.requires_grad]
    for p in d_params:
        p.requires_grad_(False)
    try:
        with autocast_context(z.device, config.amp):
            fake_out = discriminator(generator(z)).float()
        check(fake_out=fake_out)
        g_loss = g_loss_fn(fake_out)
        record = {"g_loss": float(g_loss.detach())}
        check(g_loss=record["g_loss"])
        params = [p for p in generator.parameters() if p.requires_grad]
        norm = optimizer_step(g_loss, g_optimizer, params, scaler, config.grad_clip)
    finally:
        for p in d_params:
            p.requires_grad_(True)
    if norm is not None:
        record["g_grad_norm"] = norm
    return record


def lazy_r1_weight(config: GANConfig, d_updates: int) -> float:
    """R1's weight on D update number ``d_updates`` (0-based): ``r1_weight * r1_every`` on
    every ``r1_every``-th update, 0 on the others (StyleGAN2's lazy regularization)."""
    if config.r1_weight > 0 and d_updates % config.r1_every == 0:
        return config.r1_weight * config.r1_every
    return 0.0


# --- EMA, LR decay, snapshots: callbacks the loop calls after each step ---------------------

def ema_update_(ema_model: nn.Module, model: nn.Module, decay: float) -> None:
    """One step of an exponential moving average of ``model``'s weights, in place:
    ``ema <- decay * ema + (1 - decay) * param`` for every parameter; buffers (e.g.
    batch-norm statistics) are copied. Polyak averaging of GAN weights (Yazici et al.
    2019, "The unusual effectiveness of averaging in GAN training")."""
    check_positive("decay", decay, allow_zero=True)
    if decay > 1:
        raise ValueError(f"decay must be in [0, 1], got {decay}")
    with torch.no_grad():
        for ema_param, param in zip(ema_model.parameters(), model.parameters()):
            ema_param.lerp_(param.detach().to(ema_param.dtype), 1.0 - decay)
        for ema_buf, buf in zip(ema_model.buffers(), model.buffers()):
            ema_buf.copy_(buf)


def ema_decay_at(decay: float, step: int) -> float:
    """The decay used at update ``step`` (1, 2, ...): ``min(decay, (1 + step) / (10 + step))``,
    TensorFlow's ``ExponentialMovingAverage`` warm-up, so the average forgets the random
    initial weights quickly instead of keeping ``decay ** steps`` of them."""
    return min(decay, (1.0 + step) / (10.0 + step))


class GeneratorEMA(Callback):
    """Keeps ``ema`` (a copy of the generator in eval mode) as the weight average: after
    every step :func:`ema_update_` with decay :func:`ema_decay_at` ``(decay, step)``."""

    def __init__(self, generator: nn.Module, decay: float):
        self.generator, self.decay = generator, decay
        self.ema = copy.deepcopy(generator).eval()
        self.ema.requires_grad_(False)

    def on_step_end(self, state: LoopState) -> None:
        ema_update_(self.ema, self.generator, ema_decay_at(self.decay, state.step))


class LinearLRDecay(Callback):
    """Both learning rates decay linearly to 0 over ``steps`` (stepped after each step)."""

    def __init__(self, optimizers, steps: int):
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - i / steps)
                           for opt in optimizers]

    def on_step_end(self, state: LoopState) -> None:
        for scheduler in self.schedulers:
            scheduler.step()


class GANSnapshots(Callback):
    """Samples of ``sampler`` on fixed noise ``(n, latent_dim)`` drawn by ``noise(n)`` when
    training begins, kept in ``history.snapshots`` every ``every`` steps (0: never), at
    the last step, and where an interrupted or stopped run ended; each is handed to
    ``on_snapshot(step, samples, history)`` if given (e.g. ``EvalHook.on_samples``)."""

    def __init__(self, sampler: nn.Module, noise: Callable[[int], torch.Tensor], n: int,
                 every: int, last: int, on_snapshot=None):
        self.sampler, self.noise, self.n = sampler, noise, n
        self.every, self.last, self.on_snapshot = every, last, on_snapshot

    def on_train_begin(self, state: LoopState) -> None:
        self.fixed_z = self.noise(self.n)

    def take(self, step: int, history: History) -> None:
        was_training = self.sampler.training
        self.sampler.eval()
        with torch.no_grad():
            samples = self.sampler(self.fixed_z).float().cpu()
        self.sampler.train(was_training)
        history.snapshot(step, samples)
        if self.on_snapshot is not None:
            self.on_snapshot(step, samples, history)

    def on_step_end(self, state: LoopState) -> None:
        if (self.every and state.step % self.every == 0) or state.step == self.last:
            self.take(state.step, state.history)

    def on_train_end(self, state: LoopState) -> None:
        snapshots = state.history.snapshots
        if state.step and (not snapshots or snapshots[-1][0] != state.step):
            self.take(state.step, state.history)


def _step_record(d_records: list[dict], g_record: dict) -> dict[str, float]:
    """What one step logs: D's values averaged over the step's critic updates, G's."""
    record = {"d_loss": sum(r["d_loss"] for r in d_records) / len(d_records),
              "g_loss": g_record["g_loss"]}
    for name in ("gp", "r1", "d_grad_norm"):
        values = [r[name] for r in d_records if name in r]
        if values:
            record[name] = sum(values) / len(values)
    if "g_grad_norm" in g_record:
        record["g_grad_norm"] = g_record["g_grad_norm"]
    return record


def _latent_dim(generator: nn.Module, latent_dim: int | None) -> int:
    if latent_dim is not None:
        return check_int("latent_dim", latent_dim, minimum=1)
    if hasattr(generator, "latent_dim"):
        return int(generator.latent_dim)
    raise ValueError("latent_dim is needed: the generator has no latent_dim attribute")


def _latent_prior(generator: nn.Module, latent_prior):
    """The prior to draw noise from: ``latent_prior`` (checked against the generator's
    ``latent_dim``) or ``N(0, I)`` in ``generator.latent_dim`` dimensions."""
    latent_dim = getattr(generator, "latent_dim", None)
    if latent_prior is None:
        if latent_dim is None:
            raise ValueError("the generator has no latent_dim attribute: pass latent_prior "
                             "(e.g. GaussianPrior(dim))")
        return GaussianPrior(int(latent_dim))
    if not callable(getattr(latent_prior, "sample", None)) or not hasattr(latent_prior, "dim"):
        raise TypeError("latent_prior must have a sample(n, device=...) method and a dim, "
                        f"got {type(latent_prior).__name__}")
    if latent_dim is not None and latent_prior.dim != latent_dim:
        raise ValueError(f"latent_prior draws {latent_prior.dim}-dimensional noise but the "
                         f"generator takes latent_dim={latent_dim}")
    return latent_prior


# --- the loop -------------------------------------------------------------------------------

def train_gan(config: GANConfig, sample_real: Callable[[int], torch.Tensor],
              generator: nn.Module, discriminator: nn.Module, *, callbacks=(),
              latent_prior=None, g_optimizer: torch.optim.Optimizer | None = None,
              d_optimizer: torch.optim.Optimizer | None = None, on_snapshot=None,
              device: torch.device | str | None = None) -> History:
    """Train ``generator`` against ``discriminator`` with ``config``; return the History.

    sample_real(n): ``n`` real samples ``(n, ...)``. generator: maps ``(batch, dim)``
    noise from ``latent_prior`` (default ``N(0, I)`` in ``generator.latent_dim``
    dimensions; or a :class:`~genlab.models.latent.MixturePrior`) to samples;
    discriminator: samples to raw outputs ``(batch,)`` or ``(batch, 1)``.
    callbacks: Callbacks or functions ``fn(step, history)`` (:mod:`genlab.train.loop`).
    g_optimizer, d_optimizer: your own optimizers (default: ``config.optimizer``).
    on_snapshot: ``on_snapshot(step, samples, history)`` for each snapshot. device: where
    to train (default: the generator's).

    Logged series: ``d_loss`` (mean over the step's critic updates, penalty included),
    ``g_loss``, ``gp`` and ``r1`` (if used), ``d_grad_norm``/``g_grad_norm`` (with
    ``grad_clip``). ``meta``: the settings, ``ema_generator`` (with ``ema_decay``: the
    weight average, which then also draws the snapshots) and the contract's keys. NaN/inf
    in a network's output or a loss raises :class:`~genlab.history.DivergenceError` before
    that update; Ctrl-C returns the History with ``meta["interrupted"] = True`` (the last
    snapshot is still taken).
    """
    # 1. prepare
    if not isinstance(config, GANConfig):
        raise TypeError(f"config must be a GANConfig, got {type(config).__name__}")
    if not callable(sample_real):
        raise TypeError(f"sample_real must be callable, got {type(sample_real).__name__}")
    check_module("generator", generator)
    check_module("discriminator", discriminator)
    callbacks = as_callbacks(callbacks)
    prior = _latent_prior(generator, latent_prior)
    device = torch.device(device) if device is not None else next(generator.parameters()).device
    generator.to(device).train()
    if config.spectral_norm:
        apply_spectral_norm(discriminator)
    discriminator.to(device).train()
    g_opt = g_optimizer or _gan_optimizer([p for p in generator.parameters() if p.requires_grad],
                                          config.optimizer, config.lr_g, config.betas)
    d_opt = d_optimizer or _gan_optimizer(
        [p for p in discriminator.parameters() if p.requires_grad],
        config.optimizer, config.lr_d, config.betas)
    extras: list[Callback] = []
    ema = GeneratorEMA(generator, config.ema_decay) if config.ema_decay is not None else None
    if ema is not None:
        extras.append(ema)
    if config.lr_decay:
        extras.append(LinearLRDecay((g_opt, d_opt), config.steps))
    g_scaler, d_scaler = make_grad_scaler(device, config.amp), make_grad_scaler(device, config.amp)
    history = History(meta={**config.settings(), "device": str(device),
                            "latent_prior": repr(prior)})
    if ema is not None:
        history.meta["ema_generator"] = ema.ema

    def noise(n: int) -> torch.Tensor:
        return prior.sample(n, device=device)

    extras.append(GANSnapshots(ema.ema if ema is not None else generator, noise,
                               config.n_snapshot, config.snapshot_every, config.steps,
                               on_snapshot))
    state = LoopState(history, config, models={"generator": generator,
                                               "discriminator": discriminator})
    with TrainingRun(state, extras + callbacks, config.steps, f"GAN ({config.loss})",
                     config.progress) as run:
        for step in range(1, config.steps + 1):
            check = functools.partial(guard, history, step)  # the NaN guard of this step
            # 2. n_critic discriminator updates, then one generator update
            d_records = []
            for i in range(config.n_critic):
                real = _real_batch(sample_real, config.batch_size).to(device)
                d_records.append(critic_step(
                    generator, discriminator, real, noise(config.batch_size), d_opt, config,
                    r1_weight=lazy_r1_weight(config, (step - 1) * config.n_critic + i),
                    scaler=d_scaler, check=check))
            g_record = generator_step(generator, discriminator, noise(config.batch_size),
                                      g_opt, config, scaler=g_scaler, check=check)
            # 3. log, then 4. EMA, LR decay, snapshots and your callbacks
            record = _step_record(d_records, g_record)
            history.log(step, **record)
            if run.step_done(step, d_loss=record["d_loss"], g_loss=record["g_loss"]):
                break
    history.meta["seconds"] = history.meta["wall_seconds"]  # the name chapter 01 used
    return history


# --- 2-D convenience -----------------------------------------------------------------------

def train_gan_2d(
    dataset: str = "ring",
    loss: str = "nonsaturating",
    *,
    seed: int = 0,
    latent_dim: int = 2,
    hidden: int = 128,
    n_hidden: int = 3,
    latent: str = "gaussian",
    n_components: int = 128,
    component_std: float = 0.05,
    device: torch.device | str | None = None,
    config: GANConfig | None = None,
    callback=None,
    on_snapshot=None,
    **settings,
) -> GANRun:
    """Train the 2-D MLP GAN on the ``"ring"`` (8 modes) or ``"grid"`` (25 modes) mixture.

    Seeds everything with ``seed``, builds :class:`~genlab.models.mlp2d.MLPGenerator`
    and :class:`~genlab.models.mlp2d.MLPDiscriminator` (``hidden`` units, ``n_hidden``
    layers) and calls :func:`train_gan` with ``config`` (default ``GANConfig(loss=loss)``)
    updated by ``settings``, any :class:`GANConfig` fields (e.g. ``steps=500,
    lr_g=2e-3``; the old names ``g_lr``/``d_lr`` are accepted), plus ``callback`` and
    ``on_snapshot``. latent: ``"gaussian"`` (``N(0, I)`` in ``latent_dim`` dimensions) or
    ``"mixture"`` (:class:`~genlab.models.latent.MixturePrior` with ``n_components``
    fixed islands of std ``component_std`` in ``latent_dim`` dimensions, its means drawn
    with ``seed``). On the CPU it trains with one torch thread (restored afterwards).
    Returns a :class:`GANRun` with the history, both networks, the data set's centers
    and std, and the generator's weight average (``ema_generator``) when ``ema_decay`` is
    given (``None`` otherwise): sample from it, e.g. ``evaluate_modes(run.ema_generator)``,
    and the ``latent_prior`` (score with ``evaluate_modes(run.generator, dataset,
    latent_prior=run.latent_prior)``).
    """
    check_choice("latent", latent, ("gaussian", "mixture"))
    for old_name, name in RENAMED.items():
        if old_name in settings:
            if name in settings:
                raise TypeError(f"pass {name} or its old name {old_name}, not both")
            settings[name] = settings.pop(old_name)
    if config is None:
        config = GANConfig(loss=loss, **settings)
    elif not isinstance(config, GANConfig):
        raise TypeError(f"config must be a GANConfig or None, got {type(config).__name__}")
    else:
        config = dataclasses.replace(config, **settings)
    prior_options = (dict(n_components=n_components, component_std=component_std, seed=seed)
                     if latent == "mixture" else {})
    prior = make_prior(latent, latent_dim, **prior_options)
    centers, std = toy_dataset(dataset)
    sampler = TOY_DATASETS[dataset]["sample"]
    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    generator = MLPGenerator(latent_dim, hidden, n_hidden).to(device)
    discriminator = MLPDiscriminator(2, hidden, n_hidden).to(device)
    # 2-D MLPs are too small for intra-op threads to pay off: on a busy CPU, threads that
    # wait for each other make each step several times slower, so use one while training.
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        history = train_gan(config, lambda n: sampler(n), generator, discriminator,
                            callbacks=callback, latent_prior=prior, on_snapshot=on_snapshot,
                            device=device)
    finally:
        torch.set_num_threads(threads)
    history.meta.update(dataset=dataset, seed=seed, latent_dim=latent_dim, hidden=hidden,
                        n_hidden=n_hidden, latent=latent)
    if latent == "mixture":
        history.meta.update(n_components=n_components, component_std=component_std)
    return GANRun(history, generator, discriminator, centers, std,
                  history.meta.get("ema_generator"), prior)


def evaluate_modes(generator: nn.Module, dataset: str = "ring", n: int = 2500,
                   seed: int = 1234, n_std: float = 3.0, latent_dim: int | None = None,
                   latent_prior=None, temperature: float = 1.0):
    """Draw ``n`` samples from ``generator`` and score them with
    :func:`genlab.metrics.modes.mode_coverage` on ``dataset``'s modes.

    The noise comes from ``latent_prior`` (the one the generator was trained on, e.g.
    ``run.latent_prior``; default ``N(0, I)``) at ``temperature`` (1 = as trained; below 1
    the noise is shrunk, trading diversity for precision). ``seed`` fixes the noise.
    Returns ``(coverage, samples)``; samples is ``(n, 2)`` float32 on the CPU.
    """
    check_int("n", n, minimum=1)
    centers, std = toy_dataset(dataset)
    rng = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.eval()
    if latent_prior is None:
        latent_prior = GaussianPrior(_latent_dim(generator, latent_dim))
    z = latent_prior.sample(n, generator=rng, temperature=temperature)
    with torch.no_grad():
        samples = generator(z.to(next(generator.parameters()).device)).float().cpu()
    generator.train(was_training)
    return mode_coverage(samples, centers, std, n_std=n_std), samples


__all__ = [
    "GAN_LOSSES", "GANConfig", "GANRun", "GANSnapshots", "GeneratorEMA", "LinearLRDecay",
    "PRESETS", "autocast_context", "critic_step", "ema_decay_at", "ema_update_",
    "evaluate_modes", "gan_preset", "generator_step", "lazy_r1_weight", "make_grad_scaler",
    "optimizer_step", "train_gan", "train_gan_2d",
]
