# %% [markdown]
# # 04 · Optimizers and schedules: Adam, AdamW, RMSprop, warmup, cosine decay, plateaus
#
# A loss says *what* to minimize; the optimizer and its learning-rate schedule decide
# *how* the weights get there, and for generative models they often decide whether
# training works at all. GAN papers quote their Adam settings as carefully as their
# architectures, and large models are trained with a warmup and a decay.
#
# **What you will learn**
# - what Adam's two moments do, and why GANs use $\beta_1 = 0.5$ (or 0) instead of 0.9;
# - how **AdamW**'s decoupled weight decay differs from Adam with an L2 penalty;
# - why the WGAN critic is trained with **RMSprop** and no momentum;
# - what a **warmup** prevents, what **cosine decay** buys at the end of training, and
#   how **ReduceLROnPlateau** reacts to a validation metric;
# - the presets in `genlab.optim` and where their numbers come from.
#
# **Prerequisites:** chapter 01 (GAN losses, the ring of 8 modes), gradients and SGD.
# **Run time:** about 10 s on a 2-core CPU, a few seconds on a GPU.

# %% [markdown]
# ## Setup

# %%
import math

import matplotlib.pyplot as plt
import torch

import genlab
from genlab import optim
from genlab.toys import optimizers as optim_toys

device = genlab.get_device()
genlab.seed_everything(0)
torch.set_num_threads(1)  # the models here are tiny: one CPU thread is fastest
print(f"genlab {genlab.__version__} on {device}")

# %% [markdown]
# ## 1. Adam's two moments
#
# Stochastic gradient descent steps against the gradient $g_t$: $\theta \leftarrow
# \theta - \eta\, g_t$. Adam (Kingma & Ba 2015) keeps two running averages per weight:
#
# $$ m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
#    v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2, $$
#
# the **first moment** $m$ (momentum: a smoothed gradient, which remembers about
# $1/(1-\beta_1)$ steps) and the **second moment** $v$ (the typical squared size of the
# gradient). Both start at 0, so early on they are too small; dividing by $1-\beta^t$
# corrects that bias. The step is
#
# $$ \hat m_t = \frac{m_t}{1-\beta_1^t}, \quad \hat v_t = \frac{v_t}{1-\beta_2^t}, \quad
#    \theta \leftarrow \theta - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}. $$
#
# Dividing by $\sqrt{\hat v}$ makes the step size about $\eta$ whatever the scale of the
# gradient: on the first step, $\hat m_1/\sqrt{\hat v_1} = \operatorname{sign}(g_1)$, so
# every weight moves by exactly $\eta$. A weight with tiny gradients moves as fast as one
# with huge gradients. Here is one step of `torch.optim.Adam` on three weights whose
# gradients differ by five orders of magnitude.

# %%
w = torch.nn.Parameter(torch.zeros(3))
adam = torch.optim.Adam([w], lr=0.1)
w.grad = torch.tensor([1e-3, -5.0, 300.0])
adam.step()
print("gradient:", w.grad.tolist(), "\nchange:  ", w.detach().tolist())

# %% [markdown]
# ### Exercise 1: one Adam update by hand
#
# Write `adam_update(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps)`: it returns
# `(new_param, new_exp_avg, new_exp_avg_sq)` after one Adam step, where `exp_avg` is $m$,
# `exp_avg_sq` is $v$ (both from the previous step, zeros before the first) and `step` is
# $t$, starting at 1. Follow the formulas above, with $\epsilon$ added after the square
# root as PyTorch does. Do not modify the inputs in place (return new tensors), and do
# not call `torch.optim`: the test compares your numbers with it.

# %% solution id=adam_update
def adam_update(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999),
                eps=1e-8):
    """One Adam step; returns (new_param, new_exp_avg, new_exp_avg_sq)."""
    ### BEGIN SOLUTION
    beta1, beta2 = betas
    exp_avg = beta1 * exp_avg + (1 - beta1) * grad
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad**2
    m_hat = exp_avg / (1 - beta1**step)
    v_hat = exp_avg_sq / (1 - beta2**step)
    return param - lr * m_hat / (v_hat.sqrt() + eps), exp_avg, exp_avg_sq
    ### END SOLUTION

