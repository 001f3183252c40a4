"""The VAE objective: reparameterization, the closed-form KL, and the negative ELBO.

Taught in chapter 02_vae_elbo. Kingma & Welling, "Auto-Encoding Variational Bayes"
(ICLR 2014), eq. 10 and appendix B; the beta weight is Higgins et al., "beta-VAE"
(ICLR 2017).

For one image ``x`` with encoder ``q(z|x) = N(mu, diag(exp(logvar)))``, prior
``p(z) = N(0, I)`` and decoder ``p(x|z)``::

    log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z))   = ELBO(x)

:func:`elbo_loss` returns the *negative* ELBO (a loss to minimise, in nats per image)
averaged over the batch, with its two parts: the reconstruction term
``-log p(x|z)`` (summed over pixels) and the KL term (summed over latent dimensions).

Digits and the Bernoulli likelihood
-----------------------------------
The course keeps images in [-1, 1]. A Bernoulli decoder models pixels in {0, 1}, so the
targets are ``(x + 1) / 2`` (:func:`bernoulli_targets`): -1 -> 0 (background), +1 -> 1
(ink), a linear map and nothing else. For binary images (``binarize(x)``, used by the
chapter and the benchmark) the Bernoulli term is an exact log-likelihood and the negative
ELBO an upper bound on ``-log p(x)`` in nats. Grey values in between are accepted (the
common "soft-target" cross-entropy of the PyTorch VAE example): it trains well, but it is
then not a normalised likelihood, so its nats only compare models on the same targets.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from genlab._checks import check_choice, check_positive, check_same_shape, check_tensor

LIKELIHOODS = ("bernoulli", "gaussian")
DEFAULT_OBS_STD = 0.1  # Gaussian decoder: p(x|z) = N(x; recon, 0.1**2 I) on [-1, 1] pixels


class ElboParts(NamedTuple):
    """The negative ELBO and its parts, each a scalar tensor averaged over the batch.

    ``loss = recon + beta * kl``; unpack as ``loss, recon, kl = elbo_loss(...)``.
    """

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor


def _check_posterior(mu, logvar) -> None:
    check_tensor("mu", mu, min_ndim=1)
    check_tensor("logvar", logvar, min_ndim=1)
    check_same_shape("mu", mu, "logvar", logvar)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   eps: torch.Tensor | None = None) -> torch.Tensor:
    """Draw ``z ~ N(mu, diag(exp(logvar)))`` as ``z = mu + exp(logvar / 2) * eps``.

    mu, logvar: ``(batch, latent_dim)`` (any equal shapes work), the encoder's mean and
    log-variance. ``eps``: standard normal noise of the same shape; drawn with
    ``torch.randn_like`` when ``None``. Returns ``z`` of the same shape.

    The randomness lives in ``eps``, outside the network, so ``z`` is a differentiable
    function of ``mu`` and ``logvar``: ``dz/dmu = 1`` and ``dz/dlogvar = (z - mu) / 2``
    (Kingma & Welling 2014, section 2.4).
    """
    _check_posterior(mu, logvar)
    if eps is None:
        eps = torch.randn_like(mu)
    else:
        check_tensor("eps", eps)
        check_same_shape("mu", mu, "eps", eps)
    return mu + torch.exp(0.5 * logvar) * eps


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` in nats, one value per sample.

    mu, logvar: ``(batch, latent_dim)``. Returns ``(batch,)``: the closed form
    ``0.5 * sum_j (mu_j**2 + exp(logvar_j) - 1 - logvar_j)``, summed over the latent
    dimensions (the last axis) because the KL of independent dimensions adds up
    (Kingma & Welling 2014, appendix B). Average over the batch yourself, or use
    :func:`elbo_loss`.
    """
    _check_posterior(mu, logvar)
    return kl_per_latent_dim(mu, logvar, reduce_batch=False).sum(dim=-1)


def kl_per_latent_dim(mu: torch.Tensor, logvar: torch.Tensor,
                      reduce_batch: bool = True) -> torch.Tensor:
    """The KL of each latent dimension separately, in nats.

    mu, logvar: ``(batch, latent_dim)``. Returns ``(latent_dim,)`` averaged over the batch
    (or ``(batch, latent_dim)`` with ``reduce_batch=False``). A dimension whose KL is
    about 0 for every input carries no information about ``x``: it has *collapsed* to
    the prior (an "inactive unit", Burda et al. 2016).
    """
    _check_posterior(mu, logvar)
    per_dim = 0.5 * (mu.pow(2) + torch.exp(logvar) - 1.0 - logvar)
    return per_dim.mean(dim=0) if reduce_batch else per_dim


