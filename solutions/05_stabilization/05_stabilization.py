# %% [markdown]
# # 05 · Stabilization: clipping, spectral norm, label smoothing, TTUR, mixed precision
#
# Generative models fail in loud ways: a loss that turns into `nan`, a discriminator that
# wins so completely that the generator stops learning, a run that is fine in float32
# and silently broken in float16. This chapter collects the standard remedies, shows
# what each one changes, and measures it.
#
# **What you will learn**
# - why gradients explode in deep networks and how **gradient-norm clipping** tames them;
# - how **spectral normalization** bounds a discriminator's Lipschitz constant, and how a
#   **power iteration** finds the largest singular value it divides by;
# - what **one-sided label smoothing** does to an over-confident discriminator;
# - the **two time-scale update rule** (TTUR): different learning rates for D and G;
# - **mixed precision**: autocast, why float16 loses small gradients, and how a
#   **gradient scaler** gets them back.
#
# **Prerequisites:** chapter 01 (GAN losses, mode collapse on the ring) and chapter 04
# (Adam). **Run time:** about 15 s on a 2-core CPU, a few seconds on a GPU.

# %% [markdown]
# ## Setup

# %%
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

import genlab
from genlab import stabilize
from genlab.viz import stabilize as viz_stabilize

device = genlab.get_device()
genlab.seed_everything(0)
torch.set_num_threads(1)  # the models here are tiny: one CPU thread is fastest
print(f"genlab {genlab.__version__} on {device}")

# %% [markdown]
# ## 1. Exploding gradients and gradient clipping
#
# Backpropagation multiplies one Jacobian per layer. If each layer stretches vectors by a
# factor a bit above 1, the gradient of a depth-$L$ network grows like that factor to the
# power $L$: with 12 layers and a factor of 1.2 per layer, about 9 times; after a few
# bad steps the weights themselves grow and the factor compounds. One huge step throws
# the weights somewhere the loss is astronomically large, and the next step gives `inf`
# and then `nan`.
#
# **Gradient-norm clipping** (Pascanu et al. 2013) looks at all gradients $g$ of a network
# as one long vector. If its norm exceeds a threshold $c$, it rescales:
#
# $$ g \leftarrow g \cdot \min\!\left(1, \frac{c}{\lVert g \rVert}\right). $$
#
# The direction is unchanged; only the step length is capped. `genlab.stabilize.clip_gradients`
# wraps `torch.nn.utils.clip_grad_norm_` and returns the norm *before* clipping, so that we
# can log it. Here is a 12-layer ReLU network, initialized 20% too large per layer, fitting
# a 1-D curve with plain SGD.

# %%
def deep_net(depth=12, width=32, gain=1.2, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i in range(depth):
        linear = nn.Linear(width if i else 8, width)
        nn.init.normal_(linear.weight, std=gain * math.sqrt(2 / linear.in_features))
        layers += [linear, nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 1)).to(device)

X = torch.randn(512, 8, generator=torch.Generator().manual_seed(0)).to(device)
y = torch.sin(2 * X[:, :1])

# %% [markdown]
# The loop is written out: forward, backward, measure (and maybe clip), step. With
# `max_norm=math.inf`, `clip_gradients` only measures.

# %%
def fit(max_norm, n_steps=100, lr=0.01):
    net = deep_net()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    norms, losses = [], []
    for _ in range(n_steps):
        loss = nn.functional.mse_loss(net(X), y)
        opt.zero_grad()
        loss.backward()
        norms.append(stabilize.clip_gradients(net.parameters(), max_norm))
        losses.append(loss.item())
        opt.step()
    return norms, losses

n_fit = genlab.budget(100, 5)
plain_norms, plain_losses = fit(math.inf, n_fit)
clip_norms, clip_losses = fit(1.0, n_fit)

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
viz_stabilize.plot_norm_traces({"no clipping": plain_norms, "clipped": clip_norms},
                                      max_norm=1.0, ax=axes[0], title="gradient norm")