# %% tests id=test_adam_update points=3
p0 = torch.tensor([0.5, -1.0, 2.0])
g0 = torch.tensor([0.1, -3.0, 0.0])
ref = torch.nn.Parameter(p0.clone())
ref_opt = torch.optim.Adam([ref], lr=0.01)
ref.grad = g0.clone()
ref_opt.step()
new_p, new_m, new_v = adam_update(p0, g0, torch.zeros(3), torch.zeros(3), 1, lr=0.01)
torch.testing.assert_close(new_p, ref.detach())
torch.testing.assert_close(new_m, ref_opt.state[ref]["exp_avg"])
torch.testing.assert_close(new_v, ref_opt.state[ref]["exp_avg_sq"])
assert p0.tolist() == [0.5, -1.0, 2.0], "adam_update must not change param in place"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("04_optimizers_schedules", "test_adam_update")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Why GANs use $\beta_1 = 0.5$
#
# Momentum helps when the loss surface stays put: it averages out noise and speeds
# through flat valleys. A GAN is a two-player game, and the surface each player sees moves
# every time the other player steps. The simplest game that shows what happens is the
# **Dirac GAN** (Mescheder et al. 2018): real data is the single point $0$, the generator
# is a single point $\theta$ and the discriminator is linear, $D(x) = \psi x$. The
# equilibrium is $\theta = \psi = 0$. Gradient steps make the pair circle around it: the
# discriminator tilts towards the generator, the generator slides away, the discriminator
# follows... Momentum keeps pushing in the direction of the *previous* steps, so each lap
# overshoots and the circle widens. We train both players with Adam, starting at
# $\theta=1$, and change only $\beta_1$.

# %%
dirac_steps = genlab.budget(600, 60)
paths = {b1: optim_toys.dirac_gan_trajectory(beta1=b1, steps=dirac_steps)
         for b1 in (0.9, 0.5, 0.0)}
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for b1, path in paths.items():
    axes[0].plot(path[:, 0], path[:, 1], lw=0.8, label=f"beta1={b1}")
    axes[1].plot(path.norm(dim=1), lw=1, label=f"beta1={b1}")
axes[0].set(xlabel="generator theta", ylabel="discriminator psi", title="Dirac GAN with Adam")
axes[1].set(xlabel="step", ylabel="distance to equilibrium")
axes[0].legend(fontsize=8);

# %% [markdown]
# With $\beta_1 = 0.9$ the distance to the equilibrium *grows* from 1; with $0.5$ it
# shrinks a little; with no momentum it shrinks most. This is why DCGAN (Radford et al.
# 2016) lowered $\beta_1$ to 0.5 ("the suggested value of 0.9 resulted in training
# oscillation and instability"), and why WGAN-GP and SN-GAN use $\beta_1 = 0$.
#
# The same holds on a real GAN. `benchmarks/optim_ablation.py` trains the ring GAN of
# chapter 01 (non-saturating loss, Adam lr $10^{-3}$, 3000 steps with a linear decay)
# with $\beta_1 = 0.9$ and $\beta_1 = 0.5$ over five seeds and counts modes covered and
# how much the losses oscillate in the second half of training:
#
# | $\beta_1$ | modes covered (of 8), per seed | high-quality share | std of G loss | std of D loss |
# |---|---|---|---|---|
# | 0.9 | 1, 8, 1, 0, 7 | 0.14 | 0.31 | 0.21 |
# | 0.5 | 8, 8, 8, 8, 8 | 0.84 | 0.08 | 0.04 |
#
# With $\beta_1 = 0.9$ three seeds of five end with one mode or none (the samples sit
# between the modes), even the others put few samples inside the modes, and the losses
# swing about four times as much; with $0.5$ every seed covers the whole ring.
# (High-quality share: samples within 3 standard deviations of a mode, chapter 01. Each
# run takes about 20 s of CPU time: `python benchmarks/optim_ablation.py` reproduces the
# table.)
#
# In `genlab.optim` these settings are presets, each with its source:

# %%
for name in optim.PRESETS:
    settings = optim.preset_settings(name)
    print(f"{name:8s} {settings['optimizer']:8s} lr={settings['lr']:g}  {settings['source']}")

# %%
generator = torch.nn.Linear(2, 2)
g_opt = optim.make_optimizer(generator.parameters(), "gan")
print(type(g_opt).__name__, g_opt.param_groups[0]["lr"], g_opt.param_groups[0]["betas"])

