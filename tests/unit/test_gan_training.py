"""The GAN loop: what it records, what each option does, and its NaN guard (tiny runs)."""

import pytest
import torch
from torch import nn

from genlab.data.toy2d import ring_centers, sample_ring
from genlab.losses.gan import GAN_LOSSES
from genlab.models.mlp2d import MLPDiscriminator, MLPGenerator, has_spectral_norm
from genlab.train import DivergenceError, History
from genlab.train.gan import (PRESETS, GANConfig, evaluate_modes, gan_preset, optimizer_step,
                              train_gan, train_gan_2d)


def _nets(seed=0, hidden=16):
    torch.manual_seed(seed)
    return MLPGenerator(2, hidden, 2), MLPDiscriminator(2, hidden, 2)


def _ring(n):
    return sample_ring(n)


def _train(g, d, data, *, g_optimizer=None, d_optimizer=None, on_snapshot=None,
           latent_prior=None, callbacks=(), device=None, **settings):
    """``train_gan`` with the settings as keywords: the config is built from them."""
    return train_gan(GANConfig(**settings), data, g, d, g_optimizer=g_optimizer,
                     d_optimizer=d_optimizer, on_snapshot=on_snapshot,
                     latent_prior=latent_prior, callbacks=callbacks, device=device)


@pytest.mark.parametrize("loss", sorted(GAN_LOSSES))
def test_every_loss_trains_and_records_g_and_d_losses_per_step(loss):
    g, d = _nets()
    history = _train(g, d, _ring, steps=3, batch_size=8, **{**PRESETS[loss], "loss": loss, "n_critic": 2})
    assert isinstance(history, History)
    assert history.steps["g_loss"] == [1, 2, 3] and history.steps["d_loss"] == [1, 2, 3]
    assert history.meta["loss"] == loss
    assert ("gp" in history) == (loss == "wgan-gp")
    step, samples = history.snapshots[-1]
    assert step == 3 and samples.shape == (1000, 2)


def test_n_critic_sets_discriminator_updates_per_generator_update():
    g, d = _nets()
    g_opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    d_opt = torch.optim.Adam(d.parameters(), lr=1e-3)
    _train(g, d, _ring, steps=4, batch_size=8, n_critic=3, g_optimizer=g_opt, d_optimizer=d_opt)
    first = next(iter(d_opt.state.values()))
    assert int(first["step"]) == 12
    assert int(next(iter(g_opt.state.values()))["step"]) == 4


def test_wgan_clips_critic_weights_after_every_update():
    g, d = _nets()
    _train(g, d, _ring, loss="wgan", steps=3, batch_size=8, lr_d=0.5, optimizer="rmsprop")
    assert all(p.abs().max() <= 0.01 for p in d.parameters())
    g, d = _nets()
    _train(g, d, _ring, loss="wgan", steps=3, batch_size=8, lr_d=0.5, weight_clip=0.0)
    assert any(p.abs().max() > 0.01 for p in d.parameters())


def test_gradient_penalty_weight_defaults_to_ten_for_wgan_gp_and_zero_otherwise():
    g, d = _nets()
    assert _train(g, d, _ring, loss="wgan-gp", steps=1, batch_size=8).meta["gp_weight"] == 10.0
    assert _train(g, d, _ring, loss="wgan", steps=1, batch_size=8).meta["gp_weight"] == 0.0


def test_label_smoothing_changes_only_the_minimax_d_loss():
    histories = []
    for target in (1.0, 0.9):
        g, d = _nets()
        torch.manual_seed(1)
        histories.append(_train(g, d, _ring, steps=1, batch_size=16, real_target=target))
    # with target 0.9 the real term gains 0.1 * (softplus(x) - softplus(-x)) = 0.1 * x ...
    assert histories[0]["d_loss"] != histories[1]["d_loss"]
    g, d = _nets()
    with pytest.raises(ValueError, match="real_target"):
        _train(g, d, _ring, loss="lsgan", steps=1, real_target=0.9)


def test_spectral_norm_option_parametrizes_the_discriminator():
    g, d = _nets()
    assert not has_spectral_norm(d)
    _train(g, d, _ring, loss="hinge", steps=2, batch_size=8, spectral_norm=True)
    assert has_spectral_norm(d)
    # each weight's top singular value is about 1 after power iterations
    weight = d.net[0].weight.detach()
    assert torch.linalg.matrix_norm(weight, ord=2) == pytest.approx(1.0, abs=0.1)


