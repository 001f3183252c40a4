"""One GAN training loop for every loss of chapter 01_gan_losses.

:func:`train_gan` trains any generator/discriminator pair with any loss of
:data:`genlab.losses.gan.GAN_LOSSES`. One *step* is ``n_critic`` discriminator updates
followed by one generator update. The loop, in order, for each step:

1. ``n_critic`` times: real batch, fake batch (no generator gradient), D loss
   (+ label smoothing for the minimax losses, + gradient penalty for WGAN-GP),
   D update (optional gradient-norm clipping), weight clipping for WGAN;
2. fake batch, G loss, G update (D's parameters frozen for this pass);
3. log ``d_loss`` (mean over the ``n_critic`` updates) and ``g_loss``; NaN guard;
   optional snapshot of samples from a fixed batch of noise.

Every optimizer update goes through :func:`optimizer_step`, and mixed precision through
:func:`autocast_context` and :func:`make_grad_scaler`: the three places a stabilization
method plugs in (chapter 05 replaces them by ``genlab.stabilize``'s versions).

:func:`train_gan_2d` builds the 2-D MLPs and a ring or grid data set and calls
:func:`train_gan`; :func:`gan_preset` holds each loss's published hyperparameters.
"""

from __future__ import annotations

import contextlib
import copy
import time
from typing import Callable

import torch
from torch import nn

from genlab._checks import check_betas, check_choice, check_int, check_module, check_positive
from genlab.losses.gan import (GAN_LOSSES, clip_weights_, get_gan_loss, gradient_penalty,
                               r1_penalty)
from genlab.models.latent import GaussianPrior, make_prior
from genlab.optim import PRESETS as OPTIMIZER_PRESETS
from genlab.optim import make_optimizer
from genlab.stabilize import apply_spectral_norm, clip_gradients, mixed_precision
from genlab.history import GANRun, History
from genlab.train.progress import check_callback, progress_bar

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
    recipe = dict(optimizer=kind, g_lr=settings["lr"], d_lr=settings["lr"])
    if kind == "adam":
        recipe["betas"] = tuple(settings["betas"])
    return {**recipe, **extra}


#: ``train_gan`` keyword arguments per loss, built from :data:`genlab.optim.PRESETS`.
PRESETS: dict[str, dict] = {loss: _recipe(*spec) for loss, spec in _LOSS_RECIPES.items()}


