"""Latent priors: the Gaussian and the fixed Gaussian mixture, with temperature."""

import math

import pytest
import torch

from genlab.models.latent import GaussianPrior, MixturePrior, make_prior


def test_gaussian_prior_draws_standard_normal_noise_scaled_by_temperature():
    prior = GaussianPrior(3)
    z = prior.sample(20_000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (20_000, 3) and z.dtype == torch.float32
    assert z.mean(0).abs().max() < 0.03 and (z.std(0) - 1).abs().max() < 0.03
    again = prior.sample(20_000, generator=torch.Generator().manual_seed(0), temperature=0.5)
    torch.testing.assert_close(again, 0.5 * z)


def test_mixture_prior_means_are_fixed_by_the_seed():
    a, b, c = MixturePrior(4, 10, seed=3), MixturePrior(4, 10, seed=3), MixturePrior(4, 10, seed=4)
    torch.testing.assert_close(a.means, b.means)
    assert not torch.allclose(a.means, c.means)
    torch.testing.assert_close(a.means, torch.randn(10, 4, generator=torch.Generator().manual_seed(3)))


def test_mixture_prior_samples_are_equal_weight_islands_of_the_stated_width():
    prior = MixturePrior(dim=8, n_components=16, component_std=0.05, seed=0)
    z = prior.sample(32_000, generator=torch.Generator().manual_seed(1))
    index = prior.component_of(z)
    counts = torch.bincount(index, minlength=16).float()
    # each component holds 1/16 of the mass: binomial std is about 1.4% of 2000
    assert (counts / 2000 - 1).abs().max() < 0.08
    offsets = z - prior.means[index]
    assert abs(offsets.std().item() - 0.05) < 0.002
    # islands: every sample lies far closer to its own mean than to any other
    gaps = torch.cdist(prior.means, prior.means) + 1e9 * torch.eye(16)
    assert offsets.norm(dim=1).max() < 0.5 * gaps.min()  # no two islands touch


def test_mixture_prior_temperature_shrinks_only_the_noise():
    prior = MixturePrior(dim=2, n_components=5, component_std=0.1, seed=0)
    gen = lambda: torch.Generator().manual_seed(7)
    z1 = prior.sample(100, generator=gen())
    z0 = prior.sample(100, generator=gen(), temperature=0.0)
    index = prior.component_of(z1)
    torch.testing.assert_close(z0, prior.means[index])
    zh = prior.sample(100, generator=gen(), temperature=0.5)
    torch.testing.assert_close(zh - z0, 0.5 * (z1 - z0))


def test_make_prior_and_bad_arguments():
    assert isinstance(make_prior("gaussian", 2), GaussianPrior)
    mix = make_prior("mixture", 8, n_components=32)
    assert isinstance(mix, MixturePrior) and mix.means.shape == (32, 8)
    with pytest.raises(ValueError, match="kind"):
        make_prior("uniform", 2)
    with pytest.raises(ValueError, match="options"):
        make_prior("gaussian", 2, n_components=3)
    with pytest.raises(ValueError, match="n_components"):
        MixturePrior(8, 0)
    with pytest.raises(ValueError, match="component_std"):
        MixturePrior(8, 4, component_std=0.0)
    with pytest.raises(ValueError, match="temperature"):
        GaussianPrior(2).sample(3, temperature=-1.0)
    with pytest.raises(ValueError, match="z must have shape"):
        MixturePrior(8, 4).component_of(torch.zeros(3, 2))
    assert math.isclose(MixturePrior(8, 4, component_std=0.2).component_std, 0.2)
