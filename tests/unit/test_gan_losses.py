"""GAN losses against independent oracles: torch's BCE/MSE/hinge losses, autograd, closed forms."""

import pytest
import torch
from torch import nn

from genlab.losses import gan


def _logits(n, seed, scale=3.0, dtype=torch.float64):
    return scale * torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("real_target", [1.0, 0.9])
def test_minimax_d_loss_equals_bce_with_logits_on_real_target_and_zero(real_target):
    real, fake = _logits(7, 0), _logits(5, 1)
    bce = nn.BCEWithLogitsLoss()
    expected = bce(real, torch.full_like(real, real_target)) + bce(fake, torch.zeros_like(fake))
    got = gan.d_loss_minimax(real, fake, real_target=real_target)
    torch.testing.assert_close(got, expected)


def test_minimax_d_loss_accepts_column_outputs_like_flat_ones():
    real, fake = _logits(6, 2), _logits(6, 3)
    torch.testing.assert_close(gan.d_loss_minimax(real[:, None], fake[:, None]),
                               gan.d_loss_minimax(real, fake))


def test_minimax_d_loss_is_finite_and_near_zero_for_extreme_correct_logits():
    real = torch.tensor([200.0, 300.0])
    fake = torch.tensor([-200.0, -300.0])
    value = gan.d_loss_minimax(real, fake)
    assert torch.isfinite(value) and value.item() < 1e-30
    # the naive log-of-sigmoid form overflows where the stable one does not
    assert not torch.isfinite(-torch.log(torch.sigmoid(-real))).all()
    wrong = gan.d_loss_minimax(-real, -fake)
    torch.testing.assert_close(wrong, torch.tensor(500.0))


def test_saturating_g_loss_equals_mean_log_one_minus_sigmoid():
    fake = _logits(9, 4)
    expected = torch.log1p(-torch.sigmoid(fake)).mean()
    torch.testing.assert_close(gan.g_loss_minimax(fake), expected)


def test_nonsaturating_g_loss_equals_bce_of_fakes_against_ones():
    fake = _logits(9, 5)
    expected = nn.BCEWithLogitsLoss()(fake, torch.ones_like(fake))
    torch.testing.assert_close(gan.g_loss_nonsaturating(fake), expected)


def test_nonsaturating_loss_has_strong_gradient_when_d_rejects_fakes():
    fake = torch.tensor([-8.0, -12.0, -20.0], dtype=torch.float64, requires_grad=True)
    gan.g_loss_nonsaturating(fake).backward()
    # d/dx softplus(-x) / n = (sigmoid(x) - 1) / n  ->  -1/n as x -> -inf
    torch.testing.assert_close(fake.grad, (torch.sigmoid(fake.detach()) - 1) / 3)
    assert (fake.grad.abs() > 0.33).all()


def test_saturating_loss_gradient_vanishes_when_d_rejects_fakes():
    fake = torch.tensor([-8.0, -12.0, -20.0], dtype=torch.float64, requires_grad=True)
    gan.g_loss_minimax(fake).backward()
    torch.testing.assert_close(fake.grad, -torch.sigmoid(fake.detach()) / 3)
    assert (fake.grad.abs() < 1e-3).all()


@pytest.mark.parametrize("a,b,c", [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0)])
def test_lsgan_losses_equal_half_mse_to_their_targets(a, b, c):
    real, fake = _logits(8, 6), _logits(4, 7)
    mse = nn.MSELoss()
    expected_d = 0.5 * mse(real, torch.full_like(real, b)) + 0.5 * mse(fake, torch.full_like(fake, a))
    torch.testing.assert_close(gan.d_loss_lsgan(real, fake, a=a, b=b), expected_d)
    torch.testing.assert_close(gan.g_loss_lsgan(fake, c=c), 0.5 * mse(fake, torch.full_like(fake, c)))


def test_wgan_critic_loss_is_fake_mean_minus_real_mean_and_g_loss_its_opposite_half():
    real, fake = _logits(10, 8), _logits(6, 9)
    torch.testing.assert_close(gan.critic_loss_wgan(real, fake), fake.mean() - real.mean())
    torch.testing.assert_close(gan.g_loss_wgan(fake), -fake.mean())