axes[1].plot(plain_losses, label="no clipping")
axes[1].plot(clip_losses, label="clipped at 1.0")
axes[1].set(yscale="log", xlabel="step", title="training loss")
axes[1].legend(fontsize=8);
print(f"last loss: no clipping {plain_losses[-1]:.3g}, clipped {clip_losses[-1]:.3g}")

# %% [markdown]
# Without clipping, the first step (gradient norm in the hundreds) throws the network so
# far that the loss overflows: the trace stops where it becomes `nan`. With clipping, every
# step has length at most `lr * 1.0` and the loss comes down steadily. The trace on the
# left is what you should log in any real run. Here the norms sit far above the threshold
# at every step, which means clipping is doing the work of a smaller learning rate (every
# step has the same length); in a healthy run they stay mostly below it, and clipping only
# catches the rare spikes, which is what it is for.
#
# ### Exercise 1: clip by total norm, by hand
#
# Write `clip_by_total_norm(parameters, max_norm)`. It takes a list of tensors (some of
# which may have `.grad` equal to `None`: skip those), computes the **total** L2 norm
# $\lVert g \rVert = \sqrt{\sum_i \lVert g_i \rVert^2}$ of all gradients, multiplies every
# gradient **in place** by $\min\left(1, \frac{c}{\lVert g\rVert + 10^{-6}}\right)$ (the small
# constant is torch's, to avoid dividing by zero) and returns the norm before clipping as a
# Python float. Don't call `torch.nn.utils.clip_grad_norm_`: the hidden tests compare your
# result with it.

# %% solution id=clip_by_total_norm
def clip_by_total_norm(parameters, max_norm):
    """Clip the gradients of ``parameters`` to total L2 norm ``max_norm``; return the old norm."""
    ### BEGIN SOLUTION
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    total = torch.sqrt(sum((g.detach().double() ** 2).sum() for g in grads))
    factor = min(1.0, max_norm / (float(total) + 1e-6))
    for g in grads:
        g.mul_(factor)
    return float(total)
    ### END SOLUTION

# %% tests id=test_clip_by_total_norm points=2
w = torch.nn.Parameter(torch.zeros(2))
w.grad = torch.tensor([3.0, 4.0])  # norm 5
assert abs(clip_by_total_norm([w], 1.0) - 5.0) < 1e-5, "return the norm before clipping"
assert torch.allclose(w.grad, torch.tensor([0.6, 0.8]), atol=1e-5), w.grad
### BEGIN HIDDEN TESTS
genlab.grading.check_here("05_stabilization", "test_clip_by_total_norm")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Spectral normalization
#
# A discriminator that can change its output arbitrarily fast between nearby points hands
# the generator steep, erratic gradients. The **Lipschitz constant** $K$ of $D$ bounds that
# speed: $|D(x) - D(x')| \le K \lVert x - x' \rVert$. For a linear layer $x \mapsto Wx$, the
# best $K$ is the largest singular value $\sigma(W)$; for a stack of linear layers and
# 1-Lipschitz activations (ReLU, LeakyReLU), the product of the layers' $\sigma$ bounds
# the whole network.
#
# **Spectral normalization** (Miyato et al. 2018) divides each weight by its largest
# singular value, $W / \sigma(W)$, so every layer, and the network, is 1-Lipschitz. An exact
# SVD per step would be slow; instead a **power iteration** keeps a vector $u$ between steps
# and refines it once per step:
#
# $$ v \leftarrow \frac{W^\top u}{\lVert W^\top u\rVert},\qquad
#    u \leftarrow \frac{W v}{\lVert W v\rVert},\qquad \sigma \approx \lVert W v \rVert. $$
#
# Repeating it converges to the top singular vectors because each round multiplies by
# $W^\top W$, which amplifies the top direction by $\sigma_1^2$ and the next by only
# $\sigma_2^2$. `genlab.stabilize.spectral_norm_estimate` runs it from a fixed start; let us
# watch it converge to `torch.linalg.matrix_norm(W, 2)`.

