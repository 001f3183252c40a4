"""genlab.optim: presets, Adam by hand, schedules; oracles are torch.optim, transformers,
diffusers and torch's own schedulers."""

from __future__ import annotations

import math

import pytest
import torch

from genlab import optim


def _params(seed=0, shape=(3, 4)):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.Parameter(torch.randn(shape, generator=g))


def _trace_lambda_scheduler(scheduler, n_steps):
    """Rates of a scheduler that was built outside trace_lr, stepped the usual way."""
    rates = []
    for _ in range(n_steps):
        rates.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.optimizer.step()
        scheduler.step()
    return rates


# ------------------------------------------------------------------ presets

@pytest.mark.parametrize("preset, kind, lr, extra", [
    ("gan", torch.optim.Adam, 2e-4, {"betas": (0.5, 0.999)}),
    ("wgan", torch.optim.RMSprop, 5e-5, {"momentum": 0.0}),
    ("wgan_gp", torch.optim.Adam, 1e-4, {"betas": (0.0, 0.9)}),
    ("adamw", torch.optim.AdamW, 1e-3, {"weight_decay": 1e-2}),
    ("adam", torch.optim.Adam, 1e-3, {"betas": (0.9, 0.999)}),
])
def test_presets_carry_the_settings_of_their_papers(preset, kind, lr, extra):
    opt = optim.make_optimizer([_params()], preset)
    assert type(opt) is kind
    group = opt.param_groups[0]
    assert group["lr"] == lr
    for name, value in extra.items():
        assert group[name] == value
    assert optim.preset_settings(preset)["source"]


def test_preset_step_matches_a_plain_torch_optimizer_with_the_paper_numbers():
    a, b = _params(1), _params(1)
    ours = optim.make_optimizer([a], "wgan_gp")
    theirs = torch.optim.Adam([b], lr=1e-4, betas=(0.0, 0.9))
    for step in range(3):
        grad = torch.randn(a.shape, generator=torch.Generator().manual_seed(step))
        a.grad, b.grad = grad.clone(), grad.clone()
        ours.step()
        theirs.step()
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("preset", ["gan", "adamw", "wgan"])
def test_fast_optimizer_takes_the_same_steps_as_the_plain_one(preset):
    a, b = _params(2, (8, 16)), _params(2, (8, 16))
    fast = optim.make_optimizer([a], preset, lr=1e-2, fast=True)
    plain = optim.make_optimizer([b], preset, lr=1e-2)
    assert plain.defaults.get("fused") in (None, False)
    assert bool(fast.defaults.get("fused")) == (preset != "wgan")  # RMSprop has no fused kernel
    for step in range(20):
        grad = torch.randn(a.shape, generator=torch.Generator().manual_seed(step))
        a.grad, b.grad = grad.clone(), grad.clone()
        fast.step()
        plain.step()
    # the fused kernel orders the float32 operations differently: after 20 steps of
    # size ~1e-2 the rounding differences stay within a few ulps of values of order 1
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="fast"):
        optim.make_optimizer([a], preset, fast="yes")


def test_make_optimizer_overrides_a_setting_and_refuses_unknown_ones():
    opt = optim.make_optimizer([_params()], "gan", lr=1e-3, betas=(0.9, 0.999))
    assert opt.param_groups[0]["lr"] == 1e-3 and opt.param_groups[0]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="no setting 'betas'"):
        optim.make_optimizer([_params()], "wgan", betas=(0.5, 0.9))
    with pytest.raises(ValueError, match="preset must be one of"):
        optim.make_optimizer([_params()], "sgd")


@pytest.mark.parametrize("overrides, message", [
    ({"lr": -1e-3}, "lr must be > 0"),
    ({"lr": 0.0}, "lr must be > 0"),
    ({"betas": (1.0, 0.999)}, r"betas\[0\]"),
    ({"betas": (0.9,)}, "betas must be a pair"),
    ({"weight_decay": -0.1}, "weight_decay"),
])
def test_make_optimizer_rejects_invalid_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        optim.make_optimizer([_params()], "gan", **overrides)