def test_grad_clip_limits_sgd_steps_and_records_pre_clip_norms():
    g, d = _nets()
    g_opt = torch.optim.SGD(g.parameters(), lr=1.0)
    d_opt = torch.optim.SGD(d.parameters(), lr=1.0)
    before = torch.cat([p.detach().flatten().clone() for p in g.parameters()])
    history = _train(g, d, _ring, steps=2, batch_size=16, grad_clip=1e-3,
                        g_optimizer=g_opt, d_optimizer=d_opt)
    after = torch.cat([p.detach().flatten() for p in g.parameters()])
    # two SGD steps of norm <= 1e-3; storing the float32 weights rounds each entry by at
    # most half an ulp per step, so the moves can add up to eps * ||w|| (~5e-7) on top
    rounding = torch.finfo(torch.float32).eps * float(after.norm())
    assert (after.double() - before.double()).norm() <= 2e-3 + rounding
    assert len(history["g_grad_norm"]) == 2 and len(history["d_grad_norm"]) == 2
    assert min(history["g_grad_norm"]) > 1e-3  # the recorded norm is the one before clipping


def test_optimizer_step_returns_the_norm_clip_grad_norm_would_see():
    torch.manual_seed(0)
    layer = nn.Linear(3, 2)
    x = torch.randn(5, 3)
    opt = torch.optim.SGD(layer.parameters(), lr=0.0)
    norm = optimizer_step(layer(x).pow(2).sum(), opt, list(layer.parameters()), grad_clip=1e9)
    layer.zero_grad()
    layer(x).pow(2).sum().backward()
    expected = torch.cat([p.grad.flatten() for p in layer.parameters()]).norm()
    assert norm == pytest.approx(float(expected), rel=1e-5)


def test_nan_guard_raises_divergence_error_that_keeps_the_history():
    calls = {"n": 0}

    def poisoned(n):
        calls["n"] += 1
        batch = sample_ring(n)
        return batch * float("nan") if calls["n"] > 3 else batch

    g, d = _nets()
    with pytest.raises(DivergenceError) as info:
        _train(g, d, poisoned, steps=10, batch_size=8)
    assert info.value.history.steps["d_loss"] == [1, 2, 3]


def test_snapshots_and_callback_follow_snapshot_every():
    seen = []
    g, d = _nets()
    history = _train(g, d, _ring, steps=5, batch_size=8, snapshot_every=2, n_snapshot=30,
                        on_snapshot=lambda step, samples, hist: seen.append((step, samples.shape)))
    assert [s for s, _ in history.snapshots] == [2, 4, 5]
    assert seen == [(2, (30, 2)), (4, (30, 2)), (5, (30, 2))]


def test_same_seed_gives_the_same_run():
    a = train_gan_2d("ring", "nonsaturating", seed=3, hidden=16, n_hidden=1, steps=5,
                     batch_size=16, device="cpu")
    b = train_gan_2d("ring", "nonsaturating", seed=3, hidden=16, n_hidden=1, steps=5,
                     batch_size=16, device="cpu")
    assert a.history["g_loss"] == b.history["g_loss"]
    assert a.history["d_loss"] == b.history["d_loss"]


def test_lr_decay_reaches_zero_at_the_end():
    g, d = _nets()
    g_opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    _train(g, d, _ring, steps=4, batch_size=8, lr_decay=True, g_optimizer=g_opt)
    assert g_opt.param_groups[0]["lr"] == pytest.approx(0.0)


def test_amp_on_cpu_runs_in_bfloat16_and_stays_finite():
    g, d = _nets()
    history = _train(g, d, _ring, loss="wgan-gp", steps=2, batch_size=8, amp=True,
                        device="cpu")
    assert all(torch.isfinite(torch.tensor(history["d_loss"])))
    assert history.meta["amp"] is True


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_amp_on_cuda_uses_fp16_with_a_grad_scaler():
    run = train_gan_2d("grid", "nonsaturating", steps=20, batch_size=64, amp=True, device="cuda")
    assert torch.isfinite(torch.tensor(run.history["g_loss"])).all()


