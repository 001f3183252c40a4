"""Training and evaluating a VAE: the loop in plain sight, with optional KL annealing.

Taught in chapter 02_vae_elbo. KL annealing (a "warm-up" of the KL weight from 0 to
``beta``) is from Bowman et al., "Generating Sentences from a Continuous Space" (CoNLL
2016) and Sonderby et al., "Ladder Variational Autoencoders" (NeurIPS 2016), who used
a linear ramp as here.
"""

from __future__ import annotations

import torch

from genlab._checks import check_images, check_int, check_module, check_positive
from genlab.losses.vae import (DEFAULT_OBS_STD, LIKELIHOODS, bernoulli_targets,
                               kl_per_latent_dim, negative_elbo_unchecked,
                               reconstruction_nll)
from genlab.optim import make_optimizer
from genlab.train.history import History
from genlab.train.loop import LoopState, TrainingRun, as_callbacks, guard


def kl_weight(step: int, beta: float = 1.0, warmup_steps: int = 0) -> float:
    """The KL weight after ``step`` updates: ramps linearly from 0 to ``beta`` over
    ``warmup_steps``.

    ``warmup_steps=0`` means no annealing (``beta`` from the first step). With annealing
    the first update (``step=0`` updates done before it) has weight 0: the first updates
    learn to reconstruct before the KL pulls every posterior towards the prior.
    """
    check_int("step", step, minimum=0)
    check_positive("beta", beta, allow_zero=True)
    check_int("warmup_steps", warmup_steps, minimum=0)
    if warmup_steps == 0:
        return float(beta)
    return float(beta) * min(1.0, step / warmup_steps)


def _check_images(images) -> None:
    check_images("images", images)
    if len(images) == 0:
        raise ValueError("images is empty")


def _check_vae(model) -> None:
    check_module("model", model)
    missing = [a for a in ("encoder", "decode_unchecked", "likelihood", "latent_dim")
               if not hasattr(model, a)]
    if missing:
        raise TypeError(f"model must be a DigitsVAE (or have its {missing}), "
                        f"got {type(model).__name__}")


