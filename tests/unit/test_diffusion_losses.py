"""Diffusion schedules, targets and losses against diffusers and closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.losses import diffusion as D

T = 1000


@pytest.fixture(scope="module")
def schedulers():
    from diffusers import DDPMScheduler

    return {
        "linear": DDPMScheduler(num_train_timesteps=T, beta_schedule="linear"),
        "cosine": DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2"),
    }


def ours(name):
    return D.alphas_cumprod_from_betas(D.make_beta_schedule(name, T))


def batch(n=6, shape=(1, 8, 8), seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(n, *shape, generator=g) * 2 - 1
    noise = torch.randn(n, *shape, generator=g)
    t = torch.randint(0, T, (n,), generator=g)
    t[0], t[-1] = 0, T - 1  # always include both ends
    return x0, noise, t


# ---------------------------------------------------------------- schedules

@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_schedule_alphas_cumprod_match_diffusers(schedulers, name):
    theirs = schedulers[name].alphas_cumprod.double()
    torch.testing.assert_close(ours(name), theirs, rtol=2e-4, atol=1e-7)
    torch.testing.assert_close(D.make_beta_schedule(name, T), schedulers[name].betas.double(),
                               rtol=1e-5, atol=1e-7)


def test_linear_schedule_has_ddpm_endpoints():
    betas = D.linear_beta_schedule()
    assert betas.shape == (1000,) and betas.dtype == torch.float64
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)


def test_cosine_schedule_follows_cos_squared_and_caps_beta():
    T_small = 50
    betas = D.cosine_beta_schedule(T_small, s=0.008, max_beta=0.999)
    assert (betas <= 0.999).all() and betas[-1].item() == pytest.approx(0.999)
    abar = D.alphas_cumprod_from_betas(betas)
    u = torch.arange(1, T_small + 1, dtype=torch.float64) / T_small
    f = torch.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2 / math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    # equal to the closed form wherever the cap did not bite
    torch.testing.assert_close(abar[:-1], f[:-1], rtol=1e-10, atol=1e-12)


def test_log_snr_decreases_and_cosine_is_gentler_at_the_start():
    for name in ("linear", "cosine"):
        lam = D.log_snr(ours(name))
        assert (lam[1:] < lam[:-1]).all()
    # cosine destroys information more slowly: higher log-SNR in the middle of the process
    assert D.log_snr(ours("cosine"))[T // 2] > D.log_snr(ours("linear"))[T // 2]


def test_betas_from_alphas_cumprod_inverts_the_cumulative_product():
    betas = D.cosine_beta_schedule(T)
    torch.testing.assert_close(D.betas_from_alphas_cumprod(D.alphas_cumprod_from_betas(betas)), betas)


# ---------------------------------------------------------------- forward process and targets

@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_q_sample_matches_diffusers_add_noise(schedulers, name):
    x0, noise, t = batch()
    expected = schedulers[name].add_noise(x0, noise, t)
    torch.testing.assert_close(D.q_sample(x0, t, noise, ours(name)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_v_target_matches_diffusers_get_velocity(schedulers, name):
    x0, noise, t = batch(shape=(3, 4, 4))
    expected = schedulers[name].get_velocity(x0, noise, t)
    torch.testing.assert_close(D.v_target(x0, noise, t, ours(name)), expected, rtol=1e-4, atol=1e-5)


def test_q_sample_keeps_dtype_and_is_unit_variance_for_unit_variance_data():
    abar = ours("cosine")
    x0 = torch.randn(20000, 1, 1, 1)
    t = torch.full((20000,), 400)
    xt = D.q_sample(x0, t, torch.randn_like(x0), abar)
    assert xt.dtype == torch.float32
    assert xt.var().item() == pytest.approx(1.0, abs=0.05)  # variance preserving


def test_v_has_unit_variance_and_is_the_rotation_of_x0_and_eps():
    abar = ours("linear")
    x0, noise = torch.randn(20000, 1, 1, 1), torch.randn(20000, 1, 1, 1)
    t = torch.full((20000,), 700)
    v = D.v_target(x0, noise, t, abar)
    assert v.var().item() == pytest.approx(1.0, abs=0.05)
    a, s = abar[700].sqrt().item(), (1 - abar[700]).sqrt().item()
    torch.testing.assert_close(v, a * noise - s * x0)


# ---------------------------------------------------------------- conversions

@pytest.mark.parametrize("source", D.PREDICTIONS)
@pytest.mark.parametrize("target", D.PREDICTIONS)
def test_convert_prediction_recovers_every_target_from_every_source(source, target):
    abar = ours("cosine")
    x0, noise, t = batch(n=8, shape=(2, 4, 4))
    t[-1] = T - 2  # the very last step's abar ~ 1e-9 amplifies float32 error in x0 from eps
    x0, noise = x0.double(), noise.double()
    xt = D.q_sample(x0, t, noise, abar)
    truth = {"epsilon": noise, "x0": x0, "v": D.v_target(x0, noise, t, abar)}
    got = D.convert_prediction(truth[source], xt, t, abar, source, target)
    torch.testing.assert_close(got, truth[target], rtol=1e-6, atol=1e-6)


def test_named_conversions_round_trip():
    abar = ours("linear")
    x0, noise, t = batch(n=5)
    xt = D.q_sample(x0, t, noise, abar)
    torch.testing.assert_close(D.eps_to_x0(xt, noise, t, abar), x0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(D.x0_to_eps(xt, x0, t, abar), noise, rtol=1e-4, atol=1e-4)
    v = D.v_target(x0, noise, t, abar)
    torch.testing.assert_close(D.v_to_x0(xt, v, t, abar), x0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(D.v_to_eps(xt, v, t, abar), noise, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- simple loss and min-SNR

@pytest.mark.parametrize("prediction", D.PREDICTIONS)
def test_simple_loss_is_mse_against_the_prediction_target(prediction):
    abar = ours("cosine")
    x0, noise, t = batch()
    out = torch.randn_like(x0)
    target = {"epsilon": noise, "x0": x0, "v": D.v_target(x0, noise, t, abar)}[prediction]
    loss = D.simple_loss(out, x0, noise, t, abar, prediction)
    torch.testing.assert_close(loss, torch.nn.functional.mse_loss(out, target))


def test_simple_loss_weights_scale_each_sample():
    abar = ours("cosine")
    x0, noise, t = batch()
    out = torch.randn_like(x0)
    w = torch.rand(len(x0))
    per = ((out - noise) ** 2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(D.simple_loss(out, x0, noise, t, abar, "epsilon", w), (w * per).mean())


@pytest.mark.parametrize("prediction", D.PREDICTIONS)
@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_min_snr_weights_match_diffusers_training_recipe(schedulers, name, prediction):
    from diffusers.training_utils import compute_snr

    t = torch.arange(0, T, 37)
    snr = compute_snr(schedulers[name], t).double()
    clipped = torch.minimum(snr, torch.full_like(snr, 5.0))
    expected = {"epsilon": clipped / snr, "v": clipped / (snr + 1), "x0": clipped}[prediction]
    got = D.min_snr_weights(t, ours(name), gamma=5.0, prediction=prediction)
    torch.testing.assert_close(got.double(), expected, rtol=2e-3, atol=1e-6)


def test_min_snr_weight_is_one_at_high_noise_for_epsilon():
    abar = ours("cosine")
    t = torch.tensor([T - 1, T // 2 + 200])
    torch.testing.assert_close(D.min_snr_weights(t, abar), torch.ones(2))


# ---------------------------------------------------------------- hybrid objective (Improved DDPM)

def test_learned_log_variance_matches_diffusers_learned_range(schedulers):
    sched = schedulers["cosine"]
    abar = ours("cosine")
    v = torch.rand(3, 1, 2, 2) * 2 - 1
    for t_int in (1, 10, 500, 999):
        t = torch.full((3,), t_int)
        expected = sched._get_variance(t_int, predicted_variance=v, variance_type="learned_range")
        torch.testing.assert_close(D.learned_log_variance(v, t, abar), expected, rtol=1e-3, atol=1e-4)


def test_learned_variance_endpoints_are_beta_tilde_and_beta():
    abar = ours("linear")
    betas = D.betas_from_alphas_cumprod(abar)
    t = torch.tensor([5, 300])
    lo = D.learned_log_variance(-torch.ones(2, 1, 1, 1), t, abar).view(-1)
    hi = D.learned_log_variance(torch.ones(2, 1, 1, 1), t, abar).view(-1)
    prev = abar[t - 1]
    beta_tilde = betas[t] * (1 - prev) / (1 - abar[t])
    torch.testing.assert_close(lo.double(), beta_tilde.log(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(hi.double(), betas[t].log(), rtol=1e-5, atol=1e-6)


def test_normal_kl_matches_torch_distributions():
    m1, m2 = torch.randn(5), torch.randn(5)
    lv1, lv2 = torch.randn(5), torch.randn(5)
    p = torch.distributions.Normal(m1, (0.5 * lv1).exp())
    q = torch.distributions.Normal(m2, (0.5 * lv2).exp())
    torch.testing.assert_close(D.normal_kl(m1, lv1, m2, lv2), torch.distributions.kl_divergence(p, q))


def test_discretized_log_likelihood_is_gaussian_mass_of_the_bin():
    x = torch.tensor([-1.0, -0.5, 0.0, 0.25, 1.0])
    means = x + 0.1 * torch.randn(5, generator=torch.Generator().manual_seed(0))
    log_scales = torch.full((5,), -2.0)
    normal = torch.distributions.Normal(means, log_scales.exp())
    h = 1 / 255
    mass = normal.cdf(x + h) - normal.cdf(x - h)
    mass[0] = normal.cdf(x + h)[0]       # the edge bins extend to -inf and +inf
    mass[-1] = 1 - normal.cdf(x - h)[-1]
    got = D.discretized_gaussian_log_likelihood(x, means, log_scales)
    torch.testing.assert_close(got, mass.log(), rtol=1e-4, atol=1e-5)


def test_vlb_term_is_zero_when_model_matches_the_true_posterior():
    abar = ours("cosine")
    x0, noise, t = batch(n=6)
    t[0] = 7  # t > 0 everywhere: pure KL terms
    xt = D.q_sample(x0, t, noise, abar)
    mean, _, log_var = D.posterior_mean_variance(x0, xt, t, abar)
    terms = D.vlb_terms(mean, log_var.expand_as(xt), x0, xt, t, abar)
    torch.testing.assert_close(terms, torch.zeros(6), atol=1e-5, rtol=0)


def test_posterior_mean_is_the_ddpm_combination_of_x0_and_xt():
    abar = ours("linear")
    betas = D.betas_from_alphas_cumprod(abar)
    x0, noise, t = batch(n=4)
    t = torch.tensor([1, 2, 300, 999])
    xt = D.q_sample(x0, t, noise, abar)
    mean, var, _ = D.posterior_mean_variance(x0, xt, t, abar)
    for i, ti in enumerate(t.tolist()):
        a_prev, a_t, b = abar[ti - 1].item(), abar[ti].item(), betas[ti].item()
        expected = (math.sqrt(a_prev) * b / (1 - a_t)) * x0[i] \
            + (math.sqrt(1 - b) * (1 - a_prev) / (1 - a_t)) * xt[i]
        torch.testing.assert_close(mean[i], expected, rtol=1e-4, atol=1e-5)
        assert var[i].item() == pytest.approx((1 - a_prev) / (1 - a_t) * b, rel=1e-5)


def test_hybrid_loss_stops_the_vlb_gradient_at_the_mean():
    abar = ours("cosine")
    x0, noise, t = batch(n=6, shape=(1, 4, 4))
    xt = D.q_sample(x0, t, noise, abar)
    out = torch.randn(6, 2, 4, 4, requires_grad=True)
    l_simple, l_vlb = D.hybrid_loss_terms(out, x0, noise, xt, t, abar, "epsilon")
    (g_vlb,) = torch.autograd.grad(l_vlb.mean(), out, retain_graph=True)
    (g_simple,) = torch.autograd.grad(l_simple.mean(), out)
    assert torch.all(g_vlb[:, :1] == 0), "L_vlb must not reach the mean (prediction) channels"
    assert g_vlb[:, 1:].abs().sum() > 0, "L_vlb must train the variance channels"
    assert torch.all(g_simple[:, 1:] == 0) and g_simple[:, :1].abs().sum() > 0


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_hybrid_loss_is_simple_plus_lambda_times_T_times_mean_vlb(prediction):
    abar = ours("linear")
    x0, noise, t = batch(n=6, shape=(1, 4, 4))
    xt = D.q_sample(x0, t, noise, abar)
    out = torch.randn(6, 2, 4, 4)
    l_simple, l_vlb = D.hybrid_loss_terms(out, x0, noise, xt, t, abar, prediction)
    target = noise if prediction == "epsilon" else D.v_target(x0, noise, t, abar)
    torch.testing.assert_close(l_simple, ((out[:, :1] - target) ** 2).mean(dim=(1, 2, 3)))
    expected = l_simple.mean() + 0.001 * T * l_vlb.mean()
    torch.testing.assert_close(D.hybrid_loss(out, x0, noise, xt, t, abar, prediction), expected)
    assert torch.isfinite(l_vlb).all() and (l_vlb >= 0).all()


# ---------------------------------------------------------------- clear errors

def test_timesteps_out_of_range_raise_a_clear_error():
    abar = ours("linear")
    x0, noise, t = batch(n=2)
    with pytest.raises(ValueError, match=r"timesteps must lie in \[0, 999\]"):
        D.q_sample(x0, torch.tensor([0, 1000]), noise, abar)
    with pytest.raises(ValueError, match="timesteps"):
        D.v_target(x0, noise, torch.tensor([-1, 3]), abar)


def test_float_timesteps_and_wrong_batch_are_rejected():
    abar = ours("linear")
    x0, noise, _ = batch(n=2)
    with pytest.raises(ValueError, match="integer"):
        D.q_sample(x0, torch.tensor([1.0, 2.0]), noise, abar)
    with pytest.raises(ValueError, match="batch"):
        D.q_sample(x0, torch.tensor([1, 2, 3]), noise, abar)
    with pytest.raises(TypeError, match="t must be a torch.Tensor"):
        D.q_sample(x0, 3, noise, abar)


def test_shape_mismatch_and_non_finite_input_are_rejected():
    abar = ours("cosine")
    x0, noise, t = batch(n=2)
    with pytest.raises(ValueError, match="same shape"):
        D.q_sample(x0, t, noise[:, :, :4], abar)
    bad = x0.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="x0 contains NaN"):
        D.q_sample(bad, t, noise, abar)
    with pytest.raises(ValueError, match="model_output must have shape"):
        D.hybrid_loss(torch.randn(2, 1, 8, 8), x0, noise, x0, t, abar)
    with pytest.raises(ValueError, match="prediction must be one of"):
        D.simple_loss(x0, x0, noise, t, abar, prediction="v_prediction")


def test_bad_schedule_parameters_are_rejected():
    with pytest.raises(ValueError, match="beta_start <= beta_end"):
        D.linear_beta_schedule(10, 0.5, 0.1)
    with pytest.raises(ValueError, match="max_beta"):
        D.cosine_beta_schedule(10, max_beta=1.0)
    with pytest.raises(TypeError, match="T must be an int"):
        D.linear_beta_schedule(10.0)
    with pytest.raises(ValueError, match="alphas_cumprod"):
        D.q_sample(torch.zeros(1, 1), torch.tensor([0]), torch.zeros(1, 1), torch.tensor([1.0, 0.5]))
