# %% [markdown]
# # 03 · Diffusion losses: noise prediction, v-prediction and hybrid objectives
#
# A diffusion model learns to **remove Gaussian noise**. We destroy a digit step by step
# along a *noise schedule*, and train a network to undo one step at a time; sampling then
# starts from pure noise and denoises its way to an image. Almost everything that decides
# whether such a model trains well sits in two choices: the schedule, and *what the
# network is asked to predict* (and how much each noise level counts in the loss).
#
# **What you will learn**
# - the forward process and its closed form $q(x_t \mid x_0)$;
# - linear versus cosine schedules, read through $\bar\alpha_t$ and the log-SNR;
# - why networks predict the noise $\epsilon$, what the velocity $v$ is and why it behaves
#   better at high noise;
# - signal-to-noise weighting (Min-SNR-$\gamma$);
# - the hybrid loss of Improved DDPM and what learning the variance buys;
# - training $\epsilon$- and $v$-prediction models on digits and sampling them with DDPM
#   and DDIM.
#
# **Prerequisites:** chapter 00; Gaussian distributions; chapter 02 (the ELBO) helps for the
# hybrid loss. **Run time:** about 25 s on a 2-core CPU (two short trainings; the long
# ones are shipped), a few seconds on a GPU.

# %% [markdown]
# ## Setup

# %%
import math

import matplotlib.pyplot as plt
import torch

import genlab
from genlab.viz import diffusion as viz_diffusion
from genlab.losses import diffusion as D  # genlab's reference versions of this chapter's formulas

device = genlab.get_device()
if device.type == "cpu":
    torch.set_num_threads(1)  # 8x8 convolutions gain little from threads; spare a shared CPU
genlab.seed_everything(0)
images, labels = genlab.data.load_digits("train")
print(f"genlab {genlab.__version__} on {device}; {len(images)} training digits")

# %% [markdown]
# ## 1. The forward process
#
# Fix a number of steps $T$ (1000 in the papers) and small variances
# $\beta_1, \dots, \beta_T$. Each step shrinks the image a little and adds a little noise:
#
# $$q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{1-\beta_t}\, x_{t-1},\ \beta_t I\big).$$
#
# Shrinking by $\sqrt{1-\beta_t}$ keeps the variance at 1 (for data of variance 1), so
# after many steps $x_T$ is a standard normal whatever the image was. Gaussians compose, so
# we never have to run the chain: with $\alpha_t = 1-\beta_t$ and
# $\bar\alpha_t = \prod_{s\le t}\alpha_s$,
#
# $$x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1-\bar\alpha_t}\, \epsilon, \qquad
#   \epsilon \sim \mathcal N(0, I).$$
#
# $\bar\alpha_t$ is the share of the signal's variance that is left at step $t$. This
# closed form is what makes training cheap: any noise level can be drawn in one line.
# (genlab, like diffusers, counts steps from $t = 0$ to $T-1$.)

# %%
T = 1000
schedules = {name: D.alphas_cumprod_from_betas(D.make_beta_schedule(name, T))
             for name in ("linear", "cosine")}
steps_shown = [0, 100, 250, 400, 600, 800, 999]
x0 = images[:1].expand(len(steps_shown), -1, -1, -1)
noise = torch.randn(1, 1, 8, 8).expand_as(x0)  # the same noise in every panel
t = torch.tensor(steps_shown)
rows = {name: D.q_sample(x0, t, noise, abar) for name, abar in schedules.items()}
viz_diffusion.plot_noised_rows(rows, steps_shown);

# %% [markdown]
# With the **linear** schedule of DDPM ($\beta$ from $10^{-4}$ to $0.02$) the digit is hard to
# see by $t \approx 250$, and the last half of the steps train the network on images that
# are pure noise to the eye. The **cosine** schedule keeps a trace of the digit longer.
#
# ## 2. Linear versus cosine: $\bar\alpha_t$ and the log-SNR
#
# The signal-to-noise ratio of $x_t$ is $\mathrm{SNR}(t) = \bar\alpha_t / (1-\bar\alpha_t)$.
# Its logarithm is the natural clock of a diffusion: equal steps in log-SNR are equal
# amounts of information destroyed. Nichol & Dhariwal (2021) chose
#
# $$\bar\alpha_t = \frac{f(t)}{f(0)}, \qquad f(t) = \cos^2\!\Big(\frac{t/T + s}{1+s}\,\frac{\pi}{2}\Big),
#   \quad s = 0.008,$$
#
# which makes the log-SNR fall almost linearly through the middle of the process, and clip
# $\beta_t$ at 0.999 so that the last step does not divide by zero. Small images suffer most
# from the linear schedule: an 8x8 digit has so few pixels that even moderate noise hides it.