def test_make_optimizer_rejects_a_model_without_parameters():
    with pytest.raises(ValueError, match="params is empty"):
        optim.make_optimizer(torch.nn.ReLU().parameters(), "gan")


def test_adamw_decays_weights_that_adam_with_l2_barely_moves():
    # A weight with zero loss gradient: AdamW shrinks it by (1 - lr * wd) per step, Adam
    # with L2 normalizes the decay gradient and moves it by about lr per step instead.
    w_adamw = torch.nn.Parameter(torch.tensor([2.0]))
    w_l2 = torch.nn.Parameter(torch.tensor([2.0]))
    adamw = torch.optim.AdamW([w_adamw], lr=0.01, weight_decay=0.1)
    adam_l2 = torch.optim.Adam([w_l2], lr=0.01, weight_decay=0.1)
    for _ in range(10):
        w_adamw.grad, w_l2.grad = torch.zeros(1), torch.zeros(1)
        adamw.step()
        adam_l2.step()
    assert w_adamw.item() == pytest.approx(2.0 * (1 - 0.01 * 0.1) ** 10, rel=1e-6)
    # about lr per step (slightly less, as the decay gradient wd * w shrinks with w)
    assert w_l2.item() == pytest.approx(2.0 - 10 * 0.01, abs=1e-3)
    assert 2.0 - w_l2.item() > 4 * (2.0 - w_adamw.item())


# ------------------------------------------------------------------ Adam by hand

@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.999), (0.0, 0.9)])
def test_adam_update_matches_torch_adam_over_several_steps(betas):
    p = _params(2, (5,))
    ref = torch.nn.Parameter(p.detach().clone())
    torch_adam = torch.optim.Adam([ref], lr=0.05, betas=betas, eps=1e-8)
    param, m, v = p.detach().clone(), torch.zeros(5), torch.zeros(5)
    for step in range(1, 6):
        grad = torch.randn(5, generator=torch.Generator().manual_seed(10 + step))
        param, m, v = optim.adam_update(param, grad, m, v, step, lr=0.05, betas=betas)
        ref.grad = grad.clone()
        torch_adam.step()
        state = torch_adam.state[ref]
        torch.testing.assert_close(param, ref.detach())
        torch.testing.assert_close(m, state["exp_avg"])
        torch.testing.assert_close(v, state["exp_avg_sq"])


def test_adam_first_step_moves_every_weight_by_lr_whatever_the_gradient_scale():
    # After bias correction m_hat / sqrt(v_hat) = sign(g) on step 1 (up to eps).
    grad = torch.tensor([1e-3, -5.0, 300.0])
    new, _, _ = optim.adam_update(torch.zeros(3), grad, torch.zeros(3), torch.zeros(3), 1, lr=0.1)
    torch.testing.assert_close(new, -0.1 * grad.sign(), rtol=1e-4, atol=1e-6)


def test_adam_update_does_not_change_its_inputs():
    param, grad, m, v = torch.ones(2), torch.ones(2), torch.zeros(2), torch.zeros(2)
    optim.adam_update(param, grad, m, v, 1)
    assert param.tolist() == [1.0, 1.0] and m.tolist() == [0.0, 0.0] and v.tolist() == [0.0, 0.0]


def test_adam_update_rejects_bad_input():
    z = torch.zeros(2)
    with pytest.raises(ValueError, match="step must be >= 1"):
        optim.adam_update(z, z, z, z, 0)
    with pytest.raises(ValueError, match="grad must have the shape"):
        optim.adam_update(z, torch.zeros(3), z, z, 1)
    with pytest.raises(TypeError, match="param must be a torch.Tensor"):
        optim.adam_update([0.0, 0.0], z, z, z, 1)


# ------------------------------------------------------------------ schedules