# %% [markdown]
# ## 3. AdamW: weight decay that is not rescaled
#
# Weight decay pulls weights towards zero. With plain SGD, adding $\frac{\lambda}{2}
# \lVert\theta\rVert^2$ to the loss (an **L2 penalty**) and shrinking the weights by
# $(1-\eta\lambda)$ each step are the same thing. With Adam they are not (Loshchilov &
# Hutter 2019): the penalty's gradient $\lambda\theta$ joins $g_t$ and is divided by
# $\sqrt{\hat v}$ like the rest. A weight with large loss gradients has a large $\hat v$,
# so its decay is divided away; a weight with no loss gradient has $\hat v$ made of the
# penalty alone, so it moves by about $\eta$ per step, however small $\lambda$ is.
# **AdamW** decouples the decay: it takes the Adam step on the loss and separately
# multiplies every weight by $(1-\eta\lambda)$. `torch.optim.Adam(weight_decay=...)` is the
# L2 version, `torch.optim.AdamW` the decoupled one. We track two weights that both start
# at 1: one receives large noisy loss gradients of mean zero, the other none at all.

# %%
def decay_run(opt_class, steps=300):
    w = torch.nn.Parameter(torch.ones(2))  # [noisy gradients, no gradient]
    opt = opt_class([w], lr=0.01, weight_decay=0.1)
    gen, path = torch.Generator().manual_seed(0), []
    for _ in range(steps):
        w.grad = torch.tensor([10.0 * torch.randn(1, generator=gen).item(), 0.0])
        opt.step()
        path.append(w.detach().clone())
    return torch.stack(path)

# %%
fig, ax = plt.subplots(figsize=(5, 3))
for opt_class, style in [(torch.optim.Adam, "--"), (torch.optim.AdamW, "-")]:
    path = decay_run(opt_class)
    ax.plot(path[:, 0], style, label=f"{opt_class.__name__}: noisy weight")
    ax.plot(path[:, 1], style, label=f"{opt_class.__name__}: weight without gradient")
ax.set(xlabel="step", ylabel="weight", title="weight decay 0.1, lr 0.01")
ax.legend(fontsize=7);

# %% [markdown]
# AdamW shrinks both weights alike, by the factor $(1-\eta\lambda)$ per step: after 300
# steps both are near $0.999^{300} \approx 0.74$ (the noisy one wanders around that). Adam
# with L2 treats them in opposite ways: the weight without gradient moves by up to $\eta$
# per step and is at zero by the end, while the penalty on the noisy weight drowns in its
# gradient noise and it stays near 1. With AdamW, weight decay means the same thing for
# every weight, and its strength can be tuned apart from the learning rate; that is why
# transformers and diffusion models are trained with AdamW (preset `"adamw"`, weight
# decay 0.01).

# %% [markdown]
# ## 4. RMSprop for the clipped WGAN critic
#
# RMSprop (Tieleman & Hinton 2012) is Adam without the first moment: it divides the
# gradient by the running root mean square $\sqrt{v}$ and has no momentum. The WGAN paper
# (Arjovsky et al. 2017) trains its critic with RMSprop at $5\cdot 10^{-5}$ because Adam
# made critic training unstable. The critic's weights are clipped to $[-0.01, 0.01]$
# after every step, so most of them sit on a wall, and the direction that helps the
# critic changes whenever the generator moves. Momentum remembers the old direction: after
# a change it keeps pushing the weight into the old wall for about $1/(1-\beta_1)$ steps
# before the weight even starts to move. A toy shows the effect: one clipped weight whose
# best sign flips every 40 steps, with noisy gradients.

# %%
makers = {"RMSprop": lambda p: torch.optim.RMSprop(p, lr=1e-3),
          "Adam beta1=0.9": lambda p: torch.optim.Adam(p, lr=1e-3),
          "Adam beta1=0.5": lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.5, 0.999))}
fig, ax = plt.subplots(figsize=(6, 3))
for name, make in makers.items():
    w_path, target = optim_toys.clipped_weight_trajectory(make, steps=200, flip_every=40)
    share = optim_toys.agreement(w_path, target)
    ax.plot(w_path, lw=1, label=f"{name}: right sign {share:.0%} of steps")
ax.plot(0.01 * target, "k:", lw=0.8, label="where the critic should be")
ax.set(xlabel="critic step", ylabel="clipped weight")
ax.legend(fontsize=7);

# %% [markdown]
# RMSprop turns around as soon as the gradient changes sign; Adam with $\beta_1=0.9$
# lags by several steps at every change and spends much more of the run on the wrong
# side. With clipping, that lag is pure loss: the weight cannot move further while the
# momentum is wrong. WGAN-GP removed clipping and could go back to Adam, but with
# $\beta_1 = 0$ (preset `"wgan_gp"`).