# %%
curves = {name: genlab.widgets.noise_schedule.schedule_curves(name, T) for name in schedules}
viz_diffusion.plot_schedule_curves(curves)
for name, c in curves.items():
    share = float((c["log_snr"] < math.log(0.01)).double().mean())
    print(f"{name:6s}: {share:.0%} of the steps have SNR < 0.01 (almost pure noise)")

# %% [markdown]
# ### Try it: the noise-schedule widget
#
# Pick a schedule and its parameters; the curves and a digit noised to the chosen $t$
# update live (the noise draw is fixed, so only the schedule changes what you see). Try a
# linear schedule with a smaller `beta_end`, or a cosine one with a large offset `s`.

# %%
genlab.widgets.noise_schedule.build(image=images[0], T=T)

# %% [markdown]
# ### Exercise 1: sample from $q(x_t \mid x_0)$
#
# Write `q_sample(x0, t, noise, alphas_cumprod)` returning
# $\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon$.
# `x0` and `noise` have shape `(batch, ...)` (any number of dimensions after the batch),
# `t` is an int64 tensor `(batch,)` with one timestep per image, and `alphas_cumprod` is the
# `(T,)` table. Pick each image's $\bar\alpha_t$ with `alphas_cumprod[t]`, reshape it so it
# broadcasts against `x0`, and return a tensor of `x0`'s dtype (the table is float64).

# %% solution id=q_sample
def q_sample(x0, t, noise, alphas_cumprod):
    """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise; shapes (batch, ...)."""
    ### BEGIN SOLUTION
    abar = alphas_cumprod[t].to(x0.dtype).view(-1, *([1] * (x0.ndim - 1)))
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise
    ### END SOLUTION

# %% tests id=test_q_sample points=2
_abar = schedules["linear"]
_x0, _eps = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
_xt = q_sample(_x0, torch.tensor([0, 999]), _eps, _abar)
assert _xt.shape == (2, 1, 2, 2), f"wrong shape {tuple(_xt.shape)}"
assert torch.allclose(_xt[0], torch.full((1, 2, 2), math.sqrt(_abar[0].item()))), \
    "with zero noise, x_t should be sqrt(abar_t) * x0"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("03_diffusion_losses", "test_q_sample")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. What should the network predict?
#
# Reversing the process means learning $p_\theta(x_{t-1} \mid x_t)$. For small steps it is
# Gaussian, and its mean is that of the true posterior $q(x_{t-1} \mid x_t, x_0)$, a fixed
# mix of $x_t$ and $x_0$. So the network only has to tell us $x_0$, and it can do so in
# three equivalent ways, each a linear function of $x_t$ and the output:
#
# | target | network learns | $x_0$ from it |
# |---|---|---|
# | $\epsilon$ (Ho et al. 2020) | the noise that was added | $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\epsilon)/\sqrt{\bar\alpha_t}$ |
# | $x_0$ | the clean image | itself |
# | $v$ (Salimans & Ho 2022) | $v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1-\bar\alpha_t}\,x_0$ | $\hat x_0 = \sqrt{\bar\alpha_t}\,x_t - \sqrt{1-\bar\alpha_t}\,\hat v$ |
#
# **Why noise?** The target $\epsilon$ has unit variance at every $t$, so one network with
# one output scale serves all noise levels, and DDPM showed that the plain MSE on
# $\epsilon$, $L_\text{simple} = \mathbb E\,\|\epsilon - \epsilon_\theta(x_t, t)\|^2$, is
# the ELBO with its per-step weights dropped, and samples better than the ELBO itself.
#
# **Why v?** Write $x_t = \cos\phi\, x_0 + \sin\phi\, \epsilon$ with $\cos\phi = \sqrt{\bar\alpha_t}$.
# Then $v = \cos\phi\,\epsilon - \sin\phi\, x_0$ is the *velocity* $dx_t/d\phi$: a rotation of
# $(x_0, \epsilon)$, with unit variance too. The difference shows at **high noise**: there
# $\sqrt{\bar\alpha_t} \to 0$, and turning an $\epsilon$ prediction into $x_0$ divides its error
# by $\sqrt{\bar\alpha_t}$; from $v$ the error is *multiplied* by $\sqrt{1-\bar\alpha_t} \le 1$.
# At the last step of the cosine schedule ($\bar\alpha \approx 10^{-9}$) an $\epsilon$-model's
# $x_0$ is pure amplified error, a $v$-model's is well defined. This is why Stable Diffusion 2
# and progressive distillation use $v$.