@pytest.mark.parametrize("warmup_steps, total_steps", [(10, 100), (0, 50), (1, 7), (99, 100)])
def test_warmup_cosine_equals_transformers_step_for_step(warmup_steps, total_steps):
    from transformers import get_cosine_schedule_with_warmup

    ours = optim.trace_lr(lambda o: optim.warmup_cosine(o, warmup_steps, total_steps),
                          total_steps + 1, lr=0.3)
    opt = torch.optim.SGD([_params()], lr=0.3)
    theirs = _trace_lambda_scheduler(
        get_cosine_schedule_with_warmup(opt, warmup_steps, total_steps), total_steps + 1)
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)


def test_warmup_cosine_equals_diffusers_cosine_scheduler():
    from diffusers.optimization import get_scheduler

    ours = optim.trace_lr(lambda o: optim.warmup_cosine(o, 20, 200), 201, lr=1e-3)
    opt = torch.optim.SGD([_params()], lr=1e-3)
    theirs = _trace_lambda_scheduler(
        get_scheduler("cosine", opt, num_warmup_steps=20, num_training_steps=200), 201)
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-18)


def test_warmup_cosine_with_min_lr_equals_transformers_min_lr_schedule():
    from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

    ours = optim.trace_lr(lambda o: optim.warmup_cosine(o, 5, 60, min_lr=0.02), 61, lr=0.1)
    opt = torch.optim.SGD([_params()], lr=0.1)
    theirs = _trace_lambda_scheduler(
        get_cosine_with_min_lr_schedule_with_warmup(opt, 5, 60, min_lr=0.02), 61)
    assert ours == pytest.approx(theirs, rel=1e-12)
    assert ours[-1] == pytest.approx(0.02)


def test_warmup_cosine_stays_at_min_lr_after_the_last_step():
    rates = optim.trace_lr(lambda o: optim.warmup_cosine(o, 2, 10, min_lr=0.01), 20, lr=0.1)
    assert rates[10:] == pytest.approx([0.01] * 10)


def test_warmup_cosine_keeps_each_group_its_own_rate_and_a_shared_floor():
    opt = torch.optim.SGD([{"params": [_params(0)], "lr": 1.0},
                           {"params": [_params(1)], "lr": 0.1}])
    sched = optim.warmup_cosine(opt, 4, 20, min_lr=0.05)
    for _ in range(4):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1.0, 0.1])
    for _ in range(16):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.05, 0.05])


def test_warmup_cosine_multiplier_matches_the_closed_form():
    # midpoint of the cosine: half the rate; warmup halfway: half the rate
    assert optim.warmup_cosine_multiplier(5, 10, 110) == pytest.approx(0.5)
    assert optim.warmup_cosine_multiplier(60, 10, 110) == pytest.approx(0.5)
    assert optim.warmup_cosine_multiplier(10, 10, 110) == 1.0
    assert optim.warmup_cosine_multiplier(110, 10, 110, min_ratio=0.1) == pytest.approx(0.1)
    expected = 0.5 * (1 + math.cos(math.pi * 25 / 100))
    assert optim.warmup_cosine_multiplier(35, 10, 110) == pytest.approx(expected)


@pytest.mark.parametrize("args, error, message", [
    ((0, 100, 100), ValueError, "must be smaller than total_steps"),
    ((0, 200, 100), ValueError, "must be smaller than total_steps"),
    ((0, -1, 100), ValueError, "warmup_steps must be >= 0"),
    ((-1, 10, 100), ValueError, "step must be >= 0"),
    ((0, 10, 100.0), TypeError, "total_steps must be an int"),
])
def test_warmup_cosine_multiplier_rejects_invalid_settings(args, error, message):
    with pytest.raises(error, match=message):
        optim.warmup_cosine_multiplier(*args)


def test_warmup_cosine_rejects_invalid_settings():
    opt = torch.optim.SGD([_params()], lr=0.1)
    with pytest.raises(ValueError, match="must be smaller than total_steps"):
        optim.warmup_cosine(opt, 100, 50)
    with pytest.raises(ValueError, match="min_lr must be >= 0"):
        optim.warmup_cosine(opt, 10, 50, min_lr=-0.1)
    with pytest.raises(ValueError, match="min_lr .* is larger than the learning rate"):
        optim.warmup_cosine(opt, 10, 50, min_lr=0.5)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        optim.warmup_cosine("adam", 10, 50)


