"""The small U-Net, the diffusion training loop and the DDPM / DDIM samplers."""

from __future__ import annotations

import pytest
import torch

from genlab.losses import diffusion as D
from genlab.models import samplers as S
from genlab.models.unet import SmallUNet, timestep_embedding
from genlab.train import DivergenceError, History
from genlab.train.diffusion import diffusion_loss, make_alphas_cumprod, train_diffusion


class ToyDenoiser(torch.nn.Module):
    """A fixed, deterministic 'network' whose output depends on x, t and the label."""

    def __init__(self, channels=1, null_label=None):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(0.3))
        self.channels = channels
        self.null_label = null_label

    def forward(self, x, t, labels=None):
        out = self.scale * torch.tanh(x) * torch.cos(t.float() / 50)[:, None, None, None]
        if labels is not None:
            out = out + 0.05 * labels.float()[:, None, None, None]
        if self.channels == 2 * x.shape[1]:
            out = torch.cat([out, torch.sin(x + t.float()[:, None, None, None])], dim=1)
        return out


def diffusers_ddpm(T, schedule, prediction, variance_type="fixed_small"):
    from diffusers import DDPMScheduler

    names = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
    kinds = {"epsilon": "epsilon", "v": "v_prediction", "x0": "sample"}
    return DDPMScheduler(num_train_timesteps=T, beta_schedule=names[schedule],
                         prediction_type=kinds[prediction], variance_type=variance_type,
                         clip_sample=True)


# ---------------------------------------------------------------- samplers vs diffusers

@pytest.mark.parametrize("prediction", ["epsilon", "v", "x0"])
@pytest.mark.parametrize("learned", [False, True])
def test_ddpm_step_matches_diffusers_step(prediction, learned):
    T = 1000
    sched = diffusers_ddpm(T, "cosine", prediction, "learned_range" if learned else "fixed_small")
    abar = sched.alphas_cumprod.double()  # the schedules agree (tested); this checks the step
    x = torch.randn(4, 1, 8, 8)
    out = torch.randn(4, 2 if learned else 1, 8, 8).clamp(-1, 1)
    for t in (0, 1, 17, 640, 999):
        expected = sched.step(out, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(t))
        got, _ = S.ddpm_step(out, t, x, abar, prediction, noise=noise, learned_variance=learned)
        torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-4)