# %%
abar = schedules["cosine"]
amplification = {  # |error in x0| per unit of error in the network's output
    "epsilon": ((1 - abar) / abar).sqrt(),
    "v": (1 - abar).sqrt(),
    "x0": torch.ones(T),
}
fig, ax = plt.subplots(figsize=(4.5, 2.6))
for name, a in amplification.items():
    ax.semilogy(a.numpy(), label=name, lw=1.2)
ax.set(xlabel="t", title="error in $\\hat x_0$ per unit output error (cosine)")
ax.legend(fontsize=8);

# %% [markdown]
# The curves also show the other side: at **low noise** (small $t$) the $x_0$-target would
# ask the network to copy $x_t$ almost exactly, and a tiny error in $\epsilon$ costs almost
# nothing in $x_0$; $v$ sits between the two at every $t$.
#
# ### Exercise 2: the velocity target
#
# Write `v_target(x0, noise, t, alphas_cumprod)` returning
# $v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1-\bar\alpha_t}\,x_0$, with the same shapes and
# conventions as `q_sample`.

# %% solution id=v_target
def v_target(x0, noise, t, alphas_cumprod):
    """v = sqrt(abar_t) noise - sqrt(1 - abar_t) x0; shapes (batch, ...)."""
    ### BEGIN SOLUTION
    abar = alphas_cumprod[t].to(x0.dtype).view(-1, *([1] * (x0.ndim - 1)))
    return abar.sqrt() * noise - (1 - abar).sqrt() * x0
    ### END SOLUTION

# %% tests id=test_v_target points=2
_abar = schedules["cosine"]
_v = v_target(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), torch.tensor([999]), _abar)
assert _v.shape == (1, 1, 2, 2)
assert torch.allclose(_v, -(1 - _abar[999]).sqrt().float() * torch.ones(1, 1, 2, 2), atol=1e-6), \
    "at the last step v is almost -x0"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("03_diffusion_losses", "test_v_target")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: from a noise prediction to $x_0$
#
# Samplers need $\hat x_0$ whatever the network predicts. Write
# `eps_to_x0(x_t, eps, t, alphas_cumprod)` returning
# $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\epsilon) / \sqrt{\bar\alpha_t}$.

# %% solution id=eps_to_x0
def eps_to_x0(x_t, eps, t, alphas_cumprod):
    """x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t); shapes (batch, ...)."""
    ### BEGIN SOLUTION
    abar = alphas_cumprod[t].to(x_t.dtype).view(-1, *([1] * (x_t.ndim - 1)))
    return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()
    ### END SOLUTION

# %% tests id=test_eps_to_x0 points=2
_abar = schedules["linear"]
_x0, _eps, _t = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8), torch.tensor([0, 10, 200, 700])
_xt = D.q_sample(_x0, _t, _eps, _abar)
assert torch.allclose(eps_to_x0(_xt, _eps, _t, _abar), _x0, atol=1e-3), \
    "with the true noise you should recover x0"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("03_diffusion_losses", "test_eps_to_x0")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. How much should each noise level count? SNR weighting
#
# Every target is an MSE, but in $x_0$ terms they weight the noise levels differently:
# $\|\epsilon - \hat\epsilon\|^2 = \mathrm{SNR}(t)\,\|x_0 - \hat x_0\|^2$ and
# $\|v - \hat v\|^2 = (\mathrm{SNR}(t)+1)\,\|x_0 - \hat x_0\|^2$. The $\epsilon$-loss thus
# pours its effort into the nearly clean steps, where the SNR is huge and there is little
# to learn. Hang et al. (2023) found that the steps compete, and that capping the weight,
# **Min-SNR-$\gamma$**: weight $\min(\mathrm{SNR}(t), \gamma)$ in $x_0$ space with
# $\gamma = 5$, converges several times faster. For a network trained on its own target
# this becomes a per-sample factor on the MSE:
#
# $$w_\epsilon(t) = \frac{\min(\mathrm{SNR}, \gamma)}{\mathrm{SNR}}, \qquad
#   w_v(t) = \frac{\min(\mathrm{SNR}, \gamma)}{\mathrm{SNR} + 1}, \qquad
#   w_{x_0}(t) = \min(\mathrm{SNR}, \gamma).$$