# %% [markdown]
# ## 5. Warmup
#
# In the first steps Adam's $\hat v$ is an average over a handful of gradients, and every
# weight moves by about the full learning rate at once (section 1). For a deep network
# without normalization layers, that first burst can throw the weights into a region of
# high loss; the network then spends many steps recovering, or never does (Goyal et al.
# 2017; Liu et al. 2020 relate it to the variance of Adam's early $\hat v$). A **linear
# warmup** raises the rate from 0 to its target over the first steps:
#
# $$ \eta_t = \eta \cdot \frac{t}{T_\text{warmup}} \quad (t < T_\text{warmup}). $$
#
# Our model: a 6-layer MLP that denoises 8x8 digits, trained with Adam at $10^{-2}$, with
# and without 50 warmup steps (`genlab.optim.linear_warmup`, a `LambdaLR`).

# %%
denoise_steps = genlab.budget(300, 20)
no_warmup = optim_toys.train_denoiser(None, lr=1e-2, steps=denoise_steps, device=device)
warmup = optim_toys.train_denoiser(lambda o: optim.linear_warmup(o, 50), lr=1e-2,
                                   steps=denoise_steps, device=device)

# %%
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(no_warmup["loss"], lw=1, label=f"no warmup (peak {max(no_warmup['loss']):.2f})")
ax.plot(warmup["loss"], lw=1, label=f"50 warmup steps (peak {max(warmup['loss']):.2f})")
ax.set(xlabel="step", ylabel="training MSE", yscale="log", title="denoiser, Adam lr 1e-2")
ax.legend(fontsize=8);

# %% [markdown]
# Without warmup the loss jumps to about three times its starting value within a few
# steps and the run ends worse; with warmup the loss falls from the start. (The rate that
# spikes depends on the model: at $3\cdot10^{-3}$ this one trains fine without warmup.
# Warmup is what lets you use the larger rate.)
#
# ## 6. Cosine decay
#
# At the end of training a constant learning rate keeps the weights jittering around the
# minimum: each minibatch pushes them by about $\eta$, so the loss stalls at a floor set by
# the rate. **Cosine decay** (Loshchilov & Hutter 2017) lowers the rate smoothly to a
# minimum $\eta_\text{min}$ (often 0) by the last step $T$:
#
# $$ \eta_t = \eta_\text{min} + (\eta - \eta_\text{min})\,\tfrac12\left(1 + \cos\left(\pi\,
#    \frac{t - T_\text{warmup}}{T - T_\text{warmup}}\right)\right). $$
#
# `genlab.optim.warmup_cosine(optimizer, warmup_steps, total_steps, min_lr)` combines
# both; with `min_lr=0` it is, step for step, `transformers.get_cosine_schedule_with_warmup`
# (the tests check this, and against Diffusers' `get_scheduler("cosine")`).
# `genlab.optim.trace_lr` shows what any scheduler does without training anything:

# %%
total = 200
curves = {
    "warmup 20 + cosine": lambda o: optim.warmup_cosine(o, 20, total),
    "... with min_lr 2e-4": lambda o: optim.warmup_cosine(o, 20, total, min_lr=2e-4),
    "linear warmup 20": lambda o: optim.linear_warmup(o, 20),
}
curves = {name: optim.trace_lr(make, total, lr=1e-3) for name, make in curves.items()}
from genlab.widgets import schedules

schedules.plot_schedules(curves);

# %% [markdown]
# To see the floor, we fit a noisy linear regression (its best possible validation loss
# is the noise variance, 0.25) with Adam at $0.1$ and minibatches of 8, once with a
# constant rate and once with cosine decay to 0.

# %%
fit_steps = genlab.budget(600, 40)
constant_fit = optim_toys.train_regression(None, lr=0.1, steps=fit_steps)
cosine_fit = optim_toys.train_regression(lambda o: optim.warmup_cosine(o, 0, fit_steps),
                                         lr=0.1, steps=fit_steps)
for name, run in [("constant", constant_fit), ("cosine", cosine_fit)]:
    last = run["val_loss"][-5:]  # the last 5 evaluations, 20 steps apart
    print(f"{name:9s} validation MSE {min(last):.3f} to {max(last):.3f} (floor 0.250)")

# %% [markdown]
# The constant rate ends well above the floor and wanders from one evaluation to the
# next; the cosine run spends its last steps at tiny rates and settles close to it.

