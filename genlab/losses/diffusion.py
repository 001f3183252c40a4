"""Diffusion: noise schedules, the forward process, prediction targets and losses.

Notation follows Ho et al. 2020 (DDPM): ``betas`` (T,) is the variance added at each
step, ``alphas_cumprod`` (T,) is alpha-bar_t = prod_{s<=t} (1 - beta_s), and index
``t = 0 .. T-1`` (diffusers' convention: ``t = 0`` is the first, least noisy step).

- forward process in closed form: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps;
- three things a network can predict: the noise ``"epsilon"`` (Ho et al. 2020), the clean
  image ``"x0"``, or the velocity ``"v"`` = sqrt(abar_t) eps - sqrt(1 - abar_t) x0
  (Salimans & Ho 2022), with exact conversions between them;
- the simple loss (MSE on the chosen target), Min-SNR-gamma weights (Hang et al. 2023),
  and the hybrid objective L_simple + lambda L_vlb with a learned, interpolated variance
  (Nichol & Dhariwal 2021, "Improved DDPM").

Schedules are returned in float64 (the cosine schedule's alpha-bar reaches ~1e-9, where
float32 log-SNRs lose digits); every function casts the coefficients it gathers to the
dtype of the images it is given.
"""

from __future__ import annotations

import math

import torch

from genlab._checks import check_choice, check_int, check_positive, check_same_shape, check_tensor

PREDICTIONS = ("epsilon", "v", "x0")
SCHEDULES = ("linear", "cosine")


# ---------------------------------------------------------------- schedules

def linear_beta_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Betas rising linearly from ``beta_start`` to ``beta_end`` (Ho et al. 2020).

    Returns a float64 tensor of shape ``(T,)``. The defaults are DDPM's, for T = 1000;
    diffusers calls this ``beta_schedule="linear"``.
    """
    check_int("T", T, minimum=1)
    check_positive("beta_start", beta_start)
    check_positive("beta_end", beta_end)
    if not beta_start <= beta_end < 1:
        raise ValueError(f"need beta_start <= beta_end < 1, got {beta_start} and {beta_end}")
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_alpha_bar(u: torch.Tensor, s: float = 0.008) -> torch.Tensor:
    """The cosine schedule's alpha-bar as a function of time ``u`` in [0, 1].

    f(u) = cos(((u + s) / (1 + s)) * pi / 2) ** 2, so f(0) is 1 up to s (Nichol & Dhariwal
    2021, eq. 17; their normalisation by f(0) cancels in the betas). ``u``: a tensor of
    times in [0, 1] (past 1 the cosine rises again: not a schedule).
    """
    check_tensor("u", u)
    check_positive("s", s, allow_zero=True)
    if u.numel() and (float(u.min()) < 0 or float(u.max()) > 1):
        raise ValueError(f"u must lie in [0, 1] (time as a fraction of T), got values from "
                         f"{float(u.min()):.4g} to {float(u.max()):.4g}")
    return torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2


def cosine_beta_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Betas of the cosine schedule (Nichol & Dhariwal 2021, "Improved DDPM").

    beta_t = min(1 - f((t+1)/T) / f(t/T), max_beta) with f from :func:`cosine_alpha_bar`.
    The offset ``s`` keeps beta tiny near t = 0; ``max_beta`` stops the last betas from
    reaching 1 (a singularity at the end of the process). Returns float64, shape ``(T,)``;
    diffusers calls this ``beta_schedule="squaredcos_cap_v2"``.
    """
    check_int("T", T, minimum=1)
    check_positive("s", s, allow_zero=True)
    check_positive("max_beta", max_beta)
    if max_beta >= 1:
        raise ValueError(f"max_beta must be < 1, got {max_beta}")
    u = torch.arange(T + 1, dtype=torch.float64) / T
    f = cosine_alpha_bar(u, s)
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


def make_beta_schedule(name: str, T: int = 1000, **params) -> torch.Tensor:
    """``"linear"`` or ``"cosine"`` betas with their keyword ``params`` (see those functions)."""
    check_choice("name", name, SCHEDULES)
    builder = linear_beta_schedule if name == "linear" else cosine_beta_schedule
    return builder(T, **params)


def alphas_cumprod_from_betas(betas: torch.Tensor) -> torch.Tensor:
    """alpha-bar_t = prod_{s<=t} (1 - beta_s); shape ``(T,)`` like ``betas``."""
    check_tensor("betas", betas, ndim=1)
    if not ((betas > 0) & (betas < 1)).all():
        raise ValueError("betas must lie in (0, 1)")
    return torch.cumprod(1 - betas, dim=0)