def test_ddpm_sample_matches_a_diffusers_sampling_loop():
    T = 30
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(num_train_timesteps=T, beta_schedule="linear", beta_start=1e-3,
                          beta_end=0.2, prediction_type="v_prediction")
    abar = D.alphas_cumprod_from_betas(D.linear_beta_schedule(T, 1e-3, 0.2))
    model = ToyDenoiser()
    g = torch.Generator().manual_seed(3)
    x = torch.randn((5, 1, 4, 4), generator=g)
    for t in range(T - 1, -1, -1):
        out = model(x, torch.full((5,), t))
        x = sched.step(out, t, x, generator=g).prev_sample
    got = S.ddpm_sample(model, (5, 1, 4, 4), abar, "v", generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(got, x.detach(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("num_steps", [1, 7, 50])
def test_ddim_timesteps_match_diffusers_leading_spacing(num_steps):
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(num_train_timesteps=1000)
    sched.set_timesteps(num_steps)
    assert S.ddim_timesteps(1000, num_steps) == sched.timesteps.tolist()


@pytest.mark.parametrize("prediction,eta", [("epsilon", 0.0), ("v", 0.0), ("epsilon", 1.0)])
def test_ddim_sample_matches_a_diffusers_sampling_loop(prediction, eta):
    from diffusers import DDIMScheduler

    kinds = {"epsilon": "epsilon", "v": "v_prediction"}
    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                          prediction_type=kinds[prediction])
    sched.set_timesteps(20)
    abar = make_alphas_cumprod("cosine", 1000)
    model = ToyDenoiser()
    g = torch.Generator().manual_seed(1)
    x = torch.randn((3, 1, 4, 4), generator=g)
    for t in sched.timesteps:
        out = model(x, torch.full((3,), int(t)))
        x = sched.step(out, t, x, eta=eta, generator=g).prev_sample
    got = S.ddim_sample(model, (3, 1, 4, 4), abar, 20, prediction, eta=eta,
                        generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(got, x.detach(), rtol=1e-3, atol=1e-4)


def _guided_reference_loop(model, labels, w, combine):
    """DDIM through diffusers' scheduler, guidance computed from two separate model calls."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    sched.set_timesteps(20)
    x = torch.randn((len(labels), 1, 4, 4), generator=torch.Generator().manual_seed(1))
    null = torch.full_like(labels, model.null_label)
    with torch.no_grad():
        for t in sched.timesteps:
            tt = torch.full((len(labels),), int(t))
            out = combine(model(x, tt, null), model(x, tt, labels), w)
            x = sched.step(out, t, x).prev_sample
    return x


@pytest.mark.parametrize("w", [0.0, 1.0, 3.0])
def test_classifier_free_guidance_is_uncond_plus_w_times_the_difference(w):
    # Oracle: diffusers' DDIM step (the unguided sampler matches it, tested above) fed with
    # eps_u + w (eps_c - eps_u) from separate conditional and unconditional calls; at w = 0
    # that is the unconditional model, at w = 1 the conditional one.
    model = ToyDenoiser(null_label=10)
    labels = torch.tensor([1, 2, 7])
    right = lambda u, c, w: u + w * (c - u)  # noqa: E731
    expected = _guided_reference_loop(model, labels, w, right)
    got = S.ddim_sample(model, (3, 1, 4, 4), make_alphas_cumprod("cosine", 1000), 20,
                        labels=labels, guidance_scale=w, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-4)  # as the unguided test
    if w != 1.0:
        # the test can fail: a formula with the roles swapped lands far outside the tolerance
        wrong = _guided_reference_loop(model, labels, w, lambda u, c, w: c + w * (u - c))
        assert (got - wrong).abs().max() > 1e-2


def test_sampler_rejects_bad_arguments():
    abar = make_alphas_cumprod("linear", 10)
    model = ToyDenoiser()
    with pytest.raises(ValueError, match="shape"):
        S.ddim_sample(model, [2, 1, 4, 4], abar, 5)
    with pytest.raises(ValueError, match="num_steps"):
        S.ddim_sample(model, (2, 1, 4, 4), abar, 11)
    with pytest.raises(ValueError, match="t must be < T"):
        S.ddpm_step(torch.zeros(1, 1, 2, 2), 10, torch.zeros(1, 1, 2, 2), abar)
    with pytest.raises(ValueError, match="2 channels"):
        S.ddpm_step(torch.zeros(1, 1, 2, 2), 3, torch.zeros(1, 1, 2, 2), abar, learned_variance=True)


# ---------------------------------------------------------------- the U-Net

def test_timestep_embedding_is_cos_sin_of_scaled_times():
    t = torch.tensor([0, 5, 999])
    emb = timestep_embedding(t, 8)
    assert emb.shape == (3, 8)
    freqs = torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(4) / 4)
    torch.testing.assert_close(emb[1, :4], torch.cos(5 * freqs))
    torch.testing.assert_close(emb[2, 4:], torch.sin(999 * freqs))


def test_unet_output_shapes_for_digits_other_sizes_and_learned_variance():
    net = SmallUNet(base_channels=8, num_classes=10, learned_variance=True)
    t = torch.tensor([0, 999, 5])
    assert net(torch.randn(3, 1, 8, 8), t).shape == (3, 2, 8, 8)
    assert net(torch.randn(3, 1, 16, 12), t).shape == (3, 2, 16, 12)
    plain = SmallUNet(base_channels=8, in_channels=3)
    assert plain(torch.randn(2, 3, 8, 8), torch.tensor([1, 2])).shape == (2, 3, 8, 8)


def test_unet_missing_label_means_the_null_label():
    torch.manual_seed(0)
    net = SmallUNet(base_channels=8, num_classes=10)
    for p in net.parameters():  # leave the zero init so the output depends on everything
        torch.nn.init.normal_(p, std=0.2)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 400])
    null = torch.full((2,), net.null_label)
    torch.testing.assert_close(net(x, t), net(x, t, null))
    assert not torch.allclose(net(x, t), net(x, t, torch.tensor([1, 1])))
    assert net.null_label == 10


def test_unet_rejects_wrong_inputs_clearly():
    net = SmallUNet(base_channels=8, num_classes=10)
    t = torch.tensor([1, 2])
    with pytest.raises(ValueError, match="channels"):
        net(torch.randn(2, 3, 8, 8), t)
    with pytest.raises(ValueError, match="labels must lie in"):
        net(torch.randn(2, 1, 8, 8), t, torch.tensor([0, 11]))
    with pytest.raises(ValueError, match="t has 2 entries"):
        net(torch.randn(3, 1, 8, 8), t)
    with pytest.raises(ValueError, match="unconditional"):
        SmallUNet(base_channels=8)(torch.randn(2, 1, 8, 8), t, torch.tensor([0, 1]))


# ---------------------------------------------------------------- the training loop

def tiny_data(n=64):
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(n, 1, 8, 8, generator=g) > 0.6).float() * 2 - 1
    labels = torch.randint(0, 10, (n,), generator=g)
    return images, labels


def test_diffusion_loss_returns_scalar_and_logged_parts():
    torch.manual_seed(0)
    abar = make_alphas_cumprod("cosine", 100)
    images, labels = tiny_data(8)
    net = SmallUNet(base_channels=8, num_classes=10, learned_variance=True)
    loss, parts = diffusion_loss(net, images, abar, prediction="v", labels=labels,
                                 loss_type="hybrid", snr_gamma=5.0)
    assert loss.ndim == 0 and set(parts) == {"mse", "vlb"}
    loss.backward()
    assert net.conv_out.weight.grad.abs().sum() > 0


def test_training_loop_returns_history_and_lowers_the_loss():
    torch.manual_seed(0)
    abar = make_alphas_cumprod("cosine", 100)
    images, _ = tiny_data()
    net = SmallUNet(base_channels=8)
    history = train_diffusion(net, images, alphas_cumprod=abar, prediction="epsilon", steps=60,
                              batch_size=32, lr=3e-3, ema_decay=None)
    assert isinstance(history, History)
    assert len(history["loss"]) == 60 and len(history["lr"]) == 60
    assert history.meta["prediction"] == "epsilon" and history.meta["cpu_seconds"] > 0
    first, last = sum(history["loss"][:10]) / 10, sum(history["loss"][-10:]) / 10
    assert last < 0.8 * first


def test_training_is_reproducible_with_a_seed_and_supports_labels_and_hybrid_loss():
    abar = make_alphas_cumprod("linear", 50)
    images, labels = tiny_data(16)

    def run():
        torch.manual_seed(1)
        net = SmallUNet(base_channels=8, num_classes=10, learned_variance=True)
        h = train_diffusion(net, images, labels, alphas_cumprod=abar, prediction="v",
                            loss_type="hybrid", steps=5, batch_size=8, log_every=2)
        return net, h

    (net_a, h_a), (_, h_b) = run(), run()
    assert h_a["loss"] == h_b["loss"] and "vlb" in h_a
    assert h_a.steps["loss"] == [1, 3, 5]  # step 1, every 2nd after it, the last
    out = net_a(images[:2], torch.tensor([1, 2]))
    assert torch.isfinite(out).all()


def test_training_loop_stops_with_divergence_error_keeping_the_history():
    class Exploding(ToyDenoiser):
        def forward(self, x, t, labels=None):
            return super().forward(x, t) * float("nan")

    abar = make_alphas_cumprod("linear", 20)
    with pytest.raises(DivergenceError) as info:
        train_diffusion(Exploding(), tiny_data(8)[0], alphas_cumprod=abar, steps=3, batch_size=4,
                        ema_decay=None)
    assert isinstance(info.value.history, History)


def test_training_loop_accepts_an_optimizer_and_scheduler():
    abar = make_alphas_cumprod("linear", 20)
    net = SmallUNet(base_channels=8)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 4))
    h = train_diffusion(net, tiny_data(8)[0], alphas_cumprod=abar, steps=6, batch_size=4,
                        optimizer=opt, lr_scheduler=sched, ema_decay=None)
    assert h["lr"][:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])


def test_training_loop_rejects_bad_settings():
    abar = make_alphas_cumprod("linear", 20)
    images, labels = tiny_data(8)
    with pytest.raises(ValueError, match="null_label"):
        train_diffusion(SmallUNet(base_channels=8), images, labels, alphas_cumprod=abar, steps=1)
    with pytest.raises(ValueError, match="p_uncond"):
        train_diffusion(SmallUNet(base_channels=8), images, alphas_cumprod=abar, p_uncond=2.0)
    with pytest.raises(ValueError, match="loss_type"):
        train_diffusion(SmallUNet(base_channels=8), images, alphas_cumprod=abar, steps=1,
                        loss_type="kl")