# %%
W = torch.randn(64, 32, generator=torch.Generator().manual_seed(1))
exact = torch.linalg.matrix_norm(W, 2).item()
iters = [0, 1, 2, 3, 5, 10, 20, 40]
estimates = [stabilize.spectral_norm_estimate(W, n).item() for n in iters]
plt.figure(figsize=(4, 2.6))
plt.plot(iters, estimates, "o-", label="power iteration")
plt.axhline(exact, color="tab:red", ls=":", label="exact (SVD)")
plt.xlabel("iterations"); plt.ylabel("sigma estimate"); plt.legend(fontsize=8);

# %% [markdown]
# A few iterations already land close, and the estimate never exceeds the true value.
# Inside training, torch's `spectral_norm` does **one** iteration per forward pass and keeps
# $u$, so it tracks $\sigma$ as the weights move slowly.
#
# ### Exercise 2: the top singular value by power iteration
#
# Write `top_singular_value(weight, n_iters)`. Reshape `weight` to a matrix
# `(weight.shape[0], -1)` (this is how conv kernels are treated), start from
# $v = \mathbf{1} / \sqrt{n}$ (all ones, unit length; $n$ the number of columns; create it
# with `weight`'s dtype and device), repeat
# `n_iters` times: $u = Wv / \lVert Wv\rVert$, then $v = W^\top u / \lVert W^\top u \rVert$;
# return $\lVert W v\rVert$ as a 0-d tensor. (`n_iters=0` returns
# $\lVert W \mathbf{1}\rVert / \sqrt n$.)
# Don't use an SVD: the hidden tests check the value after exactly one iteration.

# %% solution id=top_singular_value
def top_singular_value(weight, n_iters=20):
    """Largest singular value of ``weight`` (reshaped to 2-D) after ``n_iters`` power steps."""
    ### BEGIN SOLUTION
    w = weight.reshape(weight.shape[0], -1)
    v = torch.ones(w.shape[1], dtype=w.dtype, device=w.device)
    v = v / v.norm()
    for _ in range(n_iters):
        u = w @ v
        u = u / u.norm()
        v = w.T @ u
        v = v / v.norm()
    return (w @ v).norm()
    ### END SOLUTION

# %% tests id=test_top_singular_value points=3
_d = torch.diag(torch.tensor([3.0, 1.0, 0.5]))
assert abs(top_singular_value(_d, 30).item() - 3.0) < 1e-3, top_singular_value(_d, 30)
_w = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
assert abs(top_singular_value(_w, 100).item() - torch.linalg.matrix_norm(_w, 2).item()) < 1e-3
### BEGIN HIDDEN TESTS
genlab.grading.check_here("05_stabilization", "test_top_singular_value")
### END HIDDEN TESTS

# %% [markdown]
# ### Spectral norm on the ring GAN's discriminator
#
# Now the real thing: `stabilize.apply_spectral_norm` puts every linear layer of a module
# under `torch.nn.utils.parametrizations.spectral_norm`. We train the 2-D GAN of chapter 01
# on the 8-mode ring twice with the same seed and the TTUR ratio of section 4 (Adam betas
# (0, 0.9), discriminator 8e-4, generator 2e-4: the published 4e-4 and 1e-4, both doubled
# because our run is short), once plain and once with
# spectral norm on D, and compare the **Lipschitz bound** (product of the layers' $\sigma$),
# the largest gradient $\lVert \nabla_x D \rVert$ we actually find on the data, and the
# modes covered.

# %%
from genlab.train.gan import evaluate_modes, train_gan_2d

gan_steps = genlab.budget(800, 20)
ttur = dict(lr_g=2 * stabilize.TTUR_DEFAULTS["lr_g"], lr_d=2 * stabilize.TTUR_DEFAULTS["lr_d"],
            betas=stabilize.TTUR_DEFAULTS["betas"])
gan_kw = dict(steps=gan_steps, hidden=64, batch_size=128, device=device, seed=0)
run_ttur = train_gan_2d("ring", "nonsaturating", **gan_kw, **ttur)
run_sn = train_gan_2d("ring", "nonsaturating", **gan_kw, **ttur, spectral_norm=True)