# %% [markdown]
# ### Exercise 2: the warmup-cosine multiplier
#
# A `LambdaLR` multiplies the base rate by a function of the step. Write
# `warmup_cosine_multiplier(step, warmup_steps, total_steps)` returning that factor for
# `step` = 0, 1, 2, ...: `step / warmup_steps` during the warmup, then the half cosine
# from 1 (at `step == warmup_steps`) to 0 (at `step == total_steps`), and 0 after
# `total_steps`. Use `math.cos`; return a Python float.

# %% solution id=warmup_cosine_multiplier
def warmup_cosine_multiplier(step, warmup_steps, total_steps):
    """Learning-rate factor at ``step``: linear warmup, then cosine decay to 0."""
    ### BEGIN SOLUTION
    if step < warmup_steps:
        return step / warmup_steps
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))
    ### END SOLUTION

# %% tests id=test_warmup_cosine_multiplier points=3
# 1e-6: a factor computed in float32 (torch.cos of a tensor) is right to ~1e-7, while a
# step off by one or a wrong endpoint moves it by more than 1e-4
assert warmup_cosine_multiplier(0, 10, 110) == 0.0
assert abs(warmup_cosine_multiplier(5, 10, 110) - 0.5) < 1e-6, "halfway through the warmup: 0.5"
assert abs(warmup_cosine_multiplier(10, 10, 110) - 1.0) < 1e-6, "end of warmup: 1"
assert abs(warmup_cosine_multiplier(60, 10, 110) - 0.5) < 1e-6, "middle of the cosine: 0.5"
assert abs(warmup_cosine_multiplier(110, 10, 110)) < 1e-6, "last step: 0"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("04_optimizers_schedules", "test_warmup_cosine_multiplier")
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Reducing the rate when the validation metric stalls
#
# A fixed schedule needs the length of the run in advance. **ReduceLROnPlateau** watches
# a metric instead: if it has not improved (by more than a small threshold) for
# `patience` checks, the rate is multiplied by `factor`. It is stepped with the metric,
# once per evaluation, not once per batch:
#
# ```python
# scheduler = genlab.optim.plateau(optimizer, factor=0.5, patience=2)
# for epoch in range(n_epochs):
#     train_one_epoch(model, optimizer)
#     scheduler.step(validation_loss(model))
# ```
#
# On the same regression, evaluated every 20 steps:

# %%
plateau_fit = optim_toys.train_regression(lambda o: optim.plateau(o, factor=0.5, patience=2),
                                          lr=0.1, steps=fit_steps)
fig, ax = plt.subplots(figsize=(5, 3))
for name, run in [("constant", constant_fit), ("plateau", plateau_fit)]:
    ax.plot(run.steps["val_loss"], run["val_loss"], lw=1, label=name)
ax.set(xlabel="step", ylabel="validation MSE", ylim=(0.24, 0.6))
twin = ax.twinx()
twin.plot(plateau_fit["lr"], "k:", lw=0.8)
twin.set_ylabel("plateau lr (dotted)")
ax.legend(fontsize=8);

# %% [markdown]
# Each time the validation loss stops improving, the rate halves and the loss drops to a
# lower floor, without our knowing in advance when that would happen.
#
# ## 8. Explore: the schedule widget
#
# Choose a schedule and its parameters; "add" keeps the curve so you can overlay several.
# The plateau schedule reacts to a simulated validation loss (dashed grey) that stops
# improving at 40% of the run. Things to try: a one-cycle schedule next to warmup +
# cosine; a step schedule with `gamma` 0.1; a plateau with patience 0 and then 50.

# %%
schedules.build(n_steps=500, lr=1e-3)

# %% [markdown]
# ### Exercise 3: the right preset for the model
#
# For each model below, set the variable to the name of the `genlab.optim` preset that its
# paper (or common practice) uses: one of `"adam"`, `"gan"`, `"wgan"`, `"wgan_gp"`,
# `"adamw"`.
#
# - `preset_a`: a convolutional generator and discriminator trained with the binary
#   cross-entropy (non-saturating) loss, batch normalization, images 64x64.
# - `preset_b`: a critic whose weights are clipped to $[-0.01, 0.01]$ after every update,
#   five critic updates per generator update.
# - `preset_c`: a critic trained with a gradient penalty of weight 10 on points between
#   real and fake samples, no clipping.
# - `preset_d`: a transformer (or a diffusion U-Net) where all weights should be pulled
#   towards zero by the same factor each step, whatever the size of their gradients.