def train_vae(model, images: torch.Tensor, *, steps: int = 2000, batch_size: int = 128,
              lr: float = 1e-3, beta: float = 1.0, kl_warmup_steps: int = 0,
              obs_std: float = DEFAULT_OBS_STD, seed: int = 0,
              progress: bool | None = None, callback=None) -> History:
    """Train ``model`` (a :class:`genlab.models.vae.DigitsVAE`) by minimising the negative ELBO.

    images: ``(n, 1, 8, 8)`` in [-1, 1] (binary for an exact Bernoulli likelihood, see
    :func:`genlab.losses.vae.binarize`); moved to the model's device.
    steps, batch_size: Adam updates (``lr``, default 1e-3, Kingma & Ba 2015) on
    minibatches drawn without replacement, reshuffled each epoch.
    beta, kl_warmup_steps: the KL weight, ramped linearly from 0 over
    ``kl_warmup_steps`` (:func:`kl_weight`).
    obs_std: standard deviation of a Gaussian decoder (ignored for Bernoulli).
    seed: seeds the minibatch order and the reparameterization noise.
    progress: a tqdm bar (None: on, except while grading and under pytest).
    callback: Callbacks or functions ``fn(step, history)`` after every step (e.g. a
    :class:`genlab.viz.LiveLossPlot`), as in :mod:`genlab.train.loop`.

    Returns a :class:`~genlab.train.history.History` with, per step: ``loss`` (the
    objective minimised, ``recon + weight * kl``), ``neg_elbo`` (``recon + kl``, the
    bound itself, in nats per image), ``recon``, ``kl``, ``kl_weight``, and ``kl_dim0``,
    ``kl_dim1``, ... (the batch's KL per latent dimension, to watch dimensions collapse).
    Steps count from 1 (the first update). ``meta`` holds the settings, the contract's
    keys and ``seconds`` (= ``wall_seconds``). Raises
    :class:`~genlab.train.history.DivergenceError` if the loss becomes NaN or infinite
    (checked at every step, before the update). Ctrl-C stops the run and returns the
    history so far with ``meta["interrupted"] = True`` (:mod:`genlab.train.loop`).
    """
    _check_vae(model)
    _check_images(images)
    check_int("steps", steps, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_positive("lr", lr)
    check_int("seed", seed, minimum=0)
    kl_weight(0, beta, kl_warmup_steps)  # validates beta and kl_warmup_steps
    check_positive("obs_std", obs_std)
    callbacks = as_callbacks(callback)
    if model.likelihood not in LIKELIHOODS:
        raise ValueError(
            f"model.likelihood must be one of {LIKELIHOODS}, got {model.likelihood!r}")
    if model.likelihood == "bernoulli":
        bernoulli_targets(images)  # raises for values outside [-1, 1]
    device = next(model.parameters()).device
    images = images.to(device)
    batch_size = min(batch_size, len(images))
    order_gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator(device=device).manual_seed(seed + 1)
    optimizer = make_optimizer(model.parameters(), "adam", lr=lr)
    history = History(meta=dict(steps=steps, batch_size=batch_size, lr=lr, beta=beta,
                                kl_warmup_steps=kl_warmup_steps, seed=seed,
                                latent_dim=model.latent_dim, likelihood=model.likelihood,
                                obs_std=obs_std, n_train=len(images), device=str(device)))
    model.train()
    perm, pos = torch.randperm(len(images), generator=order_gen), 0
    state = LoopState(history, model=model, optimizer=optimizer)
    try:
        with TrainingRun(state, callbacks, steps, "VAE", progress) as run:
            for step in range(1, steps + 1):
                # 1. a minibatch, drawn without replacement, reshuffled each epoch
                if pos + batch_size > len(images):
                    perm, pos = torch.randperm(len(images), generator=order_gen), 0
                x = images[perm[pos:pos + batch_size].to(device)]
                pos += batch_size
                # 2. the negative ELBO through the model's layers, without the per-call
                # input checks of encode/decode: the data were validated once above
                mu, logvar = model.encoder(x).chunk(2, dim=1)
                eps = torch.randn(mu.shape, generator=noise_gen, device=device)
                recon = model.decode_unchecked(mu + torch.exp(0.5 * logvar) * eps)
                weight = kl_weight(step - 1, beta, kl_warmup_steps)
                loss, recon_term, kl_term = negative_elbo_unchecked(
                    x, recon, mu, logvar, weight, model.likelihood, obs_std)
                guard(history, step, loss=loss)  # 3. before the update
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                # 4. log, call back
                mu, logvar = mu.detach(), logvar.detach()
                per_dim = (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).mean(dim=0).tolist()
                history.log(step, loss=loss, neg_elbo=recon_term + kl_term, recon=recon_term,
                            kl=kl_term, kl_weight=weight,
                            **{f"kl_dim{j}": v for j, v in enumerate(per_dim)})
                if run.step_done(step, loss=history.last("loss")):
                    break
    finally:
        model.eval()
    history.meta["seconds"] = history.meta["wall_seconds"]  # the name chapter 02 prints
    return history


@torch.no_grad()
def evaluate_vae(model, images: torch.Tensor, *, n_samples: int = 1,
                 obs_std: float = DEFAULT_OBS_STD, seed: int = 0,
                 batch_size: int = 512) -> dict:
    """The negative ELBO of ``model`` on ``images``, in nats per image.

    The expectation over ``q(z|x)`` is estimated with ``n_samples`` reparameterized draws
    per image (seeded by ``seed``). Returns a dict of floats ``neg_elbo``, ``recon``,
    ``kl`` (averages over images) and ``kl_per_dim``, a ``(latent_dim,)`` CPU tensor: the
    KL of each latent dimension averaged over the images (about 0 = collapsed).
    """
    _check_vae(model)
    _check_images(images)
    check_int("n_samples", n_samples, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    recon_sum, kl_dims_sum = 0.0, torch.zeros(model.latent_dim, dtype=torch.float64)
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device)
        mu, logvar = model.encode(x)
        for _ in range(n_samples):
            eps = torch.randn(mu.shape, generator=gen, device=device)
            recon = model.decode(mu + torch.exp(0.5 * logvar) * eps)
            recon_sum += float(reconstruction_nll(x, recon, model.likelihood, obs_std)
                               .double().sum()) / n_samples
        kl_dims_sum += kl_per_latent_dim(mu, logvar, reduce_batch=False).double().sum(0).cpu()
    model.train(was_training)
    kl_per_dim = (kl_dims_sum / len(images)).float()
    recon_mean = recon_sum / len(images)
    kl_mean = float(kl_per_dim.double().sum())
    return dict(neg_elbo=recon_mean + kl_mean, recon=recon_mean, kl=kl_mean,
                kl_per_dim=kl_per_dim)
