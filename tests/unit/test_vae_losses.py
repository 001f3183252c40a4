"""Specifications of genlab.losses.vae, each checked against an independent oracle."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from genlab.losses.vae import (ElboParts, bernoulli_targets, binarize, elbo_loss,
                               kl_per_latent_dim, kl_standard_normal,
                               negative_elbo_unchecked, reconstruction_nll,
                               reparameterize)


def _posterior(batch=5, latent=3, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    mu = torch.randn(batch, latent, generator=gen, dtype=dtype)
    logvar = torch.randn(batch, latent, generator=gen, dtype=dtype)
    return mu, logvar


def _images(batch=5, seed=1, binary=True, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 1, 8, 8, generator=gen, dtype=dtype) * 2 - 1
    return binarize(x) if binary else x


# --- reparameterize -----------------------------------------------------------------

def test_reparameterize_with_given_noise_is_mu_plus_std_times_noise():
    mu, logvar = _posterior()
    eps = torch.randn_like(mu)
    z = reparameterize(mu, logvar, eps)
    torch.testing.assert_close(z, mu + torch.exp(logvar).sqrt() * eps)


def test_reparameterized_samples_have_the_posterior_mean_and_std():
    torch.manual_seed(0)
    mu = torch.tensor([[1.5, -2.0, 0.0]]).expand(100_000, 3)
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.01)]]).expand(100_000, 3)
    z = reparameterize(mu, logvar)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.5, -2.0, 0.0]), atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0, 0.1]), atol=0.01, rtol=0.02)


def test_reparameterize_passes_gradients_to_mu_and_logvar():
    mu, logvar = _posterior()
    mu.requires_grad_(True)
    logvar.requires_grad_(True)
    eps = torch.randn_like(mu)
    z = reparameterize(mu, logvar, eps)
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    # d/dlogvar of exp(logvar / 2) * eps
    torch.testing.assert_close(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)


def test_reparameterize_matches_torch_rsample_with_the_same_seed():
    mu, logvar = _posterior(dtype=torch.float32)
    torch.manual_seed(3)
    ours = reparameterize(mu, logvar)
    torch.manual_seed(3)
    theirs = Normal(mu, torch.exp(0.5 * logvar)).rsample()
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("bad", [
    lambda mu, lv: (mu, lv[:, :2]),
    lambda mu, lv: (mu.clone().fill_(float("nan")), lv),
    lambda mu, lv: (mu, lv.clone().fill_(float("inf"))),
    lambda mu, lv: (mu.numpy(), lv),
])
def test_reparameterize_rejects_bad_input_clearly(bad):
    mu, logvar = bad(*_posterior())
    with pytest.raises((ValueError, TypeError), match="mu|logvar"):
        reparameterize(mu, logvar)


# --- closed-form KL ------------------------------------------------------------------

def test_kl_matches_torch_distributions_kl_divergence():
    mu, logvar = _posterior(batch=7, latent=4)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    torch.testing.assert_close(kl_standard_normal(mu, logvar), kl_divergence(q, p))


def test_kl_matches_a_monte_carlo_estimate():
    mu = torch.tensor([[0.7, -1.2, 0.1]], dtype=torch.float64)
    logvar = torch.tensor([[-0.5, 0.8, 0.0]], dtype=torch.float64)
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.manual_seed(0)
    z = q.sample((200_000,))  # (n, 1, 3)
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    torch.testing.assert_close(kl_standard_normal(mu, logvar), mc, atol=0.02, rtol=0)


def test_kl_sums_over_latent_dims_and_keeps_one_value_per_sample():
    mu, logvar = _posterior(batch=6, latent=5)
    kl = kl_standard_normal(mu, logvar)
    assert kl.shape == (6,)
    split = (kl_standard_normal(mu[:, :2], logvar[:, :2])
             + kl_standard_normal(mu[:, 2:], logvar[:, 2:]))
    torch.testing.assert_close(kl, split)
    torch.testing.assert_close(kl_per_latent_dim(mu, logvar, reduce_batch=False).sum(-1), kl)
    torch.testing.assert_close(kl_per_latent_dim(mu, logvar), kl_per_latent_dim(
        mu, logvar, reduce_batch=False).mean(0))


def test_kl_is_zero_exactly_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(3, 4)
    torch.testing.assert_close(kl_standard_normal(zeros, zeros), torch.zeros(3))
    mu, logvar = _posterior()
    assert (kl_standard_normal(mu, logvar) > 0).all()


def test_kl_gradient_matches_the_analytic_derivative():
    mu, logvar = _posterior()
    mu.requires_grad_(True)
    logvar.requires_grad_(True)
    kl_standard_normal(mu, logvar).sum().backward()
    torch.testing.assert_close(mu.grad, mu.detach())
    torch.testing.assert_close(logvar.grad, 0.5 * (torch.exp(logvar.detach()) - 1))


# --- targets and reconstruction ------------------------------------------------------

def test_bernoulli_targets_map_minus_one_to_zero_and_one_to_one():
    torch.testing.assert_close(bernoulli_targets(torch.tensor([-1.0, 0.0, 1.0])),
                               torch.tensor([0.0, 0.5, 1.0]))


def test_bernoulli_targets_refuse_images_outside_minus_one_one():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        bernoulli_targets(torch.tensor([0.0, 1.5]))


def test_binarize_thresholds_at_zero_into_minus_one_and_one():
    out = binarize(torch.tensor([-1.0, -0.01, 0.0, 0.01, 1.0]))
    torch.testing.assert_close(out, torch.tensor([-1.0, -1.0, -1.0, 1.0, 1.0]))


def test_bernoulli_nll_matches_torch_bernoulli_log_prob():
    x = _images(batch=4)
    logits = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    oracle = -Bernoulli(logits=logits).log_prob((x + 1) / 2).sum(dim=(1, 2, 3))
    torch.testing.assert_close(reconstruction_nll(x, logits), oracle)


def test_bernoulli_nll_stays_finite_for_very_confident_logits():
    x = _images(batch=2, dtype=torch.float32)
    logits = torch.where(x > 0, -200.0, 200.0)  # confidently wrong everywhere
    nll = reconstruction_nll(x, logits)
    assert torch.isfinite(nll).all()
    torch.testing.assert_close(nll, torch.full((2,), 64 * 200.0))


def test_gaussian_nll_matches_torch_normal_log_prob_with_the_stated_std():
    x = _images(batch=3, binary=False)
    mean = torch.randn_like(x).tanh()
    for obs_std in (0.1, 1.0):
        oracle = -Normal(mean, obs_std).log_prob(x).sum(dim=(1, 2, 3))
        torch.testing.assert_close(reconstruction_nll(x, mean, "gaussian", obs_std), oracle)


# --- the negative ELBO ---------------------------------------------------------------

def _independent_neg_elbo(x, logits, mu, logvar, beta):
    """Oracle: torch.distributions for both terms, then the batch mean."""
    recon = -Bernoulli(logits=logits).log_prob((x + 1) / 2).flatten(1).sum(1)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    kl = kl_divergence(q, p)
    return (recon + beta * kl).mean(), recon.mean(), kl.mean()


@pytest.mark.parametrize("beta", [0.0, 1.0, 4.0])
def test_elbo_loss_matches_an_independent_computation(beta):
    x = _images(batch=6)
    logits = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    mu, logvar = _posterior(batch=6, latent=3)
    out = elbo_loss(x, logits, mu, logvar, beta=beta)
    assert isinstance(out, ElboParts)
    for ours, theirs in zip(out, _independent_neg_elbo(x, logits, mu, logvar, beta)):
        torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(out.loss, out.recon + beta * out.kl)


def test_elbo_loss_gaussian_matches_an_independent_computation():
    x = _images(batch=4, binary=False)
    mean = torch.randn_like(x).tanh()
    mu, logvar = _posterior(batch=4)
    out = elbo_loss(x, mean, mu, logvar, beta=2.0, likelihood="gaussian", obs_std=0.3)
    recon = -Normal(mean, 0.3).log_prob(x).flatten(1).sum(1).mean()
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    torch.testing.assert_close(out.loss, recon + 2.0 * kl_divergence(q, p).mean())


def test_elbo_loss_averages_over_the_batch_so_repeating_the_batch_changes_nothing():
    x = _images(batch=3)
    logits = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    mu, logvar = _posterior(batch=3)
    once = elbo_loss(x, logits, mu, logvar)
    twice = elbo_loss(x.repeat(2, 1, 1, 1), logits.repeat(2, 1, 1, 1),
                      mu.repeat(2, 1), logvar.repeat(2, 1))
    for a, b in zip(once, twice):
        torch.testing.assert_close(a, b)


def test_elbo_loss_gradients_match_the_oracle():
    x = _images(batch=4)
    logits = torch.randn(4, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    mu, logvar = (t.requires_grad_(True) for t in _posterior(batch=4))
    elbo_loss(x, logits, mu, logvar, beta=2.0).loss.backward()
    ours = [t.grad.clone() for t in (logits, mu, logvar)]
    for t in (logits, mu, logvar):
        t.grad = None
    _independent_neg_elbo(x, logits, mu, logvar, 2.0)[0].backward()
    for g, t in zip(ours, (logits, mu, logvar)):
        torch.testing.assert_close(g, t.grad)


def test_unchecked_elbo_equals_the_checked_one():
    x = _images(batch=4)
    logits = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    mu, logvar = _posterior(batch=4)
    for a, b in zip(elbo_loss(x, logits, mu, logvar, beta=3.0),
                    negative_elbo_unchecked(x, logits, mu, logvar, 3.0)):
        torch.testing.assert_close(a, b)


def test_elbo_loss_rejects_mismatched_shapes_and_bad_values():
    x = _images(batch=4)
    logits = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    mu, logvar = _posterior(batch=4)
    with pytest.raises(ValueError, match="x and recon"):
        elbo_loss(x, logits[:, :, :4], mu, logvar)
    with pytest.raises(ValueError, match="batch size"):
        elbo_loss(x, logits, mu[:3], logvar[:3])
    with pytest.raises(ValueError, match="mu and logvar"):
        elbo_loss(x, logits, mu, logvar[:, :1])
    with pytest.raises(ValueError, match="recon contains NaN"):
        elbo_loss(x, logits.clone().fill_(float("nan")), mu, logvar)
    with pytest.raises(ValueError, match="beta"):
        elbo_loss(x, logits, mu, logvar, beta=-1.0)
    with pytest.raises(ValueError, match="likelihood"):
        elbo_loss(x, logits, mu, logvar, likelihood="poisson")
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        elbo_loss((x + 1) * 2, logits, mu, logvar)
    with pytest.raises(ValueError, match="obs_std"):
        elbo_loss(x, logits, mu, logvar, likelihood="gaussian", obs_std=0.0)