def test_linear_warmup_equals_diffusers_constant_with_warmup():
    from diffusers.optimization import get_scheduler

    ours = optim.trace_lr(lambda o: optim.linear_warmup(o, 8), 30, lr=0.2)
    opt = torch.optim.SGD([_params()], lr=0.2)
    theirs = _trace_lambda_scheduler(
        get_scheduler("constant_with_warmup", opt, num_warmup_steps=8), 30)
    assert ours == pytest.approx(theirs, rel=1e-12)
    assert ours[0] == 0.0 and ours[8:] == pytest.approx([0.2] * 22)


def test_linear_warmup_rejects_zero_or_negative_warmup():
    opt = torch.optim.SGD([_params()], lr=0.1)
    with pytest.raises(ValueError, match="warmup_steps must be >= 1"):
        optim.linear_warmup(opt, 0)
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        optim.linear_warmup(opt, -3)


def test_plateau_trace_equals_reduce_lr_on_plateau_stepped_by_hand():
    metric = [1.0, 0.8, 0.7, 0.7, 0.7, 0.7, 0.69999, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    ours = optim.trace_lr(lambda o: optim.plateau(o, factor=0.5, patience=2), len(metric),
                          lr=0.1, metrics=metric)
    opt = torch.optim.SGD([_params()], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    theirs = []
    for value in metric:
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(value)
    assert ours == pytest.approx(theirs)
    # three checks without improvement after 0.7 at index 2: the rate halves from index 6
    assert ours[:6] == pytest.approx([0.1] * 6) and ours[6] == pytest.approx(0.05)


def test_plateau_in_a_loop_reduces_the_rate_when_validation_loss_stalls():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.tensor([3.0]))
    opt = torch.optim.SGD([w], lr=0.1)
    sched = optim.plateau(opt, factor=0.1, patience=1)
    for _ in range(30):
        loss = (w - 1.0).abs().sum()  # |w - 1| with fixed-size steps: it cannot settle
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step((w - 1.0).abs().item())
    assert opt.param_groups[0]["lr"] < 0.1
    assert (w - 1.0).abs().item() < 0.05


def test_plateau_rejects_invalid_settings():
    opt = torch.optim.SGD([_params()], lr=0.1)
    with pytest.raises(ValueError, match="factor must be a number in"):
        optim.plateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="mode must be one of"):
        optim.plateau(opt, mode="lower")
    with pytest.raises(ValueError, match="patience must be >= 0"):
        optim.plateau(opt, patience=-1)


def test_trace_lr_works_for_any_torch_scheduler():
    def one_cycle(o):
        return torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=50)

    ours = optim.trace_lr(one_cycle, 50, lr=1.0)
    opt = torch.optim.SGD([_params()], lr=1.0)
    assert ours == pytest.approx(_trace_lambda_scheduler(one_cycle(opt), 50))
    assert max(ours) == pytest.approx(1.0)
    step = optim.trace_lr(lambda o: torch.optim.lr_scheduler.StepLR(o, 10, gamma=0.5), 30)
    assert step[9] == 1.0 and step[10] == 0.5 and step[20] == 0.25


def test_trace_lr_rejects_misuse():
    with pytest.raises(ValueError, match="needs metrics"):
        optim.trace_lr(lambda o: optim.plateau(o), 10)
    with pytest.raises(ValueError, match="only used by ReduceLROnPlateau"):
        optim.trace_lr(lambda o: optim.linear_warmup(o, 2), 3, metrics=[1, 2, 3])
    with pytest.raises(TypeError, match="must return a torch scheduler"):
        optim.trace_lr(lambda o: o, 3)
    with pytest.raises(ValueError, match="n_steps must be >= 1"):
        optim.trace_lr(lambda o: optim.linear_warmup(o, 2), 0)


# ------------------------------------------------------------------ the chapter's toy problems

