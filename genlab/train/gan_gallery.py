"""Many small 2-D GANs trained as one batched computation (chapter 01's gallery).

:func:`train_gan_2d_many` trains one 2-D MLP GAN per ``(dataset, loss)`` pair, the same
runs :func:`genlab.train.gan.train_gan_2d` would train one after the other, but with the
weights of all runs stacked along a leading axis: every layer of every network is one
batched matrix product (``torch.baddbmm``) per step instead of one small product per run.
On a CPU the 2-D networks are so small that a step costs mostly Python and dispatch
overhead, so twelve runs batched take about the time of two run alone.

Each run keeps its own random stream: run ``k`` seeds torch with ``seed``, builds its
networks as ``train_gan_2d`` does, then draws its data, noise and gradient-penalty
mixing weights from a generator holding a copy of that state, in ``train_gan``'s order.
So every run starts from the same weights and sees the same batches as its
``train_gan_2d`` twin; only float rounding (batched versus single products) differs.
Adam's update is elementwise, so one Adam over the stacked weights is one Adam per run.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from genlab._checks import check_betas, check_int, check_positive
from genlab.data.toy2d import TOY_DATASETS, toy_dataset
from genlab.device import get_device, seed_everything
from genlab.losses.gan import GAN_LOSSES, get_gan_loss, gradient_penalty
from genlab.models.latent import GaussianPrior
from genlab.models.mlp2d import MLPDiscriminator, MLPGenerator
from genlab.optim import make_optimizer
from genlab.train.gan import RENAMED, GANRun
from genlab.train.history import History
from genlab.train.loop import META_KEYS, LoopState, TrainingRun, as_callbacks, guard

WEIGHT_CLIP = {"wgan": 0.01}  # train_gan's defaults: WGAN's clip, WGAN-GP's lambda
GP_WEIGHT = {"wgan-gp": 10.0}


def _stack(modules: list[torch.nn.Module], device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per Linear layer ``(W, b)``: ``W`` ``(K, in, out)`` and ``b`` ``(K, 1, out)`` leaves."""
    layers = [[m for m in module.modules() if isinstance(m, torch.nn.Linear)] for module in modules]
    stacked = []
    for per_run in zip(*layers):
        weight = torch.stack([lin.weight.detach().t() for lin in per_run]).to(device)
        bias = torch.stack([lin.bias.detach()[None] for lin in per_run]).to(device)
        stacked.append((weight.contiguous().requires_grad_(True), bias.requires_grad_(True)))
    return stacked


def _unstack_(stacked, modules: list[torch.nn.Module]) -> None:
    """Copy the trained stacked weights back into each run's module."""
    with torch.no_grad():
        for k, module in enumerate(modules):
            linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
            for (weight, bias), lin in zip(stacked, linears):
                lin.weight.copy_(weight[k].t())
                lin.bias.copy_(bias[k, 0])


def _mlp(stacked, x: torch.Tensor, slope: float) -> torch.Tensor:
    """The stacked MLPs on ``x`` ``(K, batch, in)``; hidden activation ReLU (``slope=0``,
    the generator) or LeakyReLU(``slope``) (the discriminator), linear output."""
    for i, (weight, bias) in enumerate(stacked):
        x = torch.baddbmm(bias, x, weight)
        if i < len(stacked) - 1:
            x = F.relu(x) if slope == 0 else F.leaky_relu(x, slope)
    return x


def _one_critic(stacked, k: int):
    """Run ``k``'s discriminator alone, ``(batch, 2) -> (batch,)`` (for its penalty)."""
    def critic(x: torch.Tensor) -> torch.Tensor:
        return _mlp([(w[k:k + 1], b[k:k + 1]) for w, b in stacked], x[None], 0.2)[0, :, 0]
    return critic