# %% solution id=presets
preset_a = None
preset_b = None
preset_c = None
preset_d = None
### BEGIN SOLUTION
preset_a = "gan"
preset_b = "wgan"
preset_c = "wgan_gp"
preset_d = "adamw"
### END SOLUTION

# %% tests id=test_presets points=3
for name, value in [("preset_a", preset_a), ("preset_b", preset_b), ("preset_c", preset_c),
                    ("preset_d", preset_d)]:
    assert value in optim.PRESETS, f"{name} must be one of {sorted(optim.PRESETS)}, got {value!r}"
    optim.make_optimizer(torch.nn.Linear(2, 2).parameters(), value)  # builds
### BEGIN HIDDEN TESTS
assert preset_a == "gan", "preset_a: DCGAN uses Adam lr 2e-4, beta1 0.5"
assert preset_b == "wgan", "preset_b: weight clipping goes with RMSprop (no momentum)"
assert preset_c == "wgan_gp", "preset_c: WGAN-GP uses Adam lr 1e-4, betas (0, 0.9)"
assert preset_d == "adamw", "preset_d: decoupled weight decay is AdamW"
### END HIDDEN TESTS

# %% [markdown]
# ## Quiz
#
# **Q1.** On the very first Adam step ($t=1$, $m_0=v_0=0$, $\epsilon \approx 0$), how far
# does a weight with gradient $g_1 \neq 0$ move?
#
# - a) $\eta\, g_1$, as with SGD
# - b) $\eta\, (1-\beta_1)\, g_1$
# - c) $\eta$, in the direction of $-\operatorname{sign}(g_1)$, whatever the size of $g_1$
# - d) not at all: the bias correction cancels the first step
#
# **Q2.** You train with `ReduceLROnPlateau(optimizer, patience=5)` and evaluate once per
# epoch. Where does `scheduler.step(...)` go?
#
# - a) after every `optimizer.step()`, with the training-batch loss
# - b) once per epoch, after the evaluation, with the validation loss
# - c) before training, with the number of epochs
# - d) nowhere: it reduces the rate by itself after 5 epochs
#
# **Q3.** Your GAN's losses oscillate more and more and the samples jump between modes.
# Which optimizer change is the standard first fix?
#
# - a) raise Adam's $\beta_1$ from 0.5 to 0.9 for smoother updates
# - b) lower Adam's $\beta_1$ from 0.9 to 0.5 (or 0)
# - c) switch to AdamW with weight decay 0.1
# - d) remove the learning-rate warmup

# %% solution id=quiz_answers
answer_q1 = None  # "a", "b", "c" or "d"
answer_q2 = None
answer_q3 = None
### BEGIN SOLUTION
answer_q1 = "c"
answer_q2 = "b"
answer_q3 = "b"
### END SOLUTION

# %%
genlab.quiz.check_all("04_optimizers_schedules", q1=answer_q1, q2=answer_q2, q3=answer_q3);

# %% tests id=test_quiz points=3
genlab.quiz.assert_letters(answer_q1=answer_q1, answer_q2=answer_q2, answer_q3=answer_q3)
### BEGIN HIDDEN TESTS
assert answer_q1 == "c", "Q1: after bias correction m_hat / sqrt(v_hat) = sign(g) on step 1."
assert answer_q2 == "b", "Q2: ReduceLROnPlateau steps with the monitored metric, once per evaluation."
assert answer_q3 == "b", "Q3: momentum amplifies the rotation of the game; DCGAN lowered beta1 to 0.5."
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# - Adam divides a smoothed gradient $\hat m$ by its typical size $\sqrt{\hat v}$: every
#   weight moves by about $\eta$, whatever the scale of its gradient.
# - In a game, momentum amplifies the rotation around the equilibrium: GANs use
#   $\beta_1 = 0.5$ (DCGAN) or 0 (WGAN-GP), and a clipped WGAN critic uses RMSprop.
# - AdamW decays every weight by the same factor; Adam with L2 lets the gradient scale
#   decide, which is rarely what you want.
# - Warmup protects the first steps; cosine decay and plateau schedules lower the rate
#   when the noise of the steps, not the distance to the minimum, limits the loss.
# - `genlab.optim`: `make_optimizer(params, preset)`, `warmup_cosine`, `linear_warmup`,
#   `plateau`, `trace_lr`. Next: **05 · Stabilization**.