def test_training_moves_samples_toward_the_modes():
    run = train_gan_2d("ring", "nonsaturating", seed=0, hidden=32, n_hidden=2, steps=150,
                       batch_size=64, g_lr=2e-3, d_lr=2e-3, device="cpu", snapshot_every=150)
    centers = ring_centers()
    untrained = MLPGenerator(2, 32, 2)
    before = torch.cdist(untrained.sample(500), centers).min(1).values.mean()
    after = torch.cdist(run.generator.sample(500), centers).min(1).values.mean()
    assert after < 0.7 * before


def test_evaluate_modes_scores_the_generator_on_the_named_data_set():
    g, _ = _nets()
    coverage, samples = evaluate_modes(g, "grid", n=100)
    assert samples.shape == (100, 2) and samples.dtype == torch.float32
    assert coverage.n_modes == 25


def test_presets_name_the_published_hyperparameters():
    assert PRESETS["wgan"] == dict(optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, n_critic=5,
                                   weight_clip=0.01)
    assert gan_preset("wgan-gp").betas == (0.0, 0.9)
    assert gan_preset("wgan-gp").gp_weight == 10.0
    assert gan_preset("wgan", steps=7) == GANConfig(loss="wgan", steps=7, **PRESETS["wgan"])


@pytest.mark.parametrize("kwargs,match", [
    (dict(loss="vanilla"), "loss"),
    (dict(n_critic=0), "n_critic"),
    (dict(steps=0), "steps"),
    (dict(gp_weight=-1.0), "gp_weight"),
    (dict(optimizer="sgd"), "optimizer"),
    (dict(grad_clip=0.0), "grad_clip"),
])
def test_bad_settings_raise_naming_the_argument(kwargs, match):
    g, d = _nets()
    with pytest.raises(ValueError, match=match):
        _train(g, d, _ring, **{"steps": 1, **kwargs})


def test_ema_generator_is_the_hand_computed_weight_average_with_warm_up():
    g, d = _nets()
    initial = [p.detach().clone() for p in g.parameters()]
    weights_after_step = []  # the raw generator's weights after each generator update
    history = _train(g, d, _ring, steps=5, batch_size=8, lr_g=1e-2, lr_d=1e-2,
                        ema_decay=0.3, snapshot_every=1,
                        on_snapshot=lambda step, samples, hist: weights_after_step.append(
                            [p.detach().clone() for p in g.parameters()]))
    expected = initial
    for step, weights in enumerate(weights_after_step, start=1):
        decay = min(0.3, (1 + step) / (10 + step))  # 2/11, 3/12, then 0.3 from step 3
        expected = [decay * e + (1 - decay) * w for e, w in zip(expected, weights)]
    ema = history.meta["ema_generator"]
    assert ema is not g and not ema.training
    for got, want in zip(ema.parameters(), expected):
        torch.testing.assert_close(got, want)
    assert not torch.equal(next(ema.parameters()), next(g.parameters()))


def test_ema_update_matches_torch_averaged_model():
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from genlab.train.gan import ema_update_

    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    ours = AveragedModel(model)  # a plain copy to average into
    reference = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    reference.update_parameters(model)  # its first update copies the weights
    for _ in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ema_update_(ours.module, model, 0.9)
        reference.update_parameters(model)
    for got, want in zip(ours.module.parameters(), reference.module.parameters()):
        torch.testing.assert_close(got, want)


def test_without_ema_decay_there_is_no_average_and_bad_decays_are_refused():
    run = train_gan_2d("ring", "nonsaturating", seed=0, hidden=16, n_hidden=1, steps=2,
                       batch_size=8, device="cpu")
    assert run.ema_generator is None and "ema_generator" not in run.history.meta
    run = train_gan_2d("ring", "nonsaturating", seed=0, hidden=16, n_hidden=1, steps=2,
                       batch_size=8, device="cpu", ema_decay=0.9)
    assert run.ema_generator is run.history.meta["ema_generator"]
    g, d = _nets()
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="ema_decay"):
            _train(g, d, _ring, steps=1, batch_size=8, ema_decay=bad)