def binarize(images: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Binary images in {-1, 1}: +1 where ``images > threshold``, else -1.

    images: any shape, values in [-1, 1]. The chapter binarizes the digits so that the
    Bernoulli likelihood is exact (threshold 0 is grey level 8 of scikit-learn's 0..16).
    """
    check_tensor("images", images)
    return torch.where(images > threshold, 1.0, -1.0).to(images.dtype)


def bernoulli_targets(x: torch.Tensor) -> torch.Tensor:
    """Map images in [-1, 1] to Bernoulli targets in [0, 1] by ``(x + 1) / 2``.

    Raises ``ValueError`` for values outside [-1, 1] (a sign that images were already
    in [0, 1] or not normalised), rather than clamping them silently.
    """
    check_tensor("x", x)
    if x.min() < -1.0 or x.max() > 1.0:
        raise ValueError(
            f"x must lie in [-1, 1] (the course's image range), got values in "
            f"[{float(x.min()):.3g}, {float(x.max()):.3g}]"
        )
    return (x + 1.0) / 2.0


def reconstruction_nll(x: torch.Tensor, recon: torch.Tensor, likelihood: str = "bernoulli",
                       obs_std: float = DEFAULT_OBS_STD) -> torch.Tensor:
    """``-log p(x|z)`` per image, in nats, summed over every non-batch axis: ``(batch,)``.

    x: images in [-1, 1], ``(batch, ...)``. recon: the decoder's output, same shape:
      - ``likelihood="bernoulli"``: **logits** of ``p(pixel = ink)``; targets are
        ``(x + 1) / 2``. Computed with ``binary_cross_entropy_with_logits`` so very
        confident logits (+-100) stay finite.
      - ``likelihood="gaussian"``: the **mean** of ``N(x; recon, obs_std**2 I)``; the
        value includes the constant ``0.5 * log(2 pi obs_std**2)`` per pixel, so it is
        a true negative log-density (it can be negative).
    """
    check_choice("likelihood", likelihood, LIKELIHOODS)
    check_tensor("x", x, min_ndim=1)
    check_tensor("recon", recon, min_ndim=1)
    check_same_shape("x", x, "recon", recon)
    if likelihood == "bernoulli":
        targets = bernoulli_targets(x)
        per_pixel = F.binary_cross_entropy_with_logits(recon, targets, reduction="none")
    else:
        check_positive("obs_std", obs_std)
        per_pixel = (0.5 * ((x - recon) / obs_std).pow(2)
                     + math.log(obs_std) + 0.5 * math.log(2 * math.pi))
    return per_pixel.reshape(len(x), -1).sum(dim=1)


def elbo_loss(x: torch.Tensor, recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
              beta: float = 1.0, likelihood: str = "bernoulli",
              obs_std: float = DEFAULT_OBS_STD) -> ElboParts:
    """The negative ELBO, ``recon + beta * kl``, averaged over the batch (nats per image).

    x: images in [-1, 1], ``(batch, ...)`` (e.g. ``(batch, 1, 8, 8)``).
    recon: decoder output for ``z = reparameterize(mu, logvar)``, same shape as ``x``:
      logits for ``likelihood="bernoulli"`` (targets ``(x + 1) / 2``), the mean for
      ``likelihood="gaussian"`` with fixed standard deviation ``obs_std`` (default 0.1,
      i.e. variance 0.01). See :func:`reconstruction_nll`.
    mu, logvar: ``(batch, latent_dim)``, the encoder's Gaussian ``q(z|x)``.
    beta: weight of the KL term (1 is the ELBO of Kingma & Welling 2014; > 1 is the
      beta-VAE of Higgins et al. 2017; 0 is a plain auto-encoder with noise).

    Returns :class:`ElboParts` ``(loss, recon, kl)``: each part is summed over its own
    axes (pixels, latent dimensions) and then *averaged* over the batch, so the loss
    does not grow with the batch size and its two parts stay on the same scale.
    """
    check_positive("beta", beta, allow_zero=True)
    _check_posterior(mu, logvar)
    check_tensor("x", x, min_ndim=1)
    if mu.ndim != 2:
        raise ValueError(f"mu must have shape (batch, latent_dim), got {tuple(mu.shape)}")
    if len(mu) != len(x):
        raise ValueError(
            f"x and mu must have the same batch size, got {len(x)} and {len(mu)}"
        )
    check_tensor("recon", recon, min_ndim=1)
    check_same_shape("x", x, "recon", recon)
    check_choice("likelihood", likelihood, LIKELIHOODS)
    if likelihood == "bernoulli":
        bernoulli_targets(x)  # raises for values outside [-1, 1]
    else:
        check_positive("obs_std", obs_std)
    return negative_elbo_unchecked(x, recon, mu, logvar, beta, likelihood, obs_std)


def negative_elbo_unchecked(x, recon, mu, logvar, beta=1.0, likelihood="bernoulli",
                            obs_std=DEFAULT_OBS_STD) -> ElboParts:
    """:func:`elbo_loss` without its input checks, for training loops that validated
    their data once (each check costs a device synchronisation per step)."""
    if likelihood == "bernoulli":
        per_pixel = F.binary_cross_entropy_with_logits(recon, (x + 1.0) / 2.0, reduction="none")
    else:
        per_pixel = (0.5 * ((x - recon) / obs_std).pow(2)
                     + math.log(obs_std) + 0.5 * math.log(2 * math.pi))
    recon_term = per_pixel.reshape(len(x), -1).sum(dim=1).mean()
    kl_term = (0.5 * (mu.pow(2) + torch.exp(logvar) - 1.0 - logvar)).sum(dim=-1).mean()
    return ElboParts(recon_term + beta * kl_term, recon_term, kl_term)
