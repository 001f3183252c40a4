"""A plain GAN training loop on the 8x8 digits, with the losses kept apart per network.

The non-saturating GAN of Goodfellow et al. (2014): D minimizes
``BCE(D(x), 1) + BCE(D(G(z)), 0)``, G minimizes ``BCE(D(G(z)), 1)``. Adam with
``betas=(0.5, 0.999)`` as in DCGAN (Radford et al., 2016). Each step logs ``d_loss``,
``g_loss``, ``d_real`` and ``d_fake`` (D's mean probability on real and generated
images); an :class:`~genlab.train.hooks.EvalHook` callback logs FID and IS beside them.
"""

from __future__ import annotations

import time

import torch

from genlab._checks import check_images, check_int, check_module
from genlab.data import load_digits
from genlab.optim import make_optimizer
from genlab.train.gan import GANConfig, critic_step, generator_step
from genlab.train.history import History
from genlab.train.hooks import generator_sampler
from genlab.train.loop import LoopState, TrainingRun, as_callbacks, guard


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
    callback=None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
) -> History:
    """Train ``generator`` (with a ``latent_dim`` attribute) against ``discriminator``.

    images: real ``(n, 1, 8, 8)`` in [-1, 1] (default: the digits train split).
    g_steps: generator updates per discriminator update (1 is the usual; more lets G
    outrun D, a classic way to provoke mode collapse). Each update is
    :func:`~genlab.train.gan.critic_step` / :func:`~genlab.train.gan.generator_step`
    with the non-saturating loss of :mod:`genlab.losses.gan`.
    callback: Callbacks or functions ``fn(step, history)`` (:mod:`genlab.train.loop`);
    ``state.sample_fn(n)`` draws ``n`` images from the generator, which is what an
    :class:`~genlab.train.hooks.EvalHook` uses to log FID and IS beside the losses.
    progress: a tqdm bar (None: on, except while grading and under pytest).
    Returns a :class:`History` (``d_loss``, ``g_loss``, ``d_real`` and ``d_fake``: D's mean
    probability on real and generated images); ``meta`` holds the settings, the
    contract's keys and ``train_seconds`` (CPU process time of the training steps,
    callbacks excluded). NaN guard before every update; Ctrl-C returns the History with
    ``meta["interrupted"] = True``.
    """
    config = GANConfig(loss="nonsaturating", steps=steps, batch_size=batch_size,
                       lr_g=lr_g, lr_d=lr_d, betas=betas, progress=progress)
    check_int("g_steps", g_steps, minimum=1)
    check_module("generator", generator)
    check_module("discriminator", discriminator)
    callbacks = as_callbacks(callback)
    if not hasattr(generator, "latent_dim"):
        raise TypeError("generator must have a latent_dim attribute (e.g. DigitsGenerator)")
    if images is None:
        images, _ = load_digits("train")
    check_images("images", images)
    device = torch.device(device) if device is not None else next(generator.parameters()).device
    generator.to(device).train()
    discriminator.to(device).train()
    images = images.to(device)
    data_rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt_g = make_optimizer(generator.parameters(), "gan", lr=lr_g, betas=config.betas)
    opt_d = make_optimizer(discriminator.parameters(), "gan", lr=lr_d, betas=config.betas)
    history = History(meta=dict(steps=steps, batch_size=batch_size, lr_g=lr_g, lr_d=lr_d,
                                betas=config.betas, g_steps=g_steps, seed=seed))
    train_seconds = 0.0
    state = LoopState(history, config, models={"generator": generator,
                                               "discriminator": discriminator},
                      sample_fn=generator_sampler(generator, generator.latent_dim))

    def noise() -> torch.Tensor:
        return torch.randn(batch_size, generator.latent_dim, device=device)

    try:
        with TrainingRun(state, callbacks, steps, "GAN (digits)", progress) as run:
            for step in range(1, steps + 1):

                def check(**values):
                    guard(history, step, **values)

                # 1. one D update, then g_steps G updates
                start = time.process_time()
                real = images[torch.randint(len(images), (batch_size,),
                                            generator=data_rng).to(device)]
                d_record = critic_step(generator, discriminator, real, noise(), opt_d, config,
                                       check=check)
                for _ in range(g_steps):
                    g_record = generator_step(generator, discriminator, noise(), opt_g, config,
                                              check=check)
                # 2. log, then EvalHook, LiveLossPlot and your callbacks
                history.log(step, d_loss=d_record["d_loss"], g_loss=g_record["g_loss"],
                            d_real=d_record["d_real"], d_fake=d_record["d_fake"])
                train_seconds += time.process_time() - start
                if run.step_done(step, d_loss=d_record["d_loss"], g_loss=g_record["g_loss"]):
                    break
    finally:
        history.meta["train_seconds"] = train_seconds
    return history