# %%
t_all = torch.arange(T)
fig, ax = plt.subplots(figsize=(4.5, 2.6))
for pred in ("epsilon", "v"):
    ax.semilogy(D.min_snr_weights(t_all, abar, 5.0, pred).numpy(), label=f"min-SNR-5, {pred}")
ax.set(xlabel="t", title="weight on the network's own MSE (cosine)")
ax.legend(fontsize=8);

# %% [markdown]
# For $\epsilon$-prediction the weight is 1 wherever SNR $\le 5$ and shrinks the low-noise
# steps; `genlab.train.diffusion.train_diffusion(..., snr_gamma=5.0)` applies it.
#
# ### Exercise 4: Min-SNR-$\gamma$ weights
#
# Write `min_snr_weights(t, alphas_cumprod, gamma=5.0, prediction="epsilon")` returning the
# weights `(batch,)` above for `prediction` in `"epsilon"`, `"v"`, `"x0"`, with
# $\mathrm{SNR}(t) = \bar\alpha_t/(1-\bar\alpha_t)$.

# %% solution id=min_snr_weights
def min_snr_weights(t, alphas_cumprod, gamma=5.0, prediction="epsilon"):
    """Min-SNR-gamma loss weights for the network's own target, shape (batch,)."""
    ### BEGIN SOLUTION
    abar = alphas_cumprod[t]
    snr = abar / (1 - abar)
    clipped = snr.clamp(max=gamma)
    if prediction == "epsilon":
        return clipped / snr
    if prediction == "v":
        return clipped / (snr + 1)
    return clipped
    ### END SOLUTION

# %% tests id=test_min_snr_weights points=2
_w = min_snr_weights(torch.tensor([0, 999]), schedules["cosine"])
assert _w.shape == (2,)
assert abs(float(_w[1]) - 1.0) < 1e-6, "at high noise (SNR < gamma) the epsilon weight is 1"
assert float(_w[0]) < 0.01, "at t=0 the SNR is huge, so the epsilon weight is tiny"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("03_diffusion_losses", "test_min_snr_weights")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. The hybrid loss: learning the variance
#
# $L_\text{simple}$ trains the mean of $p_\theta(x_{t-1} \mid x_t)$ and fixes its variance,
# either at $\beta_t$ or at the posterior's $\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t$.
# With 1000 steps the two are almost equal and the choice hardly matters. Improved DDPM
# (Nichol & Dhariwal 2021) noticed that it matters once we **sample with fewer steps**:
# skipping steps makes each step's $\beta$ large and the gap between the two bounds wide.

# %%
fig, ax = plt.subplots(figsize=(4.5, 2.6))
for n_steps in (1000, 50, 10):
    kept = torch.tensor(sorted(genlab.models.samplers.ddim_timesteps(T, n_steps)))
    abar_kept = abar[kept]
    beta = D.betas_from_alphas_cumprod(abar_kept)[1:]  # the betas of the shortened chain
    beta_tilde = beta * (1 - abar_kept[:-1]) / (1 - abar_kept[1:])
    ax.plot(kept[1:].numpy(), (beta / beta_tilde).numpy(), label=f"{n_steps} steps")
ax.set(yscale="log", xlabel="t", title=r"$\beta_t / \tilde\beta_t$ (cosine)")
ax.legend(fontsize=8);

# %% [markdown]
# So let the network choose. It outputs a second channel $v$ (a different $v$: an
# interpolation coefficient) and the variance is interpolated in log space,
#
# $$\Sigma_\theta = \exp\!\big(\tfrac{v+1}{2}\log\beta_t + \tfrac{1-v}{2}\log\tilde\beta_t\big).$$
#
# $L_\text{simple}$ gives the variance no signal, so we add the variational bound,
# $L_\text{hybrid} = L_\text{simple} + \lambda L_\text{vlb}$ with $\lambda = 0.001$:
# $L_\text{vlb}$ sums, over $t$, the KL between the true posterior and the model's Gaussian
# (and a discretized Gaussian likelihood at $t = 0$). $L_\text{vlb}$ is a noisy objective,
# so the paper puts a **stop-gradient on the mean** inside it: the bound trains only the
# variance, the mean keeps the clean signal of $L_\text{simple}$. Let us check it on one
# batch with a random output: the gradient of $L_\text{vlb}$ must vanish on the mean channel.