def test_latent_prior_supplies_the_noise_of_training_and_snapshots():
    from genlab.models.latent import MixturePrior

    prior = MixturePrior(dim=2, n_components=3, component_std=0.01, seed=0)
    calls = []
    original = prior.sample

    def counting_sample(n, **kwargs):
        calls.append(n)
        return original(n, **kwargs)

    prior.sample = counting_sample
    g, d = _nets()
    history = _train(g, d, _ring, steps=2, batch_size=8, latent_prior=prior, n_snapshot=50)
    assert calls == [50, 8, 8, 8, 8]  # fixed snapshot noise, then D and G batches per step
    assert "MixturePrior" in history.meta["latent_prior"]
    # the snapshot is the generator applied to noise drawn from the prior's islands
    z = torch.cat([prior.means, prior.means + 0.02])
    with torch.no_grad():
        reach = torch.cdist(history.snapshots[-1][1], g(z)).min(1).values
    assert reach.max() < 0.5


def test_latent_prior_must_match_the_generator():
    from genlab.models.latent import GaussianPrior

    g, d = _nets()
    with pytest.raises(ValueError, match="latent_dim"):
        _train(g, d, _ring, steps=1, latent_prior=GaussianPrior(3))
    with pytest.raises(TypeError, match="latent_prior"):
        _train(g, d, _ring, steps=1, latent_prior=object())


def test_r1_penalty_is_added_lazily_with_its_weight_scaled():
    from genlab.losses.gan import d_loss_minimax, r1_penalty

    g, d = _nets()
    d_opt = torch.optim.SGD(d.parameters(), lr=0.0)  # D frozen: recompute its losses exactly
    g_opt = torch.optim.SGD(g.parameters(), lr=0.0)
    torch.manual_seed(5)
    history = _train(g, d, _ring, steps=4, batch_size=16, r1_weight=0.3, r1_every=2,
                        g_optimizer=g_opt, d_optimizer=d_opt)
    assert history.steps["r1"] == [1, 3]  # D updates 0 and 2 of 0..3
    # replay the random draws of step 1: real batch, then fake noise
    torch.manual_seed(5)
    torch.randn(1000, 2)  # the snapshot noise
    real = _ring(16)
    with torch.no_grad():
        fake = g(torch.randn(16, 2))
    expected_r1 = r1_penalty(d, real, weight=0.6)
    torch.testing.assert_close(history["r1"][0], expected_r1.item())
    expected = d_loss_minimax(d(real), d(fake)) + expected_r1
    torch.testing.assert_close(history["d_loss"][0], expected.item(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="r1_weight"):
        _train(g, d, _ring, steps=1, r1_weight=-0.1)
    with pytest.raises(ValueError, match="r1_every"):
        _train(g, d, _ring, steps=1, r1_every=0)


def test_train_gan_2d_mixture_latent_and_evaluation_with_temperature():
    run = train_gan_2d("grid", "nonsaturating", seed=3, latent="mixture", latent_dim=8,
                       n_components=16, hidden=16, n_hidden=2, steps=3, batch_size=16,
                       device="cpu")
    assert run.latent_prior.n_components == 16 and run.latent_prior.dim == 8
    assert run.history.meta["latent"] == "mixture" and run.history.meta["seed"] == 3
    _, hot = evaluate_modes(run.generator, "grid", n=64, latent_prior=run.latent_prior)
    _, cold = evaluate_modes(run.generator, "grid", n=64, latent_prior=run.latent_prior,
                             temperature=0.0)
    with torch.no_grad():
        at_means = run.generator(run.latent_prior.means)
    # at temperature 0 every sample is the image of a component mean. Distances in float64
    # by differences: cdist's float32 matrix-product path alone loses ~1e-4 here. The same z
    # in a batch of 64 or 16 may round differently (GEMM blocking), by < 1e-6 on outputs
    # below 1; images of distinct means lie > 1e-2 apart.
    def nearest_mean(samples):
        return (samples.double()[:, None] - at_means.double()[None]).norm(dim=-1).min(1).values

    assert nearest_mean(cold).max() < 1e-6
    # noise of std 0.05 in z moves outputs by ~1e-2, far above any rounding
    assert nearest_mean(hot).max() > 1e-3
    gaussian = train_gan_2d("ring", steps=1, hidden=8, n_hidden=1, batch_size=8, device="cpu")
    assert gaussian.latent_prior.dim == 2 and gaussian.history.meta["latent"] == "gaussian"
    with pytest.raises(ValueError, match="latent"):
        train_gan_2d("ring", latent="uniform", steps=1)