def test_hinge_losses_equal_torch_hinge_embedding_loss():
    real, fake = _logits(10, 10), _logits(7, 11)
    hinge = nn.HingeEmbeddingLoss(margin=1.0)  # target -1: max(0, margin - x)
    expected = hinge(real, -torch.ones_like(real)) + hinge(-fake, -torch.ones_like(fake))
    torch.testing.assert_close(gan.d_loss_hinge(real, fake), expected)
    torch.testing.assert_close(gan.g_loss_hinge(fake), -fake.mean())


def test_hinge_d_loss_ignores_samples_beyond_the_margin():
    real = torch.tensor([2.0, 0.5], requires_grad=True)
    fake = torch.tensor([-3.0, 0.0], requires_grad=True)
    gan.d_loss_hinge(real, fake).backward()
    torch.testing.assert_close(real.grad, torch.tensor([0.0, -0.5]))
    torch.testing.assert_close(fake.grad, torch.tensor([0.0, 0.5]))


def test_gradient_penalty_of_linear_critic_is_closed_form_with_its_gradient():
    torch.manual_seed(0)
    critic = nn.Linear(3, 1).double()
    real, fake = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 3, dtype=torch.float64)
    penalty = gan.gradient_penalty(critic, real, fake, weight=10.0)
    w = critic.weight.detach()[0]
    torch.testing.assert_close(penalty, 10.0 * (w.norm() - 1) ** 2)
    penalty.backward()
    # d/dw lambda (||w|| - 1)^2 = 2 lambda (||w|| - 1) w / ||w||
    torch.testing.assert_close(critic.weight.grad[0], 20.0 * (w.norm() - 1) * w / w.norm())


def test_gradient_penalty_on_quadratic_critic_uses_per_sample_interpolates():
    real = torch.randn(5, 2, 3, dtype=torch.float64)  # unseen (batch, 2, 3) shape
    fake = torch.randn(5, 2, 3, dtype=torch.float64)
    critic = lambda x: 0.5 * (x**2).flatten(1).sum(1)  # gradient at x is x

    penalty = gan.gradient_penalty(critic, real, fake, weight=2.0,
                                   generator=torch.Generator().manual_seed(3))
    eps = torch.rand(5, 1, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x_hat = eps * real + (1 - eps) * fake
    expected = 2.0 * ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(penalty, expected)


def test_gradient_penalty_does_not_backpropagate_into_the_generator():
    fake_source = torch.randn(4, 2, requires_grad=True)
    critic = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    gan.gradient_penalty(critic, torch.randn(4, 2), fake_source * 2).backward()
    assert fake_source.grad is None
    assert critic[0].weight.grad is not None


def test_gradient_penalty_is_zero_for_unit_gradient_critic():
    critic = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.6, 0.8]]))
    value = gan.gradient_penalty(critic, torch.randn(8, 2), torch.randn(8, 2))
    assert abs(value.item()) < 1e-10


def test_clip_weights_clamps_every_parameter_and_keeps_small_ones():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    before = [p.detach().clone() for p in net.parameters()]
    assert gan.clip_weights_(net, clip=0.05) is net
    for old, new in zip(before, net.parameters()):
        assert new.abs().max() <= 0.05
        torch.testing.assert_close(new, old.clamp(-0.05, 0.05))


def test_registry_maps_every_loss_to_a_d_and_g_loss_that_run():
    real, fake = _logits(4, 12), _logits(4, 13)
    assert set(gan.GAN_LOSSES) == {"minimax", "nonsaturating", "lsgan", "wgan", "wgan-gp", "hinge"}
    for name, (d_loss, g_loss) in gan.GAN_LOSSES.items():
        assert d_loss(real, fake).ndim == 0 and g_loss(fake).ndim == 0, name
    assert gan.get_gan_loss("nonsaturating").g_loss is gan.g_loss_nonsaturating
    with pytest.raises(ValueError, match="loss must be one of"):
        gan.get_gan_loss("vanilla")


@pytest.mark.parametrize("fn,args,name", [
    (gan.d_loss_minimax, (torch.zeros(4, 2), torch.zeros(4)), "real_logits"),
    (gan.d_loss_minimax, (torch.zeros(4), torch.zeros(2, 2, 1)), "fake_logits"),
    (gan.g_loss_nonsaturating, (torch.zeros(4, dtype=torch.int64),), "fake_logits"),
    (gan.g_loss_minimax, (torch.tensor([0.0, float("nan")]),), "fake_logits"),
    (gan.d_loss_lsgan, (torch.tensor([float("inf")]), torch.zeros(1)), "real_out"),
    (gan.g_loss_lsgan, (torch.zeros(3, 3),), "fake_out"),
    (gan.critic_loss_wgan, (torch.zeros(2), torch.ones(2, dtype=torch.int32)), "fake_scores"),
    (gan.g_loss_wgan, (torch.zeros(()),), "fake_scores"),
    (gan.d_loss_hinge, (torch.zeros(0), torch.zeros(2)), "real_out"),
    (gan.g_loss_hinge, (torch.zeros(2, 1, 1),), "fake_out"),
])
def test_bad_input_raises_value_error_naming_the_argument(fn, args, name):
    with pytest.raises(ValueError, match=name):
        fn(*args)