# %%
ring_points = genlab.data.sample_ring(1000).to(device)
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
for ax, (name, run) in zip(axes, [("plain D", run_ttur), ("spectral norm D", run_sn)]):
    coverage, samples = evaluate_modes(run.generator, "ring")
    bound = stabilize.lipschitz_bound(run.discriminator)
    measured = stabilize.empirical_lipschitz(run.discriminator, ring_points)
    print(f"{name:16s} Lipschitz bound {bound:6.1f}   max |grad D| on data {measured:5.2f}"
          f"   modes {coverage.modes_covered}/8   high quality {coverage.high_quality:.1%}")
    genlab.viz.scatter_2d(samples, run.centers, ax=ax, lim=1.5,
                          title=f"{name}: {coverage.modes_covered}/8 modes")

# %% [markdown]
# The plain discriminator's bound has grown far above 1 during training (it is only an
# upper bound, but the measured gradients on the data are steep too); with spectral norm
# the bound stays at 1, and so does every gradient the generator can receive through D.
# The scatter plots show what that bought in our run: the smoother discriminator led the
# generator around the whole ring, while the plain one's generator folded it into a loop
# that skips modes. With other seeds or budgets the gap in modes can shrink or flip (try
# `seed=1`); the guarantee that never varies is the bound. That is why spectral norm is a
# default for the discriminators of SN-GAN, SAGAN and BigGAN: it does not win every run,
# but it removes one way of failing.

# %% [markdown]
# ## 3. Label smoothing
#
# A discriminator trained with binary cross-entropy is rewarded for pushing its logit on
# real data towards $+\infty$: the loss $-\log \sigma(\ell)$ keeps falling as $\ell$ grows.
# An over-confident $D$ grows large weights, and the generator gets large, erratic gradients
# through it. **One-sided label smoothing** (Salimans et al. 2016) uses the target $0.9$
# instead of $1$ for real samples:
#
# $$ \mathcal{L}_D = -\,\mathbb{E}_{x}\big[0.9 \log \sigma(D(x)) + 0.1 \log(1 - \sigma(D(x)))\big]
#    - \mathbb{E}_{z}\big[\log(1 - \sigma(D(G(z))))\big]. $$
#
# Its gradient on a real logit is $\sigma(\ell) - 0.9$: zero at $\ell^* = \log 9 \approx 2.2$
# and *positive* beyond, so $D$ is pulled back instead of pushed on. Only the real side is
# smoothed: smoothing the fake targets too would reward $D$ for giving fakes probability
# 0.1 wherever they are, even where no data lie, which weakens the push that moves fakes
# towards the data.
#
# `genlab.stabilize.smoothed_targets` builds targets for any D loss that takes them:

# %%
logits = torch.tensor([2.0, -1.0, 0.5])
print("real targets:", stabilize.smoothed_targets(logits, real=True))
print("fake targets:", stabilize.smoothed_targets(logits, real=False))
print("two-sided fake targets:", stabilize.smoothed_targets(logits, False, two_sided=True))

# %% [markdown]
# The widget shows the real-sample loss and its gradient for a smoothing you choose, and the
# outputs of a small discriminator trained to tell the ring from a blob of fakes at its
# centre, once without and once with smoothing. Move the slider (0 is no smoothing).

# %%
from genlab.widgets import label_smoothing

label_smoothing.build(smoothing=0.1)

# %% [markdown]
# Without smoothing the trained $D$ puts real points close to probability 1, and the
# histogram keeps creeping there the longer it trains; with smoothing they stay near the
# target. What does that do to the generator? The signal it receives is the gradient of its
# loss $-\log\sigma(D(x))$ with respect to a fake point $x$:

# %%
plain_d = label_smoothing.train_discriminator(0.0, n_steps=genlab.budget(300, 20))
smooth_d = label_smoothing.train_discriminator(0.1, n_steps=genlab.budget(300, 20))
fakes = label_smoothing.sample_fakes(1000, generator=torch.Generator().manual_seed(5))
for name, result in [("no smoothing", plain_d), ("smoothing 0.1", smooth_d)]:
    grads = label_smoothing.generator_gradient_norms(result["model"], fakes)
    print(f"{name:14s} real logit {result['real_logits'].mean():5.2f}   "
          f"G's gradient norm: mean {grads.mean():6.2f}, max {grads.max():6.2f}")

# %% [markdown]
# The smoothed $D$ keeps smaller logits and hands the generator smaller, calmer gradients;
# the plain one keeps sharpening, which is how an over-confident discriminator turns into
# exploding generator updates over a long run.
#
# ### Exercise 3: the one-sided smoothed D loss
#
# Write `d_loss_one_sided(real_logits, fake_logits, smoothing=0.1)`: the mean binary
# cross-entropy of `real_logits` against the target `1 - smoothing` plus the mean binary
# cross-entropy of `fake_logits` against 0 (the formula above, with $0.9 = 1 - $ `smoothing`).
# Work with logits, not probabilities: `torch.nn.functional.binary_cross_entropy_with_logits`
# or `logsigmoid` stay finite for logits of $\pm 100$. Don't call genlab's losses.

# %% solution id=d_loss_one_sided
def d_loss_one_sided(real_logits, fake_logits, smoothing=0.1):
    """One-sided label-smoothed discriminator loss (a scalar)."""
    ### BEGIN SOLUTION
    bce = nn.functional.binary_cross_entropy_with_logits
    real_loss = bce(real_logits, torch.full_like(real_logits, 1.0 - smoothing))
    fake_loss = bce(fake_logits, torch.zeros_like(fake_logits))
    return real_loss + fake_loss
    ### END SOLUTION

# %% tests id=test_d_loss_one_sided points=2
_zero = torch.zeros(4)
assert abs(d_loss_one_sided(_zero, _zero).item() - 2 * math.log(2)) < 1e-5
assert torch.isfinite(d_loss_one_sided(torch.tensor([100.0]), torch.tensor([-100.0])))
### BEGIN HIDDEN TESTS
genlab.grading.check_here("05_stabilization", "test_d_loss_one_sided")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. TTUR: two time-scale update rule
#
# Heusel et al. (2017) proved that GAN training converges to a local Nash equilibrium when
# the discriminator learns on a faster time scale than the generator, so that G always
# faces a nearly optimal D. In practice (SAGAN, BigGAN) this means separate learning rates,
# D's four times G's, with Adam's $\beta_1 = 0$ (momentum would make D chase where G *was*).
# `stabilize.TTUR_DEFAULTS` holds these numbers; `stabilize.ttur_optimizers(G, D)` builds
# the two Adams, and the GAN loop takes `lr_g`/`lr_d` directly.

# %%
print(stabilize.TTUR_DEFAULTS)
run_equal = train_gan_2d("ring", "nonsaturating", **gan_kw, lr_g=2e-4, lr_d=2e-4,
                         betas=stabilize.TTUR_DEFAULTS["betas"])

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3))
for ax, (name, run) in zip(axes[:2], [("equal rates 2e-4", run_equal), ("TTUR", run_ttur)]):
    coverage, samples = evaluate_modes(run.generator, "ring")
    genlab.viz.scatter_2d(samples, run.centers, ax=ax, lim=1.5,
                          title=f"{name}: {coverage.modes_covered}/8 modes")
for name, run in [("equal", run_equal), ("TTUR", run_ttur)]:
    axes[2].plot(run.history.steps["d_loss"], run.history["d_loss"], lw=0.8, label=f"{name} D")
axes[2].set(xlabel="step", title="D loss"); axes[2].legend(fontsize=8);

# %% [markdown]
# With equal rates the two networks chase each other: D's loss swings up and down as the
# generator jumps from one region to another and D relearns, and the run can end with the
# generator parked in one region, away from the modes. With D four times faster, D's loss
# drops at once (D wins), then rises and settles as the generator catches up; D always has
# a fair picture of where the data are, and the generator is pulled onto the ring. Raising
# *both* rates would speed D up too, but it makes the generator's steps larger as well;
# TTUR speeds up only the player that has to track the other.