# %%
x0b, eps = images[:16], torch.randn(16, 1, 8, 8)
tb = torch.randint(0, T, (16,))
xtb = D.q_sample(x0b, tb, eps, abar)
out = torch.randn(16, 2, 8, 8, requires_grad=True)  # channel 0: epsilon, channel 1: variance
l_simple, l_vlb = D.hybrid_loss_terms(out, x0b, eps, xtb, tb, abar, "epsilon")
(grad,) = torch.autograd.grad(l_vlb.mean(), out)
print(f"L_simple {l_simple.mean():.3f}, L_vlb {l_vlb.mean():.4f} bits/dim")
print(f"gradient of L_vlb: mean channel {grad[:, 0].abs().sum():.1e}, "
      f"variance channel {grad[:, 1].abs().sum():.1e}")

# %% [markdown]
# ### Exercise 5: the hybrid objective
#
# Put the pieces together. Write `hybrid_loss(model_output, x0, noise, x_t, t,
# alphas_cumprod, lambda_vlb=0.001)` for a network whose first $C$ output channels
# predict $\epsilon$ and whose last $C$ are the variance interpolation $v$. Return the scalar
#
# $$L_\text{hybrid} = \operatorname{mean}(L_\text{simple}) + \lambda \, T \operatorname{mean}(L_\text{vlb}),$$
#
# with $L_\text{simple}$ the per-sample mean squared error of $\epsilon$ and $T$ the
# number of steps (`len(alphas_cumprod)`: $t$ is drawn uniformly, so $T$ times the mean of
# $L_t$ estimates the sum over $t$). For $L_\text{vlb}$ use genlab's building blocks:
# `D.eps_to_x0`, `D.posterior_mean_variance` (returns mean, variance, log-variance),
# `D.learned_log_variance` and `D.vlb_terms`. The point is the **stop-gradient**: the
# mean inside $L_\text{vlb}$ must be built from a detached $\epsilon$.

# %% solution id=hybrid_loss
def hybrid_loss(model_output, x0, noise, x_t, t, alphas_cumprod, lambda_vlb=0.001):
    """mean(L_simple) + lambda_vlb * T * mean(L_vlb) for an epsilon + variance output."""
    ### BEGIN SOLUTION
    c = x_t.shape[1]
    eps_pred, var_output = model_output[:, :c], model_output[:, c:]
    l_simple = ((eps_pred - noise) ** 2).flatten(1).mean(dim=1)
    x0_pred = D.eps_to_x0(x_t, eps_pred.detach(), t, alphas_cumprod)  # stop-gradient
    mean, _, _ = D.posterior_mean_variance(x0_pred, x_t, t, alphas_cumprod)
    log_var = D.learned_log_variance(var_output, t, alphas_cumprod)
    l_vlb = D.vlb_terms(mean, log_var, x0, x_t, t, alphas_cumprod)
    return l_simple.mean() + lambda_vlb * len(alphas_cumprod) * l_vlb.mean()
    ### END SOLUTION

# %% tests id=test_hybrid_loss points=3
_out = torch.randn(16, 2, 8, 8, requires_grad=True)
_loss = hybrid_loss(_out, x0b, eps, xtb, tb, abar)
assert _loss.shape == (), f"a scalar, got shape {tuple(_loss.shape)}"
_ls, _lv = D.hybrid_loss_terms(_out, x0b, eps, xtb, tb, abar, "epsilon")
assert torch.allclose(_loss, _ls.mean() + 0.001 * T * _lv.mean(), rtol=1e-5), \
    "mean(L_simple) + lambda * T * mean(L_vlb)"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("03_diffusion_losses", "test_hybrid_loss")
### END HIDDEN TESTS