def test_bad_real_target_and_penalty_inputs_raise():
    with pytest.raises(ValueError, match="real_target"):
        gan.d_loss_minimax(torch.zeros(2), torch.zeros(2), real_target=1.5)
    with pytest.raises(ValueError, match="same shape"):
        gan.gradient_penalty(nn.Linear(2, 1), torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="fake"):
        gan.gradient_penalty(nn.Linear(2, 1), torch.zeros(3, 2), torch.full((3, 2), float("nan")))
    with pytest.raises(TypeError, match="module"):
        gan.clip_weights_(torch.zeros(3))
    with pytest.raises(ValueError, match="clip"):
        gan.clip_weights_(nn.Linear(2, 1), clip=-0.1)


def test_gradient_figure_data_match_the_closed_forms():
    from genlab.viz.gan import generator_gradients

    d_of_fake = torch.tensor([1e-4, 0.01, 0.5, 0.9], dtype=torch.float64)
    grads = generator_gradients(d_of_fake)
    torch.testing.assert_close(grads["saturating"], d_of_fake)        # |-sigmoid(l)| = D
    torch.testing.assert_close(grads["non-saturating"], 1 - d_of_fake)  # |sigmoid(l) - 1|
    with pytest.raises(ValueError, match="d_of_fake"):
        generator_gradients(torch.tensor([0.0, 0.5]))


# --- R1 penalty (Mescheder et al. 2018) ---------------------------------------------------

def test_r1_penalty_of_linear_discriminator_is_closed_form_with_its_gradient():
    torch.manual_seed(0)
    disc = nn.Linear(3, 1).double()
    real = torch.randn(16, 3, dtype=torch.float64)
    penalty = gan.r1_penalty(disc, real, weight=0.4)
    w = disc.weight.detach()[0]
    torch.testing.assert_close(penalty, 0.2 * w.pow(2).sum())  # gamma / 2 * ||w||^2
    penalty.backward()
    torch.testing.assert_close(disc.weight.grad[0], 0.4 * w)
    assert disc.bias.grad is None or not disc.bias.grad.any()  # the bias does not move D's slope


def test_r1_penalty_on_quadratic_discriminator_is_the_mean_squared_input_norm():
    real = torch.randn(6, 2, 3, dtype=torch.float64)  # unseen (batch, 2, 3) shape
    disc = lambda x: 0.5 * (x**2).flatten(1).sum(1)  # gradient at x is x
    expected = 0.5 * 2.0 * real.flatten(1).pow(2).sum(1).mean()
    torch.testing.assert_close(gan.r1_penalty(disc, real, weight=2.0), expected)


def test_r1_penalty_matches_a_per_sample_jacobian():
    torch.manual_seed(1)
    disc = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    real = torch.randn(5, 2, dtype=torch.float64)
    grads = torch.stack([torch.autograd.functional.jacobian(lambda x: disc(x).sum(), r)
                         for r in real])
    expected = 0.5 * 0.1 * grads.pow(2).sum(1).mean()
    torch.testing.assert_close(gan.r1_penalty(disc, real, weight=0.1), expected)


def test_r1_penalty_trains_only_the_discriminator():
    source = torch.randn(4, 2, requires_grad=True)
    disc = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    gan.r1_penalty(disc, source * 2).backward()
    assert source.grad is None and disc[0].weight.grad is not None


def test_r1_penalty_refuses_bad_input():
    with pytest.raises(ValueError, match="weight"):
        gan.r1_penalty(nn.Linear(2, 1), torch.zeros(3, 2), weight=-1.0)
    with pytest.raises(ValueError, match="real"):
        gan.r1_penalty(nn.Linear(2, 1), torch.full((3, 2), float("nan")))
    with pytest.raises(TypeError, match="discriminator"):
        gan.r1_penalty("not a network", torch.zeros(3, 2))