# %% [markdown]
# ## 5. Mixed precision
#
# Modern GPUs multiply 16-bit numbers several times faster than 32-bit ones, and 16-bit
# activations take half the memory. **Automatic mixed precision** (Micikevicius et al. 2018)
# runs the forward pass under `torch.autocast`: matrix products and convolutions in 16 bits,
# reductions and losses in 32, while the *master weights* and the optimizer stay in 32 bits.
# There are two 16-bit formats:

# %%
for dtype in (torch.float32, torch.float16, torch.bfloat16):
    info = torch.finfo(dtype)
    print(f"{str(dtype):15s} max {info.max:9.3g}   smallest normal {info.tiny:9.3g}"
          f"   precision {info.eps:8.2g}")

# %% [markdown]
# **bfloat16** keeps float32's exponent range (same max, same tiny) with fewer mantissa
# bits: coarse but hard to overflow or underflow. **float16** is more precise but its range
# is narrow: anything below about $6\times10^{-8}$ (its smallest subnormal) becomes 0, and
# gradients of deep networks are often that small. Let us draw gradients spread over many
# orders of magnitude and count how many survive a trip through float16, when the loss (and
# so every gradient) is first multiplied by a **loss scale** $S$ and divided back in float32.

# %%
exponents = torch.empty(100_000).uniform_(-10, -1, generator=torch.Generator().manual_seed(0))
grads = 10.0 ** exponents
scales = [2.0 ** k for k in (0, 4, 8, 12, 16, 20, 24)]
lost = [(stabilize.fp16_roundtrip(grads, s) == 0).float().mean().item() for s in scales]
overflow = [torch.isinf(stabilize.fp16_roundtrip(grads, s)).float().mean().item() for s in scales]
plt.figure(figsize=(4.5, 2.8))
plt.plot([math.log2(s) for s in scales], lost, "o-", label="flushed to 0")
plt.plot([math.log2(s) for s in scales], overflow, "s-", label="overflow to inf")
plt.xlabel("log2(loss scale)"); plt.ylabel("share of gradients"); plt.legend(fontsize=8);

# %% [markdown]
# With no scaling, every gradient below $6\times10^{-8}$ (about a third of these) is lost. A
# scale of $2^{16}$ shifts them into float16's range; too large a scale pushes the biggest
# gradients past 65504 into `inf`. Since the right scale changes during training, a
# **dynamic gradient scaler** (`torch.amp.GradScaler`) searches for it: it multiplies the
# loss by $S$, divides the gradients by $S$ before the optimizer sees them, and
#
# - if any gradient is `inf`/`nan`, **skips** the step and halves $S$;
# - after `growth_interval` (2000) clean steps in a row, doubles $S$.
#
# We can watch that on the CPU by faking overflows with a gradient hook:

# %%
p = nn.Parameter(torch.ones(3))
opt = torch.optim.SGD([p], lr=0.1)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16, growth_interval=3)
overflow_at = {2, 3, 7}
step = 0
p.register_hook(lambda g: torch.full_like(g, math.inf) if step in overflow_at else g)
scales_seen = []
for step in range(10):
    opt.zero_grad()
    scaler.scale(p.sum()).backward()
    scaler.step(opt)
    scaler.update()
    scales_seen.append(int(math.log2(scaler.get_scale())))
print("log2(scale) after each step:", scales_seen, " p =", p.data)