# %% [markdown]
# With the variance learned, Improved DDPM samples with 50 to 100 steps almost as well as
# with 4000, and its log-likelihood improves. `SmallUNet(learned_variance=True)` with
# `loss_type="hybrid"` trains this way, and `ddpm_sample` then uses the learned variance.
#
# ## 6. Training $\epsilon$- and $v$-prediction models on digits
#
# Training is Algorithm 1 of DDPM: draw a batch, a timestep per image and noise, build
# $x_t$ in closed form, and regress the target. Our network is a small U-Net
# (`genlab.models.unet.SmallUNet`: two resolutions, residual blocks fed with a sinusoidal
# time embedding, self-attention at 4x4). Both models use the cosine schedule, the same
# seed and the same number of steps; only the target differs.
#
# Clean digits take about 1,500 steps, one to three CPU minutes per model. So we train the
# first 150 steps of each model live, enough to watch the losses fall, and load the same
# recipe trained for 1,500 steps beside them (`genlab.pretrained.digits_diffusion`:
# `python -m genlab.pretrained build digits-diffusion` trains it with this very call and
# `steps=1500`, and its hash is checked when it loads).

# %%
from genlab.pretrained.digits_diffusion import load_digits_diffusion

n_steps = genlab.budget(150, 2)
live, live_histories, models, histories = {}, {}, {}, {}
for pred in ("epsilon", "v"):
    live[pred], live_histories[pred] = genlab.train.diffusion.train_digits_diffusion(
        pred, steps=n_steps, device=device, seed=0)
    models[pred], histories[pred] = load_digits_diffusion(pred, device=device)
    print(f"{pred:7s}: live, {n_steps} steps in {live_histories[pred].meta['seconds']:.0f} s, "
          f"final loss {sum(live_histories[pred]['loss'][-25:]) / 25:.3f}; shipped, "
          f"{histories[pred].meta['steps']} steps, final loss "
          f"{sum(histories[pred]['loss'][-50:]) / 50:.3f}")

# %% [markdown]
# The two losses are not comparable in size (different targets, different weights across
# $t$ as section 4 showed), but both fall quickly and then flatten. The live runs (wide,
# pale lines) retrace the start of the shipped ones, since they share recipe and seed. On
# the logarithmic step axis you see that the last 1,350 steps lower the loss only a little
# more. They matter all the same, as the samples below show.

# %%
fig, ax = plt.subplots(figsize=(4.8, 2.8))
for pred in models:
    genlab.viz.plot_series(histories[pred], ["loss"], ax=ax, smooth=25)
    ax.lines[-1].set_label(f"{pred}, shipped")
    genlab.viz.plot_series(live_histories[pred], ["loss"], ax=ax,
                           smooth=min(25, len(live_histories[pred]["loss"])))
    ax.lines[-1].set(label=f"{pred}, live", linewidth=4, alpha=0.4, color=ax.lines[-2].get_color())
ax.set_xscale("log")
ax.legend(fontsize=8)
ax.set_title("training loss (moving average of 25 steps)", fontsize=9);

# %% [markdown]
# ### Sampling: DDIM with 50 steps, and DDPM with all 1000
#
# **DDPM** sampling runs the learned reverse chain step by step, adding fresh noise at each
# step: 1000 network calls. **DDIM** (Song et al. 2021) uses the same trained network but a
# deterministic update that jumps between timesteps,
# $x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t'}}\,\hat\epsilon$, so 50
# calls suffice. Both samplers accept any prediction type: they convert the output to
# $\hat x_0$ and $\hat\epsilon$ first.

# %%
n_samples, ddim_steps = genlab.budget(40, 8), genlab.budget(50, 5)
abar_model = histories["epsilon"].meta["alphas_cumprod"]
samples = {}
for runs, label in [(live, f"{n_steps} steps, live"), (models, "1500 steps, shipped")]:
    for pred, model in runs.items():
        gen = torch.Generator().manual_seed(1)  # the same starting noise for every model
        samples[f"{pred}, {label}"] = genlab.models.samplers.ddim_sample(
            model, (n_samples, 1, 8, 8), abar_model, ddim_steps, prediction=pred, generator=gen)
viz_diffusion.plot_side_by_side(samples, ncols=10);

# %% [markdown]
# After 150 steps the live models draw noisy grey shapes (their weight average, over the
# last 200 steps or so, still remembers the random start); after 1,500 steps the shipped
# models draw digits. With the same starting noise the two shipped models often
# draw the *same* digit: DDIM is deterministic, and both networks learned the same
# denoiser, written in different coordinates. Now the full ancestral DDPM chain for a few
# samples of the shipped $\epsilon$ model (1000 network calls, a few seconds):

