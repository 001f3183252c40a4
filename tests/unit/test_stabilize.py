"""genlab.stabilize: clipping, spectral norm, label smoothing, TTUR, mixed precision."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genlab import stabilize as st


def _net_with_grads(scale: float = 1.0, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    (scale * net(torch.randn(16, 4)).pow(2).sum()).backward()
    return net


def _all_grads(net: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in net.parameters()])


# -- clipping -------------------------------------------------------------------------

def test_clip_gradients_returns_the_norm_before_clipping_and_clips_to_max_norm():
    net = _net_with_grads(scale=100.0)
    before = _all_grads(net).clone()
    returned = st.clip_gradients(net.parameters(), max_norm=1.0)
    assert isinstance(returned, float)
    assert returned == pytest.approx(float(before.norm()), rel=1e-5)
    after = _all_grads(net)
    assert float(after.norm()) == pytest.approx(1.0, rel=1e-4)
    # direction kept: after = before * (1 / ||before||)
    torch.testing.assert_close(after, before / before.norm(), rtol=1e-4, atol=1e-7)


def test_clip_gradients_matches_torch_clip_grad_norm_including_other_norm_types():
    for norm_type in (2.0, 1.0, math.inf):
        ours, theirs = _net_with_grads(50.0), _net_with_grads(50.0)
        n_ours = st.clip_gradients(ours.parameters(), 0.5, norm_type=norm_type)
        n_theirs = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.5, norm_type=norm_type)
        assert n_ours == pytest.approx(float(n_theirs), rel=1e-6)
        torch.testing.assert_close(_all_grads(ours), _all_grads(theirs))


def test_clip_gradients_leaves_small_gradients_alone():
    net = _net_with_grads(scale=1e-3)
    before = _all_grads(net).clone()
    norm = st.clip_gradients(net.parameters(), max_norm=1e3)
    assert norm < 1e3
    torch.testing.assert_close(_all_grads(net), before)


def test_clip_gradients_with_infinite_max_norm_only_measures():
    net = _net_with_grads(scale=100.0)
    before = _all_grads(net).clone()
    assert st.clip_gradients(net.parameters(), math.inf) == pytest.approx(float(before.norm()))
    torch.testing.assert_close(_all_grads(net), before)


def test_gradient_norm_is_the_norm_of_all_gradients_concatenated_and_skips_missing():
    net = _net_with_grads(scale=3.0)
    extra = nn.Parameter(torch.ones(3))  # no grad
    params = [*net.parameters(), extra]
    assert st.gradient_norm(params) == pytest.approx(float(_all_grads(net).norm()), rel=1e-6)
    assert st.gradient_norm([extra]) == 0.0
    assert st.clip_gradients([extra], 1.0) == 0.0


@pytest.mark.parametrize("bad", [-1.0, 0.0, float("nan")])
def test_clip_gradients_rejects_non_positive_max_norm(bad):
    net = _net_with_grads()
    with pytest.raises(ValueError, match="max_norm"):
        st.clip_gradients(net.parameters(), bad)


def test_clip_gradients_rejects_a_module_and_non_numbers():
    net = _net_with_grads()
    with pytest.raises(TypeError, match="parameters"):
        st.clip_gradients(net, 1.0)
    with pytest.raises(TypeError, match="max_norm"):
        st.clip_gradients(net.parameters(), "1")


# -- spectral norm --------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 7), (16, 3), (8, 3, 3, 3)])
def test_power_iteration_matches_the_exact_top_singular_value(shape):
    torch.manual_seed(1)
    weight = torch.randn(*shape)
    exact = torch.linalg.matrix_norm(weight.reshape(shape[0], -1), 2)
    estimate = st.spectral_norm_estimate(weight, n_iters=100)
    assert estimate.shape == ()
    assert float(estimate) == pytest.approx(float(exact), rel=1e-4)


def test_power_iteration_never_overshoots_and_improves_with_iterations():
    torch.manual_seed(2)
    weight = torch.randn(20, 30, dtype=torch.float64)
    exact = float(torch.linalg.matrix_norm(weight, 2))
    values = [float(st.spectral_norm_estimate(weight, n)) for n in (0, 1, 3, 10, 100)]
    # float64 throughout, so both properties hold to round-off (~1e-15 relative); in float32
    # the SVD and the estimate each carry ~1e-7 and the check would test rounding instead
    assert all(v <= exact * (1 + 1e-12) for v in values)
    assert all(b >= a - 1e-12 * exact for a, b in zip(values, values[1:]))
    assert values[0] < 0.99 * exact  # ones start vector is not the top singular vector


def test_power_iteration_one_step_follows_its_documented_formula():
    torch.manual_seed(3)
    weight = torch.randn(4, 6, dtype=torch.float64)
    v0 = torch.randn(6, dtype=torch.float64)
    v = v0 / v0.norm()
    u = weight @ v
    u = u / u.norm()
    v = weight.T @ u
    v = v / v.norm()
    expected = (weight @ v).norm()
    torch.testing.assert_close(st.spectral_norm_estimate(weight, 1, v0=v0), expected)


def test_power_iteration_rejects_bad_input():
    with pytest.raises(ValueError, match="weight"):
        st.spectral_norm_estimate(torch.randn(5), 3)
    with pytest.raises(ValueError, match="n_iters"):
        st.spectral_norm_estimate(torch.randn(3, 3), -1)
    with pytest.raises(ValueError, match="v0"):
        st.spectral_norm_estimate(torch.randn(3, 4), 3, v0=torch.zeros(4))
    with pytest.raises(ValueError, match="v0"):
        st.spectral_norm_estimate(torch.randn(3, 4), 3, v0=torch.ones(3))


def _disc() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32),
                         nn.LeakyReLU(0.2), nn.Linear(32, 1))


def test_apply_spectral_norm_uses_torch_parametrization_on_every_linear_and_conv():
    from torch.nn.utils import parametrize

    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 1))
    assert not st.has_spectral_norm(net)
    assert st.apply_spectral_norm(net) is net
    assert parametrize.is_parametrized(net[0], "weight")
    assert parametrize.is_parametrized(net[3], "weight")
    assert st.has_spectral_norm(net)
    st.apply_spectral_norm(net)  # idempotent: no second parametrization
    assert len(net[0].parametrizations.weight) == 1


def test_spectral_norm_makes_each_layer_norm_one_and_bounds_the_lipschitz_constant():
    net = _disc()
    with torch.no_grad():
        for layer in (net[0], net[2], net[4]):
            layer.weight.mul_(5.0)
    assert st.lipschitz_bound(net) > 10
    st.apply_spectral_norm(net)
    net.train()
    with torch.no_grad():
        for _ in range(30):  # each training forward runs one power iteration
            net(torch.randn(8, 2))
    net.eval()
    for norm in st.layer_spectral_norms(net):
        assert norm == pytest.approx(1.0, abs=1e-3)
    bound = st.lipschitz_bound(net)
    assert bound == pytest.approx(1.0, abs=5e-3)
    assert st.empirical_lipschitz(net, torch.randn(256, 2)) <= bound + 1e-4


def test_empirical_lipschitz_of_a_linear_map_is_its_weight_norm():
    layer = nn.Linear(3, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4.0, 0.0]]))
    assert st.empirical_lipschitz(layer, torch.randn(10, 3)) == pytest.approx(5.0)
    assert st.lipschitz_bound(layer) == pytest.approx(5.0)


def test_apply_spectral_norm_rejects_modules_without_layers_and_non_modules():
    with pytest.raises(ValueError, match="no Linear or Conv"):
        st.apply_spectral_norm(nn.ReLU())
    with pytest.raises(TypeError, match="module"):
        st.apply_spectral_norm(torch.randn(3, 3))


# -- label smoothing ------------------------------------------------------------------

def test_smoothed_targets_are_one_sided_by_default():
    logits = torch.randn(5, 1, dtype=torch.float64)
    real = st.smoothed_targets(logits, real=True)
    fake = st.smoothed_targets(logits, real=False)
    assert real.shape == logits.shape and real.dtype == torch.float64
    assert torch.all(real == 0.9) and torch.all(fake == 0.0)
    assert torch.all(st.smoothed_targets(logits, False, 0.2, two_sided=True) == 0.2)
    assert torch.all(st.smoothed_targets(logits, True, 0.0) == 1.0)


@pytest.mark.parametrize("bad", [-0.1, 0.5, 0.7, float("nan")])
def test_smoothing_outside_zero_to_half_is_rejected(bad):
    with pytest.raises(ValueError, match="smoothing"):
        st.smoothed_targets(torch.zeros(3), True, bad)
    with pytest.raises(ValueError, match="smoothing"):
        st.d_loss_smoothed(torch.zeros(3), torch.zeros(3), bad)


def test_smoothed_d_loss_matches_the_cross_entropy_formula():
    torch.manual_seed(4)
    real, fake = torch.randn(7, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    s = 0.1
    expected = (-(1 - s) * F.logsigmoid(real) - s * F.logsigmoid(-real)).mean() \
        - F.logsigmoid(-fake).mean()
    torch.testing.assert_close(st.d_loss_smoothed(real, fake, s), expected)
    two = (-(1 - s) * F.logsigmoid(real) - s * F.logsigmoid(-real)).mean() \
        + (-s * F.logsigmoid(fake) - (1 - s) * F.logsigmoid(-fake)).mean()
    torch.testing.assert_close(st.d_loss_smoothed(real, fake, s, two_sided=True), two)


def test_without_smoothing_the_d_loss_is_the_minimax_loss():
    real, fake = torch.randn(6), torch.randn(6)
    minimax = F.binary_cross_entropy(torch.sigmoid(real), torch.ones(6)) \
        + F.binary_cross_entropy(torch.sigmoid(fake), torch.zeros(6))
    torch.testing.assert_close(st.d_loss_smoothed(real, fake, 0.0), minimax)


def test_smoothed_real_gradient_vanishes_at_the_target_logit_not_at_infinity():
    s = 0.1
    optimum = torch.tensor([math.log((1 - s) / s)], requires_grad=True)
    st.d_loss_smoothed(optimum, torch.tensor([-30.0]), s).backward()
    assert abs(float(optimum.grad)) < 1e-6
    big = torch.tensor([40.0], requires_grad=True)
    st.d_loss_smoothed(big, torch.tensor([-30.0]), s).backward()
    assert float(big.grad) == pytest.approx(s, rel=1e-4)  # pushes an over-confident D back
    assert torch.isfinite(st.d_loss_smoothed(torch.tensor([1e4]), torch.tensor([-1e4]), s))


# -- TTUR -----------------------------------------------------------------------------

def test_ttur_optimizers_default_to_sagan_rates_and_betas():
    g, d = nn.Linear(2, 2), _disc()
    opt_g, opt_d = st.ttur_optimizers(g, d)
    assert isinstance(opt_g, torch.optim.Adam) and isinstance(opt_d, torch.optim.Adam)
    assert opt_g.param_groups[0]["lr"] == 1e-4 and opt_d.param_groups[0]["lr"] == 4e-4
    assert opt_g.param_groups[0]["betas"] == (0.0, 0.9) == opt_d.param_groups[0]["betas"]
    assert {id(p) for p in opt_d.param_groups[0]["params"]} == {id(p) for p in d.parameters()}
    with pytest.raises(ValueError, match="lr_d"):
        st.ttur_optimizers(g, d, lr_d=-1e-4)
    with pytest.raises(ValueError, match="betas"):
        st.ttur_optimizers(g, d, betas=(0.5, 1.0))


# -- mixed precision ------------------------------------------------------------------

def test_mixed_precision_on_cpu_is_bf16_autocast_without_a_scaler():
    mp = st.mixed_precision(True, "cpu")
    assert mp.dtype == torch.bfloat16 and mp.enabled and not mp.needs_scaler
    assert not mp.make_scaler().is_enabled()
    layer = nn.Linear(4, 4)
    with mp.autocast():
        out = layer(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    assert layer.weight.dtype == torch.float32  # master weights stay fp32


def test_mixed_precision_off_runs_in_fp32():
    for amp in (False, None, "off"):
        mp = st.mixed_precision(amp, "cpu")
        assert not mp.enabled and mp.dtype is None
        with mp.autocast():
            assert nn.Linear(2, 2)(torch.randn(1, 2)).dtype == torch.float32


def test_fp16_on_cpu_falls_back_to_bf16_with_a_warning():
    with pytest.warns(UserWarning, match="falling back to bf16"):
        mp = st.mixed_precision("fp16", "cpu")
    assert mp.dtype == torch.bfloat16


def test_mixed_precision_rejects_unknown_settings():
    for bad in ("fp8", "FP16", 1, 0.5, torch.float16):
        with pytest.raises(ValueError, match="amp"):
            st.mixed_precision(bad, "cpu")


def test_mixed_precision_on_other_devices_is_off_with_a_warning():
    with pytest.warns(UserWarning, match="fp32"):
        mp = st.mixed_precision(True, "meta")
    assert not mp.enabled


def _param_with_grad_hook(value_fn):
    p = nn.Parameter(torch.ones(3))
    p.register_hook(lambda g: value_fn(g))
    return p


def test_grad_scaler_skips_the_step_and_halves_the_scale_on_a_hand_made_overflow():
    p = nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    overflow = {"on": True}
    p.register_hook(lambda g: torch.full_like(g, math.inf) if overflow["on"] else g)

    norm = st.scaled_step(p.sum(), opt, scaler, parameters=[p], max_norm=1.0)
    assert math.isinf(norm)
    torch.testing.assert_close(p.detach(), torch.ones(3))  # step skipped
    assert scaler.get_scale() == 512.0

    overflow["on"] = False
    opt.zero_grad()
    norm = st.scaled_step(p.sum(), opt, scaler, parameters=[p], max_norm=1.0)
    assert norm == pytest.approx(math.sqrt(3), rel=1e-5)  # unscaled: true units
    expected = 1 - 0.1 / math.sqrt(3)  # clipped to norm 1, then the SGD step
    torch.testing.assert_close(p.detach(), torch.full((3,), expected))
    assert scaler.get_scale() == 512.0


def test_scaled_step_without_scaler_is_a_plain_step():
    p = nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([p], lr=0.5)
    norm = st.scaled_step((2 * p).sum(), opt, parameters=[p])
    assert norm == pytest.approx(math.sqrt(8))
    torch.testing.assert_close(p.detach(), torch.zeros(2))
    assert math.isnan(st.scaled_step(p.sum(), opt))


def test_loss_scale_update_matches_torch_grad_scaler_over_a_run_with_overflows():
    pattern = [False, False, True, False, False, False, True, True, False, False, False, False]
    p = nn.Parameter(torch.ones(2))
    step = {"i": 0}
    p.register_hook(lambda g: torch.full_like(g, math.inf) if pattern[step["i"]] else g)
    opt = torch.optim.SGD([p], lr=0.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=8.0, growth_factor=3.0,
                                  backoff_factor=0.25, growth_interval=3)
    scale, tracker = 8.0, 0
    for i, found_inf in enumerate(pattern):
        step["i"] = i
        opt.zero_grad()
        scaler.scale(p.sum()).backward()
        scaler.step(opt)
        scaler.update()
        scale, tracker = st.loss_scale_update(scale, found_inf, tracker, growth_factor=3.0,
                                              backoff_factor=0.25, growth_interval=3)
        assert scale == scaler.get_scale(), f"step {i}"


def test_fp16_loses_tiny_gradients_that_a_loss_scale_keeps():
    tiny = torch.tensor([1e-8, 2e-8, 1e-6])
    assert torch.all(tiny.half().float()[:2] == 0)  # below fp16's smallest subnormal
    assert torch.all(st.fp16_roundtrip(tiny)[:2] == 0)
    recovered = st.fp16_roundtrip(tiny, scale=2.0 ** 16)
    torch.testing.assert_close(recovered, tiny, rtol=1e-3, atol=0)
    assert torch.isinf(st.fp16_roundtrip(torch.tensor([1.0]), scale=2.0 ** 17)).all()


def test_unscale_gradients_divides_and_flags_overflow():
    grads, found = st.unscale_gradients([torch.tensor([4.0, 8.0])], 4.0)
    torch.testing.assert_close(grads[0], torch.tensor([1.0, 2.0]))
    assert found is False
    _, found = st.unscale_gradients([torch.tensor([1.0]), torch.tensor([math.nan])], 2.0)
    assert found is True


# -- CUDA -----------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_auto_amp_is_fp16_with_an_active_scaler():
    mp = st.mixed_precision(True, "cuda")
    assert mp.dtype == torch.float16 and mp.make_scaler().is_enabled()
    layer = nn.Linear(8, 8).cuda()
    with mp.autocast():
        out = layer(torch.randn(4, 8, device="cuda"))
    assert out.dtype == torch.float16
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    scaler = mp.make_scaler()
    with mp.autocast():
        loss = layer(torch.randn(4, 8, device="cuda")).float().pow(2).mean()
    norm = st.scaled_step(loss, opt, scaler, parameters=layer.parameters(), max_norm=1.0)
    assert math.isfinite(norm)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_when_supported():
    if not torch.cuda.is_bf16_supported():
        with pytest.raises(ValueError, match="bf16"):
            st.mixed_precision("bf16", "cuda")
        return
    mp = st.mixed_precision("bf16", "cuda")
    assert mp.dtype == torch.bfloat16 and not mp.make_scaler().is_enabled()


def test_no_warning_for_valid_cpu_settings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        st.mixed_precision("bf16", "cpu")
        st.mixed_precision("auto", torch.device("cpu"))


def test_activation_bytes_counts_saved_tensors_and_halves_under_bf16_autocast():
    layer = nn.Linear(64, 64, bias=False)
    x = torch.randn(32, 64, requires_grad=True)
    # y = x W^T saves x (for dW) and W (for dx): (32*64 + 64*64) floats of 4 bytes
    assert st.activation_bytes(lambda: layer(x)) == (32 * 64 + 64 * 64) * 4
    mp = st.mixed_precision("bf16", "cpu")

    def forward():
        with mp.autocast():
            layer(x)

    assert st.activation_bytes(forward) == (32 * 64 + 64 * 64) * 2
    with torch.no_grad():
        assert st.activation_bytes(lambda: layer(x)) == 0
    with pytest.raises(TypeError, match="forward"):
        st.activation_bytes(3)