# %% [markdown]
# Each overflow halves the scale (and that step is skipped: `p` moved only on clean steps);
# three clean steps in a row double it. Note the order in a real loop, which
# `stabilize.scaled_step` follows: `scale(loss).backward()`, `unscale_`, **then** clip (so
# the threshold is in true units), then `step` and `update`.
#
# ### Exercise 4: one loss-scaling step
#
# Write `loss_scale_step(scaled_grads, scale, growth_tracker, growth_factor=2.0,
# backoff_factor=0.5, growth_interval=2000)`, which does what the scaler does after a
# backward pass on the scaled loss. It returns a tuple
# `(grads, new_scale, new_growth_tracker)`:
# - if any tensor of `scaled_grads` holds an `inf` or `nan`: `grads` is `None` (skip the
#   step), the scale is multiplied by `backoff_factor`, and the tracker restarts at 0;
# - otherwise `grads` is the list of gradients divided by `scale`, the tracker grows by 1,
#   and if it reaches `growth_interval` the scale is multiplied by `growth_factor` and the
#   tracker restarts at 0.

# %% solution id=loss_scale_step
def loss_scale_step(scaled_grads, scale, growth_tracker, growth_factor=2.0,
                    backoff_factor=0.5, growth_interval=2000):
    """Unscale gradients and update a dynamic loss scale; see the text."""
    ### BEGIN SOLUTION
    if any(not torch.isfinite(g).all() for g in scaled_grads):
        return None, scale * backoff_factor, 0
    grads = [g / scale for g in scaled_grads]
    growth_tracker += 1
    if growth_tracker == growth_interval:
        return grads, scale * growth_factor, 0
    return grads, scale, growth_tracker
    ### END SOLUTION

# %% tests id=test_loss_scale_step points=3
_g, _s, _t = loss_scale_step([torch.tensor([8.0, 16.0])], 8.0, 0)
assert torch.allclose(_g[0], torch.tensor([1.0, 2.0])) and (_s, _t) == (8.0, 1), (_g, _s, _t)
_g, _s, _t = loss_scale_step([torch.tensor([1.0]), torch.tensor([math.inf])], 8.0, 5)
assert _g is None and (_s, _t) == (4.0, 0), "an overflow skips the step and halves the scale"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("05_stabilization", "test_loss_scale_step")
### END HIDDEN TESTS

# %% [markdown]
# ### Speed and memory on the device at hand
#
# `stabilize.mixed_precision(amp, device)` turns one `amp=` option into the right recipe:
# float16 with a gradient scaler on a CUDA GPU, bfloat16 (no scaler needed) on a CPU. The
# GAN loop takes the same option: `GANConfig(amp=True)`. Let us time a training step of
# a small convolutional classifier on a batch of digit-sized images in float32 and under
# autocast, and count the bytes of activations autograd keeps for the backward pass.

# %%
mp = stabilize.mixed_precision(True, device)
print("recipe:", mp)
torch.manual_seed(0)
images = torch.randn(256, 1, 8, 8, device=device)  # digit-sized inputs; content is irrelevant
labels = torch.randint(0, 10, (256,), device=device)
convnet = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(64 * 64, 10)).to(device)

# %%
import time

def train_step(recipe, scaler, opt):
    opt.zero_grad()
    with recipe.autocast():
        loss = nn.functional.cross_entropy(convnet(images).float(), labels)
    stabilize.scaled_step(loss, opt, scaler)

def time_steps(recipe, n_steps):
    opt, scaler = torch.optim.SGD(convnet.parameters(), lr=1e-3), recipe.make_scaler()
    train_step(recipe, scaler, opt)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n_steps):
        train_step(recipe, scaler, opt)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / n_steps * 1000

# %%
n_timed = genlab.budget(10, 2)
fp32 = stabilize.mixed_precision(False, device)
for recipe in (fp32, mp):
    ms = time_steps(recipe, n_timed)
    def forward():
        with recipe.autocast():
            convnet(images).float().sum()
    mb = stabilize.activation_bytes(forward) / 2**20
    print(f"{str(recipe):32s} {ms:7.1f} ms per step   {mb:5.1f} MB of saved activations")

# %% [markdown]
# The saved activations shrink by about half under autocast on every device. Speed is
# another story: on a GPU with tensor cores, 16-bit matrix products are several times
# faster, and `benchmarks/amp.py` measures the gain on the course's U-Net and GAN. On a CPU,
# bfloat16 arithmetic is only fast on recent chips with special instructions
# (AVX-512 BF16, AMX); elsewhere the casts cost more than they save, and the step may even
# be slower. Tiny models gain nothing anywhere: the casts cost as much as the products they
# speed up. On a GPU, switch AMP on for anything big; on a CPU, measure first, as here.

