"""A plain GAN training loop on the 8x8 digits, with the losses kept apart per network.

The non-saturating GAN of Goodfellow et al. (2014): D minimizes
``BCE(D(x), 1) + BCE(D(G(z)), 0)``, G minimizes ``BCE(D(G(z)), 1)``. Adam with
``betas=(0.5, 0.999)`` as in DCGAN (Radford et al., 2016). Each step logs ``d_loss``,
``g_loss``, ``d_real`` and ``d_fake`` (D's mean probability on real and generated
images) and calls ``callback(step, sample_fn, history)`` so an
:class:`~genlab.train.hooks.EvalHook` can log FID and IS beside them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from genlab._checks import check_betas, check_images, check_int, check_module, check_positive
from genlab.optim import make_optimizer
from genlab.train.history import History
from genlab.train.hooks import generator_sampler
from genlab.train.progress import check_callback, progress_bar


def train_gan_digits(
    generator: torch.nn.Module,
    discriminator: torch.nn.Module,
    steps: int,
    *,
    images: torch.Tensor | None = None,
    batch_size: int = 64,
    lr_g: float = 2e-4,
    lr_d: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    g_steps: int = 1,
    callback: Callable | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
) -> History:
    """Train ``generator`` (with a ``latent_dim`` attribute) against ``discriminator``.

    images: real ``(n, 1, 8, 8)`` in [-1, 1] (default: the digits train split).
    g_steps: generator updates per discriminator update (1 is the usual; more lets G
    outrun D, a classic way to provoke mode collapse).
    callback: called after every step as ``callback(step, sample_fn, history)`` with
    steps counted from 1 and ``sample_fn(n)`` drawing ``n`` images from the generator
    (or a list of such callbacks, e.g. ``[EvalHook(...), genlab.viz.LiveLossPlot(...)]``).
    progress: a tqdm bar (None: on, except while grading and under pytest).
    Returns a :class:`History`; ``meta`` holds the settings and ``train_seconds`` (CPU
    process time of the training steps, evaluation excluded). A non-finite loss raises
    :class:`~genlab.train.DivergenceError` holding the history so far; it is checked at
    every step before the update is applied. Ctrl-C stops the run and returns the history
    so far with ``meta["interrupted"] = True`` (:mod:`genlab.train.progress`).
    """
    check_int("steps", steps, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_int("g_steps", g_steps, minimum=1)
    check_positive("lr_g", lr_g)
    check_positive("lr_d", lr_d)
    betas = check_betas(betas)
    check_module("generator", generator)
    check_module("discriminator", discriminator)
    callback = check_callback(callback)
    if not hasattr(generator, "latent_dim"):
        raise TypeError("generator must have a latent_dim attribute (e.g. DigitsGenerator)")
    if images is None:
        from genlab.data import load_digits

        images, _ = load_digits("train")
    check_images("images", images)
    device = torch.device(device) if device is not None else next(generator.parameters()).device
    generator.to(device).train()
    discriminator.to(device).train()
    images = images.to(device)
    data_rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt_g = make_optimizer(generator.parameters(), "gan", lr=lr_g, betas=betas)
    opt_d = make_optimizer(discriminator.parameters(), "gan", lr=lr_d, betas=betas)
    history = History(meta=dict(steps=steps, batch_size=batch_size, lr_g=lr_g, lr_d=lr_d,
                                betas=betas, g_steps=g_steps, seed=seed, interrupted=False))
    sample_fn = generator_sampler(generator, generator.latent_dim)
    bar = progress_bar(steps, "GAN (digits)", progress)
    train_seconds = 0.0
    try:
        for step in range(1, steps + 1):
            start = time.process_time()
            idx = torch.randint(len(images), (batch_size,), generator=data_rng).to(device)
            real = images[idx]
            z = torch.randn(batch_size, generator.latent_dim, device=device)
            fake = generator(z).detach()
            real_logits, fake_logits = discriminator(real), discriminator(fake)
            d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                      + F.binary_cross_entropy_with_logits(fake_logits,
                                                           torch.zeros_like(fake_logits)))
            history.check_finite(step, d_loss=d_loss)  # before the update is applied
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            for _ in range(g_steps):
                z = torch.randn(batch_size, generator.latent_dim, device=device)
                gen_logits = discriminator(generator(z))
                # Non-saturating: maximize log D(G(z)) rather than minimize log(1 - D(G(z))).
                g_loss = F.binary_cross_entropy_with_logits(gen_logits,
                                                            torch.ones_like(gen_logits))
                history.check_finite(step, g_loss=g_loss)
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
            history.log(step, d_loss=d_loss, g_loss=g_loss,
                        d_real=torch.sigmoid(real_logits).mean(),
                        d_fake=torch.sigmoid(fake_logits).mean())
            train_seconds += time.process_time() - start
            bar.update(d_loss=history.last("d_loss"), g_loss=history.last("g_loss"))
            if callback is not None:
                callback(step, sample_fn, history)
    except KeyboardInterrupt:
        history.meta["interrupted"] = True
    finally:
        bar.close()
        history.meta["train_seconds"] = train_seconds
    return history
