"""Specifications of the small digits VAE (genlab.models.vae) and its loop (genlab.train.vae)."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.losses.vae import binarize, elbo_loss
from genlab.models.vae import DigitsVAE
from genlab.train.history import DivergenceError, History
from genlab.train.vae import evaluate_vae, kl_weight, train_vae


@pytest.fixture(scope="module")
def digits():
    images, labels = genlab.data.load_digits("train")
    return binarize(images[:256]), labels[:256]


def _vae(latent_dim=2, seed=0, **kw):
    torch.manual_seed(seed)
    return DigitsVAE(latent_dim=latent_dim, hidden=32, **kw)


def test_vae_shapes_for_a_configurable_latent_size():
    x = torch.zeros(5, 1, 8, 8)
    for latent_dim in (2, 7):
        vae = _vae(latent_dim)
        recon, mu, logvar = vae(x)
        assert recon.shape == (5, 1, 8, 8)
        assert mu.shape == logvar.shape == (5, latent_dim)
        assert vae.sample(3).shape == (3, 1, 8, 8)
        assert vae.reconstruct(x).shape == (5, 1, 8, 8)


def test_vae_images_lie_in_minus_one_one_for_both_likelihoods():
    for likelihood in ("bernoulli", "gaussian"):
        vae = _vae(likelihood=likelihood)
        with torch.no_grad():
            vae.decoder[-1].bias.fill_(50.0)  # push outputs to the edge
        images = vae.sample(4)
        assert images.min() >= -1 and images.max() <= 1


def test_vae_rejects_wrong_image_and_latent_shapes():
    vae = _vae(3)
    with pytest.raises(ValueError, match="x must have shape"):
        vae.encode(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="3 columns"):
        vae.decode(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="likelihood"):
        DigitsVAE(likelihood="poisson")


def test_kl_weight_ramps_linearly_from_zero_to_beta():
    assert kl_weight(0, 4.0, 0) == 4.0
    assert [kl_weight(s, 2.0, 4) for s in (0, 1, 2, 4, 100)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="beta"):
        kl_weight(0, -1.0, 10)


def test_training_lowers_the_negative_elbo_and_logs_both_parts(digits):
    images, _ = digits
    vae = _vae()
    before = evaluate_vae(vae, images)["neg_elbo"]
    history = train_vae(vae, images, steps=100, batch_size=64, lr=3e-3)
    assert isinstance(history, History)
    for name in ("loss", "neg_elbo", "recon", "kl", "kl_weight", "kl_dim0", "kl_dim1"):
        assert len(history[name]) == 100, name
    # with beta = 1 and no warm-up the loss is the negative ELBO, recon + kl
    assert history["loss"][-1] == pytest.approx(history["recon"][-1] + history["kl"][-1], rel=1e-5)
    assert history["kl"][-1] == pytest.approx(history["kl_dim0"][-1] + history["kl_dim1"][-1],
                                              rel=1e-4)
    after = evaluate_vae(vae, images)["neg_elbo"]
    assert after < before - 10, (before, after)
    assert history.meta["cpu_seconds"] > 0 and history.meta["latent_dim"] == 2


def test_training_is_deterministic_for_a_seed(digits):
    images, _ = digits
    runs = [train_vae(_vae(), images, steps=20, batch_size=32, seed=3)["loss"] for _ in range(2)]
    assert runs[0] == runs[1]
    other = train_vae(_vae(), images, steps=20, batch_size=32, seed=4)["loss"]
    assert other != runs[0]


def test_kl_annealing_logs_the_ramp_and_starts_as_a_plain_autoencoder(digits):
    images, _ = digits
    history = train_vae(_vae(), images, steps=10, batch_size=32, beta=2.0, kl_warmup_steps=5)
    assert history["kl_weight"] == [0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert history["loss"][0] == pytest.approx(history["recon"][0])


def test_a_large_beta_collapses_every_latent_dimension_to_the_prior(digits):
    images, _ = digits
    vae = _vae(latent_dim=3)
    train_vae(vae, images, steps=100, batch_size=64, lr=3e-3, beta=50.0)
    kl_dims = evaluate_vae(vae, images)["kl_per_dim"]
    assert kl_dims.shape == (3,)
    assert (kl_dims < 0.05).all(), kl_dims
    # with beta = 1, the same model keeps information in its latent space
    vae = _vae(latent_dim=3)
    train_vae(vae, images, steps=200, batch_size=64, lr=3e-3, beta=1.0)
    assert evaluate_vae(vae, images)["kl_per_dim"].max() > 0.5


def test_evaluate_matches_elbo_loss_on_the_same_noise(digits):
    images, _ = digits
    vae = _vae()
    result = evaluate_vae(vae, images[:50], seed=5, batch_size=50)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        mu, logvar = vae.encode(images[:50])
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
        parts = elbo_loss(images[:50], vae.decode(z), mu, logvar)
    assert result["neg_elbo"] == pytest.approx(float(parts.loss), rel=1e-5)
    assert result["kl"] == pytest.approx(float(parts.kl), rel=1e-5)
    assert float(result["kl_per_dim"].sum()) == pytest.approx(result["kl"], rel=1e-5)


def test_divergence_stops_training_and_keeps_the_history(digits):
    images, _ = digits
    vae = _vae()
    with pytest.raises(DivergenceError) as info:
        train_vae(vae, images, steps=50, batch_size=32, lr=1e12)
    assert len(info.value.history["loss"]) >= 1


def test_train_vae_rejects_bad_data_and_settings(digits):
    images, _ = digits
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        train_vae(_vae(), (images + 1) * 2, steps=1)
    with pytest.raises(ValueError, match="images"):
        train_vae(_vae(), images.flatten(1), steps=1)
    with pytest.raises(ValueError, match="steps"):
        train_vae(_vae(), images, steps=0)


def test_vae_figures_build_and_reject_mismatched_inputs(digits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genlab.viz import vae as viz_vae

    images, labels = digits
    vae = _vae()
    ax = viz_vae.reconstruction_pairs(images[:20], vae.reconstruct(images[:20]))
    assert ax.images and ax.images[0].get_array().shape == (4 * 9 - 1, 10 * 9 - 1)
    with torch.no_grad():
        mu, _ = vae.encode(images)
    assert len(viz_vae.latent_scatter(mu, labels).collections) == 1
    viz_vae.latent_manifold(vae, n=5)
    ax = viz_vae.kl_heatmap({"beta=1": torch.tensor([1.0, 0.0]), "beta=4": torch.zeros(2)})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["beta=1", "beta=4"]
    with pytest.raises(ValueError, match="same shape"):
        viz_vae.reconstruction_pairs(images[:20], images[:10])
    with pytest.raises(ValueError, match="latent_dim=2"):
        viz_vae.latent_manifold(_vae(latent_dim=3))
    plt.close("all")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_and_evaluation_run_on_cuda(digits):
    images, _ = digits
    vae = _vae().to("cuda")
    history = train_vae(vae, images, steps=20, batch_size=64)
    assert history.meta["device"].startswith("cuda")
    result = evaluate_vae(vae, images.cuda())
    assert result["kl_per_dim"].device.type == "cpu"
    assert vae.sample(4, generator=torch.Generator().manual_seed(0)).device.type == "cuda"