# %%
n_ddpm = genlab.budget(20, 0)  # 1000 network calls: skipped while grading
if n_ddpm:
    gen = torch.Generator().manual_seed(2)
    ddpm = genlab.models.samplers.ddpm_sample(
        models["epsilon"], (n_ddpm, 1, 8, 8), abar_model, "epsilon", generator=gen)
    genlab.viz.image_grid(ddpm, ncols=10, title="shipped epsilon model, DDPM 1000 steps");

# %% [markdown]
# How good are they? A digit classifier trained on the real digits (the course's feature
# network, chapter 06) gives the share of samples it labels with confidence above 0.9; on
# real test digits this is the ceiling.

# %%
probs = {name: genlab.metrics.inception_score.digits_class_probs(x.cpu())
         for name, x in {**samples, "real test digits": genlab.data.load_digits("test")[0]}.items()}
for name, p in probs.items():
    print(f"{name:31s}: {float((p.max(dim=1).values > 0.9).float().mean()):.0%} confidently classified")

# %% [markdown]
# ## Quiz
#
# **Q1.** Why does the cosine schedule suit small images better than DDPM's linear one?
#
# - a) it uses fewer timesteps
# - b) the linear schedule destroys the signal early, so many steps train on what is almost
#   pure noise; the cosine schedule spreads the log-SNR more evenly over $t$
# - c) the cosine schedule makes $x_T$ exactly zero
# - d) the linear schedule is not variance preserving
#
# **Q2.** At very high noise ($\bar\alpha_t \to 0$), why is $v$-prediction better behaved than
# $\epsilon$-prediction?
#
# - a) turning $\hat\epsilon$ into $\hat x_0$ divides its error by $\sqrt{\bar\alpha_t}$, while
#   $\hat x_0$ from $\hat v$ multiplies it by $\sqrt{1-\bar\alpha_t} \le 1$
# - b) $v$ has a larger variance, so the gradients are stronger
# - c) $v$ equals $x_0$ at high noise, which is easy to predict
# - d) $\epsilon$-prediction cannot be used with DDIM
#
# **Q3.** In the hybrid loss $L_\text{simple} + \lambda L_\text{vlb}$, what does the
# stop-gradient on the mean in $L_\text{vlb}$ achieve?
#
# - a) it makes $L_\text{vlb}$ zero
# - b) it speeds up the backward pass only
# - c) $L_\text{vlb}$ then trains only the variance, and the mean learns from the cleaner
#   $L_\text{simple}$
# - d) it lets the variance train the mean

# %% solution id=quiz_answers
answer_q1 = None  # "a", "b", "c" or "d"
answer_q2 = None
answer_q3 = None
### BEGIN SOLUTION
answer_q1 = "b"
answer_q2 = "a"
answer_q3 = "c"
### END SOLUTION

# %%
genlab.quiz.check_all("03_diffusion_losses", q1=answer_q1, q2=answer_q2, q3=answer_q3);

# %% tests id=test_quiz points=3
genlab.quiz.assert_letters(answer_q1=answer_q1, answer_q2=answer_q2, answer_q3=answer_q3)
### BEGIN HIDDEN TESTS
assert answer_q1 == "b", "Q1: the linear schedule spends many steps at almost zero SNR."
assert answer_q2 == "a", "Q2: x0 from epsilon divides by sqrt(abar_t), which goes to zero."
assert answer_q3 == "c", "Q3: the stop-gradient leaves the mean to L_simple; L_vlb trains the variance."
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# - The forward process has a closed form, $x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\epsilon$,
#   so training draws any noise level in one line; the schedule is best read as a log-SNR curve.
# - The cosine schedule keeps signal longer than the linear one, which matters for small images.
# - $\epsilon$, $x_0$ and $v$ are interchangeable targets that weight the noise levels
#   differently; $v$ stays well conditioned at high noise.
# - Min-SNR-$\gamma$ caps the weight of the easy, low-noise steps.
# - The hybrid loss learns the variance with a stop-gradient on the mean, which pays off when
#   sampling with few steps; DDIM samples a DDPM-trained model in 50 steps.
# - Next: **04 · Optimizers and schedules**, where a warmup makes this U-Net train faster.