def test_dirac_gan_grads_match_autograd():
    from genlab.toys import optimizers as optim_toys

    theta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    psi = torch.tensor(-1.3, dtype=torch.float64, requires_grad=True)
    softplus = torch.nn.functional.softplus
    (d_psi,) = torch.autograd.grad(softplus(-psi * 0.0) + softplus(psi * theta), psi)
    (d_theta,) = torch.autograd.grad(softplus(-psi * theta), theta)
    g_theta, g_psi = optim_toys.dirac_gan_grads(0.7, -1.3)
    assert g_theta == pytest.approx(d_theta.item()) and g_psi == pytest.approx(d_psi.item())


def test_dirac_gan_first_adam_step_moves_each_player_by_lr():
    from genlab.toys import optimizers as optim_toys

    path = optim_toys.dirac_gan_trajectory(beta1=0.9, steps=1, lr=0.05, theta0=1.0)
    # D first: d d_loss/d psi = theta * sigmoid(0) > 0, so psi -> -lr; then G's gradient
    # -psi * sigmoid(-psi * theta) > 0, so theta -> 1 - lr (Adam's first step is lr * sign)
    assert path.shape == (2, 2)
    assert path[1].tolist() == pytest.approx([0.95, -0.05], abs=1e-6)


def test_momentum_carries_the_dirac_gan_away_from_equilibrium():
    from genlab.toys import optimizers as optim_toys

    final = {b1: optim_toys.dirac_gan_trajectory(beta1=b1, steps=400)[-100:].norm(dim=1).mean()
             for b1 in (0.9, 0.5, 0.0)}
    assert final[0.9] > 1.0 > final[0.5] > final[0.0]


def test_rmsprop_follows_a_flipping_clipped_weight_better_than_adam_with_momentum():
    from genlab.toys import optimizers as optim_toys

    def share(make):
        w, target = optim_toys.clipped_weight_trajectory(make, steps=400, flip_every=40)
        assert w.abs().max() <= 0.01 + 1e-12  # the clip holds
        return optim_toys.agreement(w, target)

    rmsprop = share(lambda p: torch.optim.RMSprop(p, lr=1e-3))
    adam = share(lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999)))
    assert rmsprop > adam + 0.2


def test_denoiser_loss_spikes_without_warmup_and_not_with_it():
    from genlab.toys import optimizers as optim_toys

    plain = optim_toys.train_denoiser(None, lr=1e-2, steps=30)["loss"]
    warm = optim_toys.train_denoiser(lambda o: optim.linear_warmup(o, 50), lr=1e-2,
                                     steps=30)["loss"]
    assert max(plain) > 2 * plain[0]
    assert max(warm) <= 1.05 * warm[0]


def test_cosine_and_plateau_end_closer_to_the_noise_floor_than_a_constant_rate():
    from genlab.toys import optimizers as optim_toys

    constant = optim_toys.train_regression(None, steps=400)
    cosine = optim_toys.train_regression(lambda o: optim.warmup_cosine(o, 0, 400), steps=400)
    plateau = optim_toys.train_regression(lambda o: optim.plateau(o, patience=2), steps=400)
    assert cosine["val_loss"][-1] < constant["val_loss"][-1]
    assert plateau["val_loss"][-1] < constant["val_loss"][-1]
    assert plateau["lr"][-1] < 0.1 and constant["lr"][-1] == 0.1
    assert min(cosine["val_loss"]) > 0.2  # noise variance 0.25 (up to sampling) is the floor


def test_toys_reject_bad_settings():
    from genlab.toys import optimizers as optim_toys

    with pytest.raises(ValueError, match="betas"):
        optim_toys.dirac_gan_trajectory(beta1=1.0)
    with pytest.raises(ValueError, match="needs eval_every"):
        optim_toys.train_denoiser(lambda o: optim.plateau(o), steps=2)
    with pytest.raises(ValueError, match="clip must be > 0"):
        optim_toys.clipped_weight_trajectory(lambda p: torch.optim.SGD(p, lr=1.0), clip=0.0)