def make_alphas_cumprod(schedule: str = "cosine", T: int = 1000, **params) -> torch.Tensor:
    """alpha-bar of the ``"linear"`` or ``"cosine"`` schedule (float64, shape (T,))."""
    return alphas_cumprod_from_betas(make_beta_schedule(schedule, T, **params))


def betas_from_alphas_cumprod(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Invert :func:`alphas_cumprod_from_betas`: beta_t = 1 - abar_t / abar_{t-1}."""
    _check_alphas_cumprod(alphas_cumprod)
    prev = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
    return 1 - alphas_cumprod / prev


def log_snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """log SNR(t) = log(abar_t / (1 - abar_t)) for every t; shape ``(T,)``."""
    _check_alphas_cumprod(alphas_cumprod)
    return torch.log(alphas_cumprod) - torch.log1p(-alphas_cumprod)


def snr(t: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio abar_t / (1 - abar_t) at timesteps ``t`` (batch,); float32."""
    _check_alphas_cumprod(alphas_cumprod)
    _check_timesteps(t, len(alphas_cumprod))
    abar = alphas_cumprod[t.to(alphas_cumprod.device)]
    return (abar / (1 - abar)).float().to(t.device)


# ---------------------------------------------------------------- checks and gathering

def _check_alphas_cumprod(alphas_cumprod) -> None:
    check_tensor("alphas_cumprod", alphas_cumprod, ndim=1)
    if len(alphas_cumprod) == 0 or not ((alphas_cumprod > 0) & (alphas_cumprod < 1)).all():
        raise ValueError("alphas_cumprod must be non-empty with values in (0, 1)")


def _check_timesteps(t, T: int, batch: int | None = None) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t must be a torch.Tensor of integer timesteps, got {type(t).__name__}")
    if t.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise ValueError(f"t must hold integer timesteps, got dtype {t.dtype}")
    if t.ndim != 1:
        raise ValueError(f"t must have shape (batch,), got {tuple(t.shape)}")
    if batch is not None and len(t) != batch:
        raise ValueError(f"t has {len(t)} timesteps but the batch has {batch} images")
    if len(t) and (int(t.min()) < 0 or int(t.max()) >= T):
        raise ValueError(
            f"timesteps must lie in [0, {T - 1}] for a schedule of T={T} steps, "
            f"got values from {int(t.min())} to {int(t.max())}"
        )


def _gather(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] shaped (batch, 1, 1, ...) to broadcast against ``like``, in its dtype."""
    # index where the table lives and cast before moving: MPS has no float64
    out = values[t.to(values.device)].to(like.dtype).to(like.device)
    return out.view(-1, *([1] * (like.ndim - 1)))


def _check_images(name: str, x) -> torch.Tensor:
    return check_tensor(name, x, min_ndim=2)


def _prepare(x_name, x, t, alphas_cumprod):
    _check_images(x_name, x)
    _check_alphas_cumprod(alphas_cumprod)
    _check_timesteps(t, len(alphas_cumprod), batch=x.shape[0])


# ---------------------------------------------------------------- forward process and targets

def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
             alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Sample x_t ~ q(x_t | x0) in closed form: sqrt(abar_t) x0 + sqrt(1 - abar_t) noise.

    x0, noise: ``(batch, ...)`` (noise standard normal); t: ``(batch,)`` integer timesteps
    in [0, T-1]; alphas_cumprod: ``(T,)``. Returns x_t with x0's shape and dtype
    (Ho et al. 2020, eq. 4; diffusers' ``DDPMScheduler.add_noise``).
    """
    _prepare("x0", x0, t, alphas_cumprod)
    check_tensor("noise", noise)
    check_same_shape("x0", x0, "noise", noise)
    abar = _gather(alphas_cumprod, t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def v_target(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor,
             alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The velocity v = sqrt(abar_t) noise - sqrt(1 - abar_t) x0 (Salimans & Ho 2022).

    Shapes as in :func:`q_sample`. diffusers: ``DDPMScheduler.get_velocity``.
    """
    _prepare("x0", x0, t, alphas_cumprod)
    check_tensor("noise", noise)
    check_same_shape("x0", x0, "noise", noise)
    abar = _gather(alphas_cumprod, t, x0)
    return abar.sqrt() * noise - (1 - abar).sqrt() * x0


def prediction_target(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor,
                      alphas_cumprod: torch.Tensor, prediction: str = "epsilon") -> torch.Tensor:
    """What a network trained for ``prediction`` ("epsilon", "v" or "x0") should output."""
    check_choice("prediction", prediction, PREDICTIONS)
    if prediction == "epsilon":
        _prepare("x0", x0, t, alphas_cumprod)
        check_tensor("noise", noise)
        check_same_shape("x0", x0, "noise", noise)
        return noise
    if prediction == "x0":
        _prepare("x0", x0, t, alphas_cumprod)
        return x0
    return v_target(x0, noise, t, alphas_cumprod)


# ---------------------------------------------------------------- conversions between predictions

def _conversion_inputs(x_t, pred_name, pred, t, alphas_cumprod):
    _prepare("x_t", x_t, t, alphas_cumprod)
    check_tensor(pred_name, pred)
    check_same_shape("x_t", x_t, pred_name, pred)
    abar = _gather(alphas_cumprod, t, x_t)
    return abar.sqrt(), (1 - abar).sqrt()


def eps_to_x0(x_t, eps, t, alphas_cumprod):
    """x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) (DDPM eq. 15). Shapes ``(batch, ...)``."""
    a, s = _conversion_inputs(x_t, "eps", eps, t, alphas_cumprod)
    return (x_t - s * eps) / a


def x0_to_eps(x_t, x0, t, alphas_cumprod):
    """eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t)."""
    a, s = _conversion_inputs(x_t, "x0", x0, t, alphas_cumprod)
    return (x_t - a * x0) / s


def v_to_x0(x_t, v, t, alphas_cumprod):
    """x0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v (Salimans & Ho 2022)."""
    a, s = _conversion_inputs(x_t, "v", v, t, alphas_cumprod)
    return a * x_t - s * v


def v_to_eps(x_t, v, t, alphas_cumprod):
    """eps = sqrt(1 - abar_t) x_t + sqrt(abar_t) v."""
    a, s = _conversion_inputs(x_t, "v", v, t, alphas_cumprod)
    return s * x_t + a * v


def convert_prediction(pred: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
                       alphas_cumprod: torch.Tensor, source: str, target: str) -> torch.Tensor:
    """Turn a ``source`` prediction into a ``target`` one ("epsilon", "v" or "x0").

    The three are linear in (x_t, pred) given abar_t, so any can be recovered from any
    other. ``pred`` and ``x_t`` have shape ``(batch, ...)``; t is ``(batch,)``.
    """
    check_choice("source", source, PREDICTIONS)
    check_choice("target", target, PREDICTIONS)
    a, s = _conversion_inputs(x_t, "pred", pred, t, alphas_cumprod)
    if source == "epsilon":
        eps, x0 = pred, (x_t - s * pred) / a
    elif source == "x0":
        eps, x0 = (x_t - a * pred) / s, pred
    else:
        eps, x0 = s * x_t + a * pred, a * x_t - s * pred
    if target == "epsilon":
        return eps
    if target == "x0":
        return x0
    return a * eps - s * x0


# ---------------------------------------------------------------- simple loss and SNR weights

def min_snr_weights(t: torch.Tensor, alphas_cumprod: torch.Tensor, gamma: float = 5.0,
                    prediction: str = "epsilon") -> torch.Tensor:
    """Per-sample loss weights of Min-SNR-gamma (Hang et al. 2023), shape ``(batch,)``.

    The paper weights the x0-space loss by min(SNR, gamma). Expressed for the network's
    own target this becomes min(SNR, gamma) / SNR for epsilon-prediction,
    min(SNR, gamma) / (SNR + 1) for v-prediction and min(SNR, gamma) for x0-prediction
    (as in diffusers' training scripts, with SNR from ``training_utils.compute_snr``).
    gamma = 5 is the paper's default.
    """
    check_positive("gamma", gamma)
    check_choice("prediction", prediction, PREDICTIONS)
    _check_alphas_cumprod(alphas_cumprod)
    _check_timesteps(t, len(alphas_cumprod))
    abar = alphas_cumprod[t.to(alphas_cumprod.device)].double()  # SNR spans 1e-9..1e4
    ratio = abar / (1 - abar)
    clipped = ratio.clamp(max=gamma)
    if prediction == "epsilon":
        weights = clipped / ratio
    elif prediction == "v":
        weights = clipped / (ratio + 1)
    else:
        weights = clipped
    return weights.float().to(t.device)


def simple_loss(model_output: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor,
                t: torch.Tensor, alphas_cumprod: torch.Tensor, prediction: str = "epsilon",
                weights: torch.Tensor | None = None) -> torch.Tensor:
    """L_simple: mean squared error between ``model_output`` and the ``prediction`` target.

    All images ``(batch, ...)``; ``weights`` (batch,) optional per-sample weights such as
    :func:`min_snr_weights`. The MSE is averaged over pixels per sample, weighted, then
    averaged over the batch (Ho et al. 2020, eq. 14). Returns a scalar.
    """
    target = prediction_target(x0, noise, t, alphas_cumprod, prediction)
    # a NaN output is a diverging run, not bad input: let the loss show it to the NaN guard
    check_tensor("model_output", model_output, finite=False)
    check_same_shape("model_output", model_output, "x0", x0)
    per_sample = ((model_output - target) ** 2).flatten(1).mean(dim=1)
    if weights is not None:
        check_tensor("weights", weights, ndim=1)
        if len(weights) != len(per_sample):
            raise ValueError(f"weights has {len(weights)} entries for a batch of {len(per_sample)}")
        per_sample = per_sample * weights.to(per_sample)
    return per_sample.mean()


# ---------------------------------------------------------------- Improved DDPM: learned variance and L_vlb

def _posterior_tables(alphas_cumprod):
    """(betas, abar_{t-1}, beta-tilde_t, clipped log beta-tilde_t), each (T,)."""
    betas = betas_from_alphas_cumprod(alphas_cumprod)
    prev = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
    post_var = betas * (1 - prev) / (1 - alphas_cumprod)
    # beta-tilde_0 = 0: clip its log to beta-tilde_1 (only t = 0 uses it, as the decoder's scale)
    clip_from = post_var[1] if len(post_var) > 1 else betas[0]
    post_log_var = torch.log(torch.cat([clip_from.view(1), post_var[1:]]))
    return betas, prev, post_var, post_log_var


def posterior_mean_variance(x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
                            alphas_cumprod: torch.Tensor):
    """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x0) (DDPM eqs. 6-7).

    mean = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0 + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t,
    variance = beta-tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t (zero at t = 0, so its
    log is clipped to the value at t = 1, as in Improved DDPM's code). Variances are
    ``(batch, 1, ...)`` to broadcast; the mean has x_t's shape.
    """
    _prepare("x_t", x_t, t, alphas_cumprod)
    check_tensor("x0", x0)
    check_same_shape("x0", x0, "x_t", x_t)
    betas, prev, post_var, post_log_var = _posterior_tables(alphas_cumprod)
    coef_x0 = prev.sqrt() * betas / (1 - alphas_cumprod)
    coef_xt = (1 - betas).sqrt() * (1 - prev) / (1 - alphas_cumprod)
    mean = _gather(coef_x0, t, x_t) * x0 + _gather(coef_xt, t, x_t) * x_t
    return mean, _gather(post_var, t, x_t), _gather(post_log_var, t, x_t)


def learned_log_variance(var_output: torch.Tensor, t: torch.Tensor,
                         alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """log Sigma_theta = frac log beta_t + (1 - frac) log beta-tilde_t, frac = (v + 1) / 2.

    ``var_output`` (batch, ...) is the network's raw interpolation output v (about [-1, 1]);
    Improved DDPM, eq. 15. diffusers: ``variance_type="learned_range"``.
    """
    _prepare("var_output", var_output, t, alphas_cumprod)
    betas, _, _, post_log_var = _posterior_tables(alphas_cumprod)
    min_log = _gather(post_log_var, t, var_output)
    max_log = _gather(torch.log(betas), t, var_output)
    frac = (var_output + 1) / 2
    return frac * max_log + (1 - frac) * min_log


def normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """Elementwise KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) in nats (broadcasts)."""
    for name, x in (("mean1", mean1), ("logvar1", logvar1), ("mean2", mean2), ("logvar2", logvar2)):
        check_tensor(name, x, finite=False)
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _std_normal_cdf(x):
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, means: torch.Tensor,
                                        log_scales: torch.Tensor, bin_width: float = 2 / 255) -> torch.Tensor:
    """log P(x) per element, for data on a grid in [-1, 1] with spacing ``bin_width``.

    The decoder p(x0 | x1) of DDPM (eq. 13): Gaussian mass of the bin around x, with the
    edge bins stretched to +-infinity. ``log_scales`` is log standard deviation. The
    default is the 8-bit grid of the papers; the digits' own grid is 2/16.
    """
    check_tensor("x", x)
    check_tensor("means", means, finite=False)
    check_tensor("log_scales", log_scales, finite=False)
    check_positive("bin_width", bin_width)
    check_positive("bin_width", bin_width)
    centered = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = _std_normal_cdf(inv_std * (centered + bin_width / 2))
    cdf_min = _std_normal_cdf(inv_std * (centered - bin_width / 2))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_probs = torch.where(
        x < -1 + bin_width / 2, log_cdf_plus,
        torch.where(x > 1 - bin_width / 2, log_one_minus_cdf_min,
                    torch.log((cdf_plus - cdf_min).clamp(min=1e-12))),
    )
    return log_probs


def vlb_terms(model_mean: torch.Tensor, model_log_variance: torch.Tensor, x0: torch.Tensor,
              x_t: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor,
              bin_width: float = 2 / 255) -> torch.Tensor:
    """The term L_t of the variational bound per sample, in bits per dimension, ``(batch,)``.

    For t > 0: KL(q(x_{t-1} | x_t, x0) || p_theta(x_{t-1} | x_t)); for t = 0: the
    decoder's negative log-likelihood -log p_theta(x0 | x1) (DDPM eq. 5, Improved DDPM 2.1).
    """
    true_mean, _, true_log_var = posterior_mean_variance(x0, x_t, t, alphas_cumprod)
    check_tensor("model_mean", model_mean)
    check_same_shape("model_mean", model_mean, "x_t", x_t)
    kl = normal_kl(true_mean, true_log_var, model_mean, model_log_variance)
    kl = kl.flatten(1).mean(dim=1) / math.log(2.0)
    nll = -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_log_variance, bin_width)
    nll = nll.flatten(1).mean(dim=1) / math.log(2.0)
    return torch.where(t.to(x_t.device) == 0, nll, kl)


def hybrid_loss_terms(model_output: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor,
                      x_t: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor,
                      prediction: str = "epsilon", bin_width: float = 2 / 255):
    """Per-sample ``(l_simple, l_vlb)`` of Improved DDPM's hybrid objective, each ``(batch,)``.

    ``model_output`` is ``(batch, 2C, ...)``: C channels of the ``prediction`` and C of the
    variance interpolation v (see :func:`learned_log_variance`). The stop-gradient sits
    on the mean in L_vlb (Improved DDPM, sec. 3.1): L_vlb trains only the variance,
    L_simple only the mean, so the noisy bound cannot disturb the mean's easy signal.
    """
    check_choice("prediction", prediction, PREDICTIONS)
    _prepare("x_t", x_t, t, alphas_cumprod)
    check_tensor("model_output", model_output, min_ndim=2, finite=False)
    c = x_t.shape[1]
    if model_output.shape[1] != 2 * c or model_output.shape[2:] != x_t.shape[2:] \
            or model_output.shape[0] != x_t.shape[0]:
        raise ValueError(
            f"model_output must have shape {(x_t.shape[0], 2 * c, *x_t.shape[2:])} "
            f"(prediction and variance channels), got {tuple(model_output.shape)}"
        )
    pred, var_output = model_output[:, :c], model_output[:, c:]
    target = prediction_target(x0, noise, t, alphas_cumprod, prediction)
    l_simple = ((pred - target) ** 2).flatten(1).mean(dim=1)
    # stop-gradient on the mean: L_vlb only reaches the variance channels
    x0_pred = convert_prediction(pred.detach(), x_t, t, alphas_cumprod, prediction, "x0")
    model_mean, _, _ = posterior_mean_variance(x0_pred, x_t, t, alphas_cumprod)
    model_log_var = learned_log_variance(var_output, t, alphas_cumprod)
    l_vlb = vlb_terms(model_mean, model_log_var, x0, x_t, t, alphas_cumprod, bin_width)
    return l_simple, l_vlb


def hybrid_loss(model_output: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor,
                x_t: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor,
                prediction: str = "epsilon", lambda_vlb: float = 0.001,
                bin_width: float = 2 / 255) -> torch.Tensor:
    """L_hybrid = L_simple + lambda L_vlb (Improved DDPM, eq. 16; lambda = 0.001).

    L_vlb = sum_t L_t; with t drawn uniformly, T * mean(L_t) is its unbiased estimate,
    so the returned scalar is mean(l_simple) + lambda_vlb * T * mean(l_vlb) (the paper's
    code scales by T / 1000 for the same reason).
    """
    check_positive("lambda_vlb", lambda_vlb, allow_zero=True)
    l_simple, l_vlb = hybrid_loss_terms(model_output, x0, noise, x_t, t, alphas_cumprod,
                                        prediction, bin_width)
    return l_simple.mean() + lambda_vlb * len(alphas_cumprod) * l_vlb.mean()