# %% [markdown]
# ## Quiz
#
# **Q1.** Why do GAN practitioners smooth only the *real* labels (0.9) and keep the fake
# labels at 0?
#
# - a) smoothing both would make the loss non-differentiable
# - b) smoothing fake labels rewards D for giving fakes some probability even where there is
#   no data, which weakens the push that moves fakes towards the data
# - c) fake labels are already smoothed by the generator's noise
# - d) it halves the cost of computing the loss
#
# **Q2.** Why does bfloat16 autocast need no gradient scaler while float16 does?
#
# - a) bfloat16 has more mantissa bits than float16
# - b) bfloat16 gradients are computed in float32
# - c) bfloat16 has float32's exponent range, so small gradients do not underflow to 0
# - d) the scaler only works on GPUs
#
# **Q3.** In a loop with a `GradScaler` and gradient clipping, where does the clipping go?
#
# - a) before `scaler.scale(loss).backward()`
# - b) after `scaler.unscale_(optimizer)` and before `scaler.step(optimizer)`
# - c) after `scaler.update()`
# - d) anywhere: clipping and scaling commute
#
# **Q4.** With the two time-scale update rule as SAGAN uses it (Adam, betas (0, 0.9)),
# which learning rates do G and D get, and why?
#
# - a) G 4e-4, D 1e-4: the generator has the harder task, so it moves faster
# - b) G 1e-4, D 4e-4: D moves faster, so it stays close to its best response to the
#   current G, the condition of the TTUR convergence result
# - c) both 2e-4: TTUR only changes Adam's betas
# - d) G 1e-4, D 4e-4, because D has more parameters than G

# %% solution id=quiz_answers
answer_q1 = None  # "a", "b", "c" or "d"
answer_q2 = None
answer_q3 = None
answer_q4 = None
### BEGIN SOLUTION
answer_q1 = "b"
answer_q2 = "c"
answer_q3 = "b"
answer_q4 = "b"
### END SOLUTION

# %%
genlab.quiz.check_all("05_stabilization", q1=answer_q1, q2=answer_q2, q3=answer_q3, q4=answer_q4);

# %% tests id=test_quiz points=4
genlab.quiz.assert_letters(answer_q1=answer_q1, answer_q2=answer_q2, answer_q3=answer_q3,
                           answer_q4=answer_q4)
### BEGIN HIDDEN TESTS
assert answer_q1 == "b", "Q1: smoothed fake labels reward D for fakes where there is no data."
assert answer_q2 == "c", "Q2: bfloat16 keeps float32's exponent range."
assert answer_q3 == "b", "Q3: unscale first (true units), then clip, then step."
assert answer_q4 == "b", "Q4: TTUR lets D learn faster (1e-4 for G, 4e-4 for D) so it tracks G."
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# - **Clipping** caps the length of a step, not its direction; log the pre-clip norm
#   (`stabilize.clip_gradients` returns it) to see how often it acts.
# - **Spectral norm** divides each weight by its top singular value, found by a power
#   iteration, and bounds D's Lipschitz constant by 1 (`stabilize.apply_spectral_norm`).
# - **One-sided label smoothing** (real target 0.9) stops D's real logits at $\log 9$ and
#   keeps the generator's gradients calm (`stabilize.smoothed_targets`).
# - **TTUR**: D learns faster than G (4e-4 vs 1e-4, Adam betas (0, 0.9)).
# - **Mixed precision**: autocast runs products in 16 bits; float16 needs a gradient scaler
#   (unscale, clip, step, update), bfloat16 does not. One option selects it:
#   `stabilize.mixed_precision(amp, device)`, or `amp=True` in the training loops.
# - Next: **06 · Monitoring**, where G's and D's losses, FID and IS tell you whether any of
#   this worked.
