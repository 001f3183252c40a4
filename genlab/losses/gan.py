"""GAN losses on raw discriminator outputs (logits or critic scores), as batch means.

Taught in chapter 01_gan_losses. Every function takes the discriminator's *raw* output
for a batch, shape ``(batch,)`` or ``(batch, 1)``, and returns a scalar tensor to be
**minimized**. Losses that involve a sigmoid are written with ``softplus``/``logsigmoid``
so they stay finite for logits of any size (``log(sigmoid(x))`` underflows to ``-inf``
near ``x = -104`` in float32; ``logsigmoid(x)`` does not).

Papers:
- minimax and non-saturating: Goodfellow et al. 2014, "Generative Adversarial Nets".
- least squares (LSGAN): Mao et al. 2017, "Least Squares Generative Adversarial Networks".
- Wasserstein (WGAN, weight clipping): Arjovsky, Chintala and Bottou 2017.
- gradient penalty (WGAN-GP): Gulrajani et al. 2017, "Improved Training of Wasserstein GANs".
- hinge: Lim and Ye 2017 ("Geometric GAN"); Miyato et al. 2018 (SN-GAN).
- R1 penalty: Mescheder, Geiger and Nowozin 2018, "Which Training Methods for GANs do
  actually Converge?".

``GAN_LOSSES`` maps a loss name to its ``(d_loss, g_loss)`` pair.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from genlab._checks import check_finite_number, check_positive, check_tensor


def _check_outputs(name: str, x) -> torch.Tensor:
    """A discriminator output batch: floating, finite, shape ``(batch,)`` or ``(batch, 1)``."""
    check_tensor(name, x, ndim=(1, 2))
    if x.ndim == 2 and x.shape[1] != 1:
        raise ValueError(
            f"{name} must have shape (batch,) or (batch, 1), got {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {tuple(x.shape)}")
    return x


# --- the original GAN (Goodfellow et al. 2014) --------------------------------------------

def d_loss_minimax(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                   real_target: float = 1.0) -> torch.Tensor:
    """Discriminator loss of the minimax GAN: binary cross-entropy on logits.

    ``BCE(real_logits, real_target) + BCE(fake_logits, 0)``, i.e.
    ``-E[t log D(x) + (1 - t) log(1 - D(x))] - E[log(1 - D(G(z)))]`` with
    ``D = sigmoid(logit)``. ``real_target=1.0`` is the paper's loss; ``real_target=0.9``
    is one-sided label smoothing (Salimans et al. 2016): only real labels are softened.

    real_logits: ``(batch,)`` or ``(batch, 1)``; fake_logits: same form (batch sizes may
    differ). Returns a scalar (nats, the sum of two batch means).
    """
    _check_outputs("real_logits", real_logits)
    _check_outputs("fake_logits", fake_logits)
    check_positive("real_target", real_target)
    if real_target > 1:
        raise ValueError(f"real_target must be in (0, 1], got {real_target}")
    # -log sigmoid(x) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x)
    real_term = real_target * F.softplus(-real_logits) + (1 - real_target) * F.softplus(real_logits)
    fake_term = F.softplus(fake_logits)
    return real_term.mean() + fake_term.mean()


def g_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the original minimax game: ``E[log(1 - D(G(z)))]``.

    To be minimized. It *saturates*: when D confidently rejects fakes (logit -> -inf)
    its gradient with respect to the logit, ``-sigmoid(logit)``, vanishes, which is
    exactly when G needs to learn most. Returns a scalar.
    """
    _check_outputs("fake_logits", fake_logits)
    return F.logsigmoid(-fake_logits).mean()  # log(1 - sigmoid(x)) = logsigmoid(-x)


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``-E[log D(G(z))]`` (Goodfellow et al. 2014, sec. 3).

    Same fixed point as the minimax loss, but its gradient with respect to the logit,
    ``sigmoid(logit) - 1``, tends to -1 (not 0) as D rejects the fakes. Returns a scalar.
    """
    _check_outputs("fake_logits", fake_logits)
    return F.softplus(-fake_logits).mean()  # -log sigmoid(x)


# --- least squares GAN (Mao et al. 2017) -------------------------------------------------

def d_loss_lsgan(real_out: torch.Tensor, fake_out: torch.Tensor,
                 a: float = 0.0, b: float = 1.0) -> torch.Tensor:
    """LSGAN discriminator loss ``1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]``.

    ``a`` is the label of fakes, ``b`` of reals (the paper's 0-1 coding, eq. 2).
    Outputs are raw (no sigmoid). Returns a scalar.
    """
    _check_outputs("real_out", real_out)
    _check_outputs("fake_out", fake_out)
    check_finite_number("a", a)
    check_finite_number("b", b)
    return 0.5 * ((real_out - b) ** 2).mean() + 0.5 * ((fake_out - a) ** 2).mean()


def g_loss_lsgan(fake_out: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """LSGAN generator loss ``1/2 E[(D(G(z)) - c)^2]``: G wants D to say ``c`` (= real)."""
    _check_outputs("fake_out", fake_out)
    check_finite_number("c", c)
    return 0.5 * ((fake_out - c) ** 2).mean()


# --- Wasserstein GAN (Arjovsky et al. 2017; Gulrajani et al. 2017) -----------------------

def critic_loss_wgan(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss ``E[f(G(z))] - E[f(x)]``: minus the Kantorovich-Rubinstein estimate.

    Minimizing it maximizes ``E[f(x)] - E[f(G(z))]``, an estimate of the Wasserstein-1
    distance *if* the critic ``f`` is 1-Lipschitz, which weight clipping
    (:func:`clip_weights_`) or the gradient penalty (:func:`gradient_penalty`) must
    enforce. Scores are raw. Returns a scalar.
    """
    _check_outputs("real_scores", real_scores)
    _check_outputs("fake_scores", fake_scores)
    return fake_scores.mean() - real_scores.mean()


def g_loss_wgan(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN generator loss ``-E[f(G(z))]``."""
    _check_outputs("fake_scores", fake_scores)
    return -fake_scores.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, weight: float = 10.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Two-sided gradient penalty of WGAN-GP: ``weight * E[(||grad f(x_hat)||_2 - 1)^2]``.

    ``x_hat = eps * real + (1 - eps) * fake`` with one ``eps ~ U[0, 1]`` per sample
    (Gulrajani et al. 2017, Algorithm 1; lambda = 10). ``real`` and ``fake`` have the
    same shape ``(batch, ...)``; both are detached (the penalty trains the critic only),
    and the result keeps the graph (``create_graph=True``) so it can be backpropagated
    into the critic's parameters. ``generator`` seeds ``eps`` for reproducible tests.
    Returns a scalar.
    """
    if not callable(critic):
        raise TypeError(f"critic must be callable, got {type(critic).__name__}")
    check_tensor("real", real, min_ndim=2)
    check_tensor("fake", fake, min_ndim=2)
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {tuple(real.shape)} and "
            f"{tuple(fake.shape)}"
        )
    check_positive("weight", weight, allow_zero=True)
    eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = torch.rand(eps_shape, generator=generator, dtype=real.dtype,
                     device="cpu" if generator is not None else real.device).to(real.device)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grads,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    grad_norm = grads.flatten(1).norm(2, dim=1)
    return weight * ((grad_norm - 1) ** 2).mean()


def r1_penalty(discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
               weight: float = 0.1) -> torch.Tensor:
    """Zero-centred R1 penalty on real data: ``weight / 2 * E[||grad D(x)||_2^2]``, x real.

    Mescheder, Geiger and Nowozin 2018 ("Which training methods for GANs actually
    converge?") show that penalizing D's gradient on the real data makes the unregularized
    GAN game locally convergent: without it, the generator keeps circling the equilibrium
    (the Dirac GAN of chapter 04) instead of settling on it. ``discriminator`` maps
    ``(batch, ...)`` to raw outputs; ``real`` is detached (the penalty trains D only) and
    the result keeps the graph so it can be backpropagated into D's parameters. StyleGAN2
    applies it lazily, every k-th D update with ``weight * k`` (see ``train_gan``'s
    ``r1_every``). Returns a scalar.
    """
    if not callable(discriminator):
        raise TypeError(f"discriminator must be callable, got {type(discriminator).__name__}")
    check_tensor("real", real, min_ndim=2)
    check_positive("weight", weight, allow_zero=True)
    x = real.detach().requires_grad_(True)
    (grads,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    return 0.5 * weight * grads.flatten(1).pow(2).sum(dim=1).mean()


@torch.no_grad()
def clip_weights_(module: torch.nn.Module, clip: float = 0.01) -> torch.nn.Module:
    """Clamp every parameter of ``module`` into ``[-clip, clip]`` in place (WGAN, Alg. 1).

    A crude way to keep the critic Lipschitz: it bounds every weight, which pushes most
    weights to +-clip and limits what the critic can represent. Returns ``module``.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    check_positive("clip", clip)
    for param in module.parameters():
        param.clamp_(-clip, clip)
    return module


# --- hinge loss (Lim and Ye 2017; Miyato et al. 2018) ------------------------------------

def d_loss_hinge(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """Hinge discriminator loss ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``.

    D stops being pushed once a real scores above +1 and a fake below -1.
    """
    _check_outputs("real_out", real_out)
    _check_outputs("fake_out", fake_out)
    return F.relu(1 - real_out).mean() + F.relu(1 + fake_out).mean()


def g_loss_hinge(fake_out: torch.Tensor) -> torch.Tensor:
    """Hinge generator loss ``-E[D(G(z))]`` (the same form as WGAN's)."""
    _check_outputs("fake_out", fake_out)
    return -fake_out.mean()


# --- registry -------------------------------------------------------------------------

class GANLoss(NamedTuple):
    """A ``(d_loss, g_loss)`` pair; ``d_loss(real_out, fake_out)``, ``g_loss(fake_out)``."""

    d_loss: Callable[..., torch.Tensor]
    g_loss: Callable[[torch.Tensor], torch.Tensor]


GAN_LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss(d_loss_minimax, g_loss_minimax),
    "nonsaturating": GANLoss(d_loss_minimax, g_loss_nonsaturating),
    "lsgan": GANLoss(d_loss_lsgan, g_loss_lsgan),
    "wgan": GANLoss(critic_loss_wgan, g_loss_wgan),
    # WGAN-GP has WGAN's losses; the training loop adds gradient_penalty to the critic's
    "wgan-gp": GANLoss(critic_loss_wgan, g_loss_wgan),
    "hinge": GANLoss(d_loss_hinge, g_loss_hinge),
}


def get_gan_loss(name: str) -> GANLoss:
    """The ``(d_loss, g_loss)`` pair registered as ``name`` (see ``GAN_LOSSES``)."""
    if not isinstance(name, str) or name not in GAN_LOSSES:
        raise ValueError(f"loss must be one of {sorted(GAN_LOSSES)}, got {name!r}")
    return GAN_LOSSES[name]