def train_gan_2d_many(
    runs: Sequence[tuple[str, str]],
    *,
    steps: int = 2000,
    batch_size: int = 256,
    lr_g: float = 2e-4,
    lr_d: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    lr_decay: bool = False,
    seed: int = 0,
    latent_dim: int = 2,
    hidden: int = 128,
    n_hidden: int = 3,
    n_snapshot: int = 1000,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    callback=None,
    **renamed,
) -> dict[tuple[str, str], GANRun]:
    """Train one 2-D GAN per ``(dataset, loss)`` in ``runs``, all in one batched loop.

    The recipe is :func:`~genlab.train.gan.train_gan_2d`'s with Adam (``lr_g``, ``lr_d``,
    ``betas``; the old names ``g_lr``/``d_lr`` are accepted; with ``lr_decay`` both decay linearly to 0), one D update per G update,
    ``batch_size`` real and fake points per run and step, Gaussian noise in
    ``latent_dim`` dimensions, weight clipping 0.01 for ``"wgan"`` and a gradient penalty
    of weight 10 for ``"wgan-gp"`` (``train_gan``'s defaults); for any other setting use
    ``train_gan_2d``. Returns ``{(dataset, loss): GANRun}`` in the order of ``runs``,
    each with its own History (``d_loss``, ``g_loss``, ``gp`` for WGAN-GP, a snapshot of
    ``n_snapshot`` samples at the last step) and its own networks.

    The loop contract of :mod:`genlab.train.loop`: ``callback`` (Callbacks or functions
    ``fn(step, history)``) sees the first run's History as ``state.history``, all of them
    as ``state.extras["histories"]`` and the stacked weights (per layer ``(W, b)``) as
    ``state.models``; a NaN or infinite output or loss in any run
    raises :class:`genlab.train.DivergenceError` with that run's history; Ctrl-C stops
    all runs and returns them as trained so far (``meta["interrupted"] = True``); every
    History gets the contract's meta keys.
    """
    for old_name, name in RENAMED.items():  # the old spellings, as chapter 01 writes them
        if old_name in renamed:
            value = renamed.pop(old_name)
            lr_g, lr_d = (value, lr_d) if name == "lr_g" else (lr_g, value)
    if renamed:
        raise TypeError(f"train_gan_2d_many got unexpected arguments {sorted(renamed)}")
    callbacks = as_callbacks(callback)
    runs = [tuple(run) for run in runs]
    if not runs or any(len(run) != 2 for run in runs):
        raise ValueError(f"runs must be a non-empty list of (dataset, loss) pairs, got {runs!r}")
    if len(set(runs)) != len(runs):
        raise ValueError(f"runs has duplicate (dataset, loss) pairs: {runs!r}")
    for dataset, loss in runs:
        if dataset not in TOY_DATASETS:
            raise ValueError(f"dataset must be one of {sorted(TOY_DATASETS)}, got {dataset!r}")
        if loss not in GAN_LOSSES:
            raise ValueError(f"loss must be one of {list(GAN_LOSSES)}, got {loss!r}")
    check_int("steps", steps, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_positive("lr_g", lr_g)
    check_positive("lr_d", lr_d)
    betas = check_betas(betas)
    check_int("n_snapshot", n_snapshot, minimum=1)
    device = torch.device(device) if device is not None else get_device()

    generators, discriminators, streams = [], [], []
    for _ in runs:  # each run as train_gan_2d builds it, then a copy of its random state
        seed_everything(seed)
        generators.append(MLPGenerator(latent_dim, hidden, n_hidden))
        discriminators.append(MLPDiscriminator(2, hidden, n_hidden))
        stream = torch.Generator()
        stream.set_state(torch.get_rng_state())
        streams.append(stream)
    g_net, d_net = _stack(generators, device), _stack(discriminators, device)
    g_params = [t for layer in g_net for t in layer]
    d_params = [t for layer in d_net for t in layer]
    g_opt = make_optimizer(g_params, "adam", lr=lr_g, betas=betas, fast=True)
    d_opt = make_optimizer(d_params, "adam", lr=lr_d, betas=betas, fast=True)
    schedulers = ([torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - i / steps)
                   for opt in (g_opt, d_opt)] if lr_decay else [])
    loss_fns = [get_gan_loss(loss) for _, loss in runs]
    samplers = [TOY_DATASETS[dataset]["sample"] for dataset, _ in runs]
    clipped = [k for k, (_, loss) in enumerate(runs) if loss in WEIGHT_CLIP]
    prior = GaussianPrior(latent_dim)
    histories = []
    for (dataset, loss), stream in zip(runs, streams):
        history = History()
        history.meta.update(
            loss=loss, steps=steps, batch_size=batch_size, optimizer="adam", lr_g=lr_g,
            lr_d=lr_d, betas=betas, n_critic=1, weight_clip=WEIGHT_CLIP.get(loss, 0.0),
            gp_weight=GP_WEIGHT.get(loss, 0.0), real_target=1.0, lr_decay=lr_decay,
            device=str(device), latent_prior=repr(prior), dataset=dataset, seed=seed,
            latent_dim=latent_dim, hidden=hidden, n_hidden=n_hidden, latent="gaussian",
            batched_with=len(runs), interrupted=False)
        histories.append(history)
    fixed_z = torch.stack([prior.sample(n_snapshot, generator=s) for s in streams]).to(device)

    def noise() -> torch.Tensor:
        return torch.stack([prior.sample(batch_size, generator=s) for s in streams]).to(device)

    def guard_all(step: int, **outputs: torch.Tensor) -> None:
        for name, value in outputs.items():  # (K, batch): one check for all runs
            if not torch.isfinite(value).all():
                bad = (~torch.isfinite(value)).flatten(1).any(1).nonzero()[0, 0].item()
                guard(histories[bad], step, **{name: value[bad]})

    def snapshot(step: int) -> None:
        with torch.no_grad():
            samples = _mlp(g_net, fixed_z, 0.0).float().cpu()
        for history, run_samples in zip(histories, samples):
            history.snapshot(step, run_samples)

    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)  # as train_gan_2d: tiny products gain nothing from threads
    state = LoopState(histories[0], models={"generator": g_net, "discriminator": d_net},
                      extras={"histories": histories})
    try:
        with TrainingRun(state, callbacks, steps, f"{len(runs)} GANs", progress) as run:
            for step in range(1, steps + 1):
                # 1. D: real and fake batches of every run, drawn from the run's own stream
                real = torch.stack([sample(batch_size, generator=s)
                                    for sample, s in zip(samplers, streams)]).to(device)
                with torch.no_grad():
                    fake = _mlp(g_net, noise(), 0.0)
                real_out = _mlp(d_net, real, 0.2)[..., 0]
                fake_out = _mlp(d_net, fake, 0.2)[..., 0]
                guard_all(step, real_out=real_out, fake_out=fake_out)
                d_losses, gps = [], {}
                for k, (d_fn, _) in enumerate(loss_fns):
                    d_loss = d_fn(real_out[k], fake_out[k])
                    if runs[k][1] in GP_WEIGHT:
                        gps[k] = gradient_penalty(_one_critic(d_net, k), real[k], fake[k],
                                                  weight=GP_WEIGHT[runs[k][1]],
                                                  generator=streams[k])
                        d_loss = d_loss + gps[k]
                    d_losses.append(d_loss)
                d_values = torch.stack(d_losses).tolist()  # one read for all runs
                for history, value in zip(histories, d_values):
                    guard(history, step, d_loss=value)
                d_opt.zero_grad(set_to_none=True)
                sum(d_losses).backward()  # the runs share no weight: each its own gradient
                d_opt.step()
                if clipped:
                    with torch.no_grad():
                        for tensor in d_params:
                            for k in clipped:
                                tensor[k].clamp_(-WEIGHT_CLIP[runs[k][1]],
                                                 WEIGHT_CLIP[runs[k][1]])

                # 2. G, with D frozen
                for tensor in d_params:
                    tensor.requires_grad_(False)
                try:
                    fake_out = _mlp(d_net, _mlp(g_net, noise(), 0.0), 0.2)[..., 0]
                    guard_all(step, fake_out=fake_out)
                    g_losses = [g_fn(fake_out[k]) for k, (_, g_fn) in enumerate(loss_fns)]
                    g_values = torch.stack(g_losses).detach().tolist()
                    for history, value in zip(histories, g_values):
                        guard(history, step, g_loss=value)
                    g_opt.zero_grad(set_to_none=True)
                    sum(g_losses).backward()
                    g_opt.step()
                finally:
                    for tensor in d_params:
                        tensor.requires_grad_(True)
                for scheduler in schedulers:
                    scheduler.step()

                # 3. records
                gp_values = (dict(zip(gps, torch.stack(list(gps.values())).tolist()))
                             if gps else {})
                for k, history in enumerate(histories):
                    record = {"d_loss": d_values[k], "g_loss": g_values[k]}
                    if k in gp_values:
                        record["gp"] = gp_values[k]
                    history.log(step, **record)
                if step == steps:
                    snapshot(step)
                # 4. progress bar, callbacks
                if run.step_done(step, d_loss=d_values[0], g_loss=g_values[0]):
                    break
        if state.step and (not histories[0].snapshots
                           or histories[0].snapshots[-1][0] != state.step):
            snapshot(state.step)  # where an interrupted or stopped run ended
    finally:
        torch.set_num_threads(threads)
        _unstack_(g_net, generators)
        _unstack_(d_net, discriminators)
        for history in histories[1:]:
            history.meta.update({key: histories[0].meta[key] for key in META_KEYS
                                 if key in histories[0].meta})
    result = {}
    for (dataset, loss), history, generator, discriminator in zip(
            runs, histories, generators, discriminators):
        history.meta["seconds"] = history.meta["wall_seconds"]  # the name chapter 01 used
        centers, std = toy_dataset(dataset)
        result[dataset, loss] = GANRun(history, generator.to(device), discriminator.to(device),
                                       centers, std, None, prior)
    return result


__all__ = ["train_gan_2d_many"]