def gan_preset(loss: str) -> dict:
    """Keyword arguments of :func:`train_gan` with ``loss``'s published hyperparameters."""
    check_choice("loss", loss, sorted(PRESETS))
    return {"loss": loss, **PRESETS[loss]}


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
    """Backpropagate ``loss`` and update ``params`` with ``optimizer``.

    With a ``scaler`` the loss is scaled and the gradients unscaled before clipping.
    With ``grad_clip`` the total gradient norm is clipped to it
    (:func:`genlab.stabilize.clip_gradients`, over ``torch.nn.utils.clip_grad_norm_``).
    Returns the gradient norm *before* clipping (a float) when ``grad_clip`` is set,
    else ``None``.
    """
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    grad_norm = None
    if grad_clip is not None:
        grad_norm = clip_gradients(params, grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return grad_norm


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


def _set_requires_grad(params: list[torch.Tensor], flag: bool) -> None:
    for param in params:
        param.requires_grad_(flag)


def _guard_finite(history: History, step: int, **outputs: torch.Tensor) -> None:
    """NaN guard on network outputs: a non-finite output ends the run with a
    ``DivergenceError`` (the losses themselves would refuse it with a ``ValueError``)."""
    for name, value in outputs.items():
        if not torch.isfinite(value).all():
            history.check_finite(step, **{name: float("nan")})


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


def _latent_dim(generator: nn.Module, latent_dim: int | None) -> int:
    if latent_dim is not None:
        return check_int("latent_dim", latent_dim, minimum=1)
    if hasattr(generator, "latent_dim"):
        return int(generator.latent_dim)
    raise ValueError("latent_dim is needed: the generator has no latent_dim attribute")


# --- the loop -------------------------------------------------------------------------------

def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    sample_real: Callable[[int], torch.Tensor],
    *,
    loss: str = "nonsaturating",
    steps: int = 2000,
    batch_size: int = 256,
    optimizer: str = "adam",
    g_lr: float = 2e-4,
    d_lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    n_critic: int = 1,
    weight_clip: float | None = None,
    gp_weight: float | None = None,
    real_target: float = 1.0,
    spectral_norm: bool = False,
    grad_clip: float | None = None,
    lr_decay: bool = False,
    amp: bool = False,
    latent_dim: int | None = None,
    device: torch.device | str | None = None,
    g_optimizer: torch.optim.Optimizer | None = None,
    d_optimizer: torch.optim.Optimizer | None = None,
    snapshot_every: int = 0,
    n_snapshot: int = 1000,
    on_snapshot: Callable[[int, torch.Tensor, History], None] | None = None,
    progress: bool | None = None,
    callback: Callable[[int, History], None] | None = None,
    ema_decay: float | None = None,
    latent_prior=None,
    r1_weight: float = 0.0,
    r1_every: int = 1,
) -> History:
    """Train ``generator`` against ``discriminator``; return the run's :class:`History`.

    generator: maps ``(batch, latent_dim)`` noise to samples; discriminator: maps samples
    to raw outputs ``(batch,)`` or ``(batch, 1)``. sample_real(n): ``n`` real samples.
    loss: a name of ``GAN_LOSSES`` (``"minimax"``, ``"nonsaturating"``, ``"lsgan"``,
    ``"wgan"``, ``"wgan-gp"``, ``"hinge"``). steps: generator updates; each follows
    ``n_critic`` discriminator updates. optimizer ``"adam"`` (``betas``) or
    ``"rmsprop"``, with separate learning rates ``g_lr`` and ``d_lr`` (TTUR, Heusel et
    al. 2017 uses d_lr > g_lr); or pass your own ``g_optimizer`` / ``d_optimizer``.
    weight_clip: clamp D's weights to +-this after each D update (default 0.01 for
    ``"wgan"``, off otherwise; 0 turns it off). gp_weight: gradient-penalty weight
    (default 10 for ``"wgan-gp"``, 0 otherwise). real_target: 0.9 is one-sided label
    smoothing (minimax losses only). spectral_norm: wrap D's layers in spectral norm
    (in place). grad_clip: clip each network's gradient norm to this; the pre-clip norms
    are logged as ``d_grad_norm`` and ``g_grad_norm``. lr_decay: decay both learning
    rates linearly to 0 over the run. amp: mixed precision (CUDA fp16 with a gradient
    scaler, CPU bf16). snapshot_every: every that many steps (and at the end) keep
    ``n_snapshot`` samples from fixed noise in ``history.snapshots`` and call
    ``on_snapshot(step, samples, history)``; 0 keeps only the final one.
    progress: show a tqdm bar (None: on, except while grading and under pytest).
    callback: called as ``callback(step, history)`` after every step (e.g. a
    :class:`genlab.viz.LiveLossPlot`). ema_decay: if set (e.g. 0.999), also keep an exponential
    moving average of the generator's weights, updated after every generator update with
    decay ``min(ema_decay, (1 + step) / (10 + step))`` (:func:`ema_decay_at`), returned as
    ``history.meta["ema_generator"]`` (a copy of ``generator`` in eval mode) and used for
    the snapshots; ``None`` (default) keeps none. Averaging the weights removes most of
    the step-to-step oscillation of GAN training, so its samples sit tighter inside the
    modes (Yazici et al. 2019). latent_prior: where the noise comes from, any object
    with ``sample(n, device=...)`` and ``dim`` (:class:`genlab.models.latent.GaussianPrior`
    or :class:`~genlab.models.latent.MixturePrior`); ``None`` (default) draws ``N(0, I)``.
    r1_weight: weight gamma of the zero-centred R1 penalty on real data
    (:func:`genlab.losses.gan.r1_penalty`, Mescheder et al. 2018), added to the D loss of
    every ``r1_every``-th D update with weight ``gamma * r1_every`` (StyleGAN2's lazy
    regularization); 0 (default) turns it off.

    Logged series: ``d_loss`` (mean over the step's critic updates, penalty included),
    ``g_loss``, ``gp`` (if used), ``r1`` (if used, on the steps that apply it),
    ``d_grad_norm``/``g_grad_norm`` (if ``grad_clip``).
    Raises :class:`genlab.train.DivergenceError` (keeping the history) on a NaN or
    infinite loss or network output, checked at every update before it is applied.
    Ctrl-C (KeyboardInterrupt) stops the run and returns the history so far with
    ``meta["interrupted"] = True`` (the final snapshot is still taken), as every genlab
    loop does (:mod:`genlab.train.progress`).
    """
    d_loss_fn, g_loss_fn = get_gan_loss(loss)
    check_module("generator", generator)
    check_module("discriminator", discriminator)
    check_choice("optimizer", optimizer, ("adam", "rmsprop"))
    check_positive("g_lr", g_lr)
    check_positive("d_lr", d_lr)
    betas = check_betas(betas)
    check_int("steps", steps, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_int("n_critic", n_critic, minimum=1)
    check_int("snapshot_every", snapshot_every, minimum=0)
    check_int("n_snapshot", n_snapshot, minimum=1)
    if ema_decay is not None:
        check_positive("ema_decay", ema_decay, allow_zero=True)
        if ema_decay >= 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
    weight_clip = (0.01 if loss == "wgan" else 0.0) if weight_clip is None else weight_clip
    gp_weight = (10.0 if loss == "wgan-gp" else 0.0) if gp_weight is None else gp_weight
    check_positive("weight_clip", weight_clip, allow_zero=True)
    check_positive("gp_weight", gp_weight, allow_zero=True)
    check_positive("r1_weight", r1_weight, allow_zero=True)
    check_int("r1_every", r1_every, minimum=1)
    check_positive("real_target", real_target)
    if real_target != 1.0 and loss not in SMOOTHABLE_LOSSES:
        raise ValueError(
            f"real_target (label smoothing) applies to the losses {SMOOTHABLE_LOSSES}, "
            f"not to {loss!r}; leave it at 1.0"
        )
    if grad_clip is not None:
        check_positive("grad_clip", grad_clip)
    callback = check_callback(callback)
    if not callable(sample_real):
        raise TypeError(f"sample_real must be callable, got {type(sample_real).__name__}")
    if latent_prior is not None:
        if not callable(getattr(latent_prior, "sample", None)) or not hasattr(latent_prior, "dim"):
            raise TypeError("latent_prior must have a sample(n, device=...) method and a dim, "
                            f"got {type(latent_prior).__name__}")
        if latent_dim is None and not hasattr(generator, "latent_dim"):
            latent_dim = latent_prior.dim
    latent_dim = _latent_dim(generator, latent_dim)
    if latent_prior is None:
        latent_prior = GaussianPrior(latent_dim)
    elif latent_prior.dim != latent_dim:
        raise ValueError(f"latent_prior draws {latent_prior.dim}-dimensional noise but the "
                         f"generator takes latent_dim={latent_dim}")
    device = torch.device(device) if device is not None else next(generator.parameters()).device
    generator.to(device).train()
    if spectral_norm:
        apply_spectral_norm(discriminator)
    discriminator.to(device).train()

    g_params = [p for p in generator.parameters() if p.requires_grad]
    ema_generator = None
    if ema_decay is not None:
        ema_generator = copy.deepcopy(generator).eval()
        ema_generator.requires_grad_(False)
    d_params = [p for p in discriminator.parameters() if p.requires_grad]
    g_opt = g_optimizer or _gan_optimizer(g_params, optimizer, g_lr, betas)
    d_opt = d_optimizer or _gan_optimizer(d_params, optimizer, d_lr, betas)
    schedulers = []
    if lr_decay:
        schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - i / steps)
                      for opt in (g_opt, d_opt)]
    g_scaler, d_scaler = make_grad_scaler(device, amp), make_grad_scaler(device, amp)
    d_extra = {"real_target": real_target} if loss in SMOOTHABLE_LOSSES else {}

    history = History()
    history.meta.update(
        loss=loss, steps=steps, batch_size=batch_size, optimizer=optimizer, g_lr=g_lr,
        d_lr=d_lr, betas=tuple(betas), n_critic=n_critic, weight_clip=weight_clip,
        gp_weight=gp_weight, real_target=real_target, spectral_norm=spectral_norm,
        grad_clip=grad_clip, lr_decay=lr_decay, amp=amp, device=str(device),
        ema_decay=ema_decay, latent_prior=repr(latent_prior),
        r1_weight=r1_weight, r1_every=r1_every,
    )
    if ema_generator is not None:
        history.meta["ema_generator"] = ema_generator
    def noise(n: int) -> torch.Tensor:
        return latent_prior.sample(n, device=device)

    fixed_z = noise(n_snapshot)

    def take_snapshot(step: int) -> None:
        sampler = ema_generator if ema_generator is not None else generator
        was_training = sampler.training
        sampler.eval()
        with torch.no_grad():
            samples = sampler(fixed_z).float().cpu()
        sampler.train(was_training)
        history.snapshot(step, samples)
        if on_snapshot is not None:
            on_snapshot(step, samples, history)

    bar = progress_bar(steps, f"GAN ({loss})", progress)
    history.meta["interrupted"] = False
    start = time.perf_counter()
    step = 0
    try:
        for step in range(1, steps + 1):
            # 1. discriminator (critic) updates
            d_losses, gps, r1s, d_norms = [], [], [], []
            for critic_step in range(n_critic):
                real = _real_batch(sample_real, batch_size).to(device)
                with torch.no_grad(), autocast_context(device, amp):
                    fake = generator(noise(batch_size))
                with autocast_context(device, amp):
                    real_out, fake_out = discriminator(real).float(), discriminator(fake).float()
                _guard_finite(history, step, real_out=real_out, fake_out=fake_out)
                d_loss = d_loss_fn(real_out, fake_out, **d_extra)
                if gp_weight > 0:
                    # in float32: the penalty differentiates a gradient, fragile in fp16
                    with torch.autocast(device_type=device.type, enabled=False):
                        gp = gradient_penalty(discriminator, real.float(), fake.float(),
                                              weight=gp_weight)
                    d_loss = d_loss + gp
                    gps.append(float(gp.detach()))
                d_updates = (step - 1) * n_critic + critic_step
                if r1_weight > 0 and d_updates % r1_every == 0:
                    with torch.autocast(device_type=device.type, enabled=False):
                        r1 = r1_penalty(discriminator, real.float(), weight=r1_weight * r1_every)
                    d_loss = d_loss + r1
                    r1s.append(float(r1.detach()))
                d_losses.append(float(d_loss.detach()))
                # every update is guarded before it is applied (the penalties can overflow)
                history.check_finite(step, d_loss=d_losses[-1])
                norm = optimizer_step(d_loss, d_opt, d_params, d_scaler, grad_clip)
                if weight_clip > 0:
                    clip_weights_(discriminator, weight_clip)
                if norm is not None:
                    d_norms.append(norm)

            # 2. generator update; D is frozen so no gradient is spent on its weights
            _set_requires_grad(d_params, False)
            with autocast_context(device, amp):
                fake_out = discriminator(generator(noise(batch_size))).float()
            _guard_finite(history, step, fake_out=fake_out)
            g_loss = g_loss_fn(fake_out)
            g_norm = optimizer_step(g_loss, g_opt, g_params, g_scaler, grad_clip)
            _set_requires_grad(d_params, True)
            if ema_generator is not None:
                ema_update_(ema_generator, generator, ema_decay_at(ema_decay, step))
            for scheduler in schedulers:
                scheduler.step()

            # 3. records, NaN guard, snapshots
            record = {"d_loss": sum(d_losses) / n_critic, "g_loss": float(g_loss.detach())}
            if gps:
                record["gp"] = sum(gps) / len(gps)
            if r1s:
                record["r1"] = sum(r1s) / len(r1s)
            if grad_clip is not None:
                record["d_grad_norm"] = sum(d_norms) / len(d_norms)
                record["g_grad_norm"] = g_norm
            history.log(step, **record)
            history.check_finite(step, d_loss=record["d_loss"], g_loss=record["g_loss"])
            if (snapshot_every and step % snapshot_every == 0) or step == steps:
                take_snapshot(step)
            bar.update(d_loss=record["d_loss"], g_loss=record["g_loss"])
            if callback is not None:
                callback(step, history)
    except KeyboardInterrupt:
        history.meta["interrupted"] = True
        _set_requires_grad(d_params, True)
        if history.recorded_steps() and (not history.snapshots
                                         or history.snapshots[-1][0] != step):
            take_snapshot(max(history.steps["g_loss"]))
    finally:
        bar.close()
        history.meta["seconds"] = time.perf_counter() - start
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
    **train_kwargs,
) -> GANRun:
    """Train the 2-D MLP GAN on the ``"ring"`` (8 modes) or ``"grid"`` (25 modes) mixture.

    Seeds everything with ``seed``, builds :class:`~genlab.models.mlp2d.MLPGenerator`
    and :class:`~genlab.models.mlp2d.MLPDiscriminator` (``hidden`` units, ``n_hidden``
    layers) and calls :func:`train_gan` with ``loss`` and ``train_kwargs`` (any of its
    keyword arguments, e.g. ``**gan_preset("wgan-gp")`` without ``loss``).
    latent: ``"gaussian"`` (``N(0, I)`` in ``latent_dim`` dimensions) or ``"mixture"``
    (:class:`~genlab.models.latent.MixturePrior` with ``n_components`` fixed islands of
    std ``component_std`` in ``latent_dim`` dimensions, its means drawn with ``seed``).
    On the CPU it
    trains with one torch thread (restored afterwards). Returns a
    :class:`GANRun` with the history, both networks, the data set's centers and std, and
    the generator's weight average (``ema_generator``) when ``ema_decay`` is given
    (``None`` otherwise): sample from it, e.g. ``evaluate_modes(run.ema_generator)``, and
    the ``latent_prior`` (score with ``evaluate_modes(run.generator, dataset,
    latent_prior=run.latent_prior)``).
    """
    from genlab.data.toy2d import TOY_DATASETS, toy_dataset
    from genlab.device import get_device, seed_everything
    from genlab.models.mlp2d import MLPDiscriminator, MLPGenerator

    check_choice("latent", latent, ("gaussian", "mixture"))
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
        history = train_gan(generator, discriminator, lambda n: sampler(n), loss=loss,
                            device=device, latent_prior=prior, **train_kwargs)
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
    from genlab.data.toy2d import toy_dataset
    from genlab.metrics.modes import mode_coverage

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
    "GAN_LOSSES", "GANRun", "PRESETS", "autocast_context", "ema_decay_at", "ema_update_",
    "evaluate_modes", "gan_preset",
    "make_grad_scaler", "optimizer_step", "train_gan", "train_gan_2d",
]
