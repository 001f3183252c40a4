# %% [markdown]
# # 02 · The VAE and its evidence lower bound
#
# A variational auto-encoder (VAE) is trained by maximising a lower bound on the
# log-likelihood of the data, the **ELBO**. This chapter builds the bound from scratch,
# trains a small VAE on handwritten digits, and then takes the bound apart: what each of
# its two terms does, and what goes wrong when one of them wins.
#
# **What you will learn**
# - the exact derivation from $\log p(x)$ to the ELBO, and what the gap is;
# - why sampling must be *reparameterized* before gradients can flow through it;
# - the closed-form KL divergence between a diagonal Gaussian and $\mathcal N(0, I)$;
# - how to read a trained VAE: reconstructions, a 2-D latent map, samples from the prior;
# - **posterior collapse**: with a heavy KL weight ($\beta$) latent dimensions go silent,
#   and **KL annealing** keeps more of them alive.
#
# **Prerequisites:** chapter 00; expectations, Gaussian densities, the chain rule; what an
# auto-encoder is helps. **Run time:** about 25 s on a 2-core CPU (6 small trainings of a
# few seconds each), a few seconds on a GPU.

# %% [markdown]
# ## Setup

# %%
import math

import matplotlib.pyplot as plt
import torch

import genlab
from genlab.viz import vae as viz_vae

device = genlab.get_device()
if device.type == "cpu":
    torch.set_num_threads(1)  # networks this small run no faster on more CPU threads
genlab.seed_everything(0)
vae_losses = genlab.losses.vae  # genlab's reference versions of this chapter's formulas
print(f"genlab {genlab.__version__} on {device}")

# %% [markdown]
# ## Data: binary digits
#
# Our decoder will say, for every pixel, the probability that it is ink: a **Bernoulli**
# likelihood. A Bernoulli variable is 0 or 1, so we binarize the 8x8 digits (grey level
# above the middle: ink). The course keeps images in $[-1, 1]$; the targets of the
# Bernoulli are $t = (x + 1)/2$, so $-1 \mapsto 0$ (background) and $1 \mapsto 1$ (ink).
# With binary targets the Bernoulli term is an exact log-likelihood, and every number
# below is a true bound in **nats per image**. (Grey targets would train too, but the
# number would no longer be a log-likelihood.)

# %%
images, labels = genlab.data.load_digits("train")
test_images, test_labels = genlab.data.load_digits("test")
x_train = vae_losses.binarize(images).to(device)
x_test = vae_losses.binarize(test_images).to(device)
fig, axes = plt.subplots(2, 1, figsize=(5, 1.6))
genlab.viz.image_grid(images[:10], ax=axes[0], title="grey (scikit-learn)")
genlab.viz.image_grid(x_train[:10], ax=axes[1], title="binarized");

# %% [markdown]
# ## The bound, derived exactly
#
# A VAE has a prior $p(z) = \mathcal N(0, I)$ over a latent code $z$, a decoder
# $p_\theta(x \mid z)$ and an encoder $q_\phi(z \mid x) = \mathcal N\big(\mu_\phi(x),
# \operatorname{diag} \sigma^2_\phi(x)\big)$ that guesses which codes could have made $x$.
# The likelihood $p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz$ has no closed form. But
# for any $q$, since $\log p_\theta(x)$ does not depend on $z$,
#
# $$
# \log p_\theta(x)
# = \mathbb E_{q}\Big[\log \frac{p_\theta(x, z)}{p_\theta(z \mid x)}\Big]
# = \underbrace{\mathbb E_{q}\Big[\log \frac{p_\theta(x, z)}{q_\phi(z \mid x)}\Big]}_{\text{ELBO}}
# + \underbrace{\mathbb E_{q}\Big[\log \frac{q_\phi(z \mid x)}{p_\theta(z \mid x)}\Big]}_{
#   \mathrm{KL}(q_\phi(z\mid x)\,\|\,p_\theta(z\mid x)) \;\ge\; 0}.
# $$
#
# The second term is a KL divergence, never negative, so the first is a **lower bound**
# on $\log p_\theta(x)$; the bound is tight when $q$ equals the true posterior. Writing
# $p_\theta(x, z) = p_\theta(x \mid z)\, p(z)$ splits the ELBO into the two terms we train:
#
# $$
# \mathrm{ELBO}(x) = \underbrace{\mathbb E_{q_\phi(z\mid x)}\big[\log p_\theta(x \mid z)\big]}_{
#   \text{reconstruction}}
# - \underbrace{\mathrm{KL}\big(q_\phi(z \mid x)\,\|\,p(z)\big)}_{\text{stay close to the prior}}.
# $$
#
# We *minimise* the negative ELBO. For a Bernoulli decoder with logits $\ell_i$,
# $-\log p_\theta(x\mid z) = \sum_{i=1}^{64} \mathrm{BCE}(\ell_i, t_i)$. A decoder that
# knows nothing says "ink with probability 1/2" for every pixel and pays
# $64 \log 2 \approx 44.4$ nats; an untrained VAE should be close to that.

# %%
genlab.seed_everything(0)
untrained = genlab.models.vae.DigitsVAE(latent_dim=2).to(device)
start = genlab.train.vae.evaluate_vae(untrained, x_test)
print(f"untrained: -ELBO = {start['neg_elbo']:.1f} nats/image "
      f"(recon {start['recon']:.1f} + KL {start['kl']:.2f}); 64 log 2 = {64 * math.log(2):.1f}")

# %% [markdown]
# ## The closed-form KL
#
# Both $q = \mathcal N(\mu, \operatorname{diag}\sigma^2)$ and $p = \mathcal N(0, I)$ factor over
# the $d$ latent dimensions, so the KL is a **sum over dimensions** of one-dimensional KLs,
# each with a closed form (Kingma & Welling 2014, appendix B). With $\log\sigma^2$ as the
# encoder's output (any real number is a valid log-variance):
#
# $$
# \mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,\mathcal N(0, I)\big)
# = \frac12 \sum_{j=1}^{d} \big(\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\big).
# $$
#
# It is 0 exactly when $\mu_j = 0$ and $\sigma_j = 1$ for every $j$: when the code says
# nothing about $x$.
#
# ### Exercise 1: the closed-form KL
#
# Write `kl_standard_normal(mu, logvar)`: inputs of shape `(batch, latent_dim)`, output of
# shape `(batch,)`, one KL per sample, **summed over the latent dimensions**. Do not
# average here.

# %% solution id=kl_standard_normal
def kl_standard_normal(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample: (batch, d) -> (batch,), in nats."""
    ### BEGIN SOLUTION
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)
    ### END SOLUTION

# %% tests id=test_kl_standard_normal points=3
_mu = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
_logvar = torch.tensor([[0.0, 0.0], [0.0, math.log(2.0)]])
_kl = kl_standard_normal(_mu, _logvar)
assert _kl.shape == (2,), f"one value per sample: expected shape (2,), got {tuple(_kl.shape)}"
torch.testing.assert_close(_kl, torch.tensor([0.0, 0.5 + 0.5 * (1 - math.log(2.0))]))
### BEGIN HIDDEN TESTS
genlab.grading.check_here("02_vae_elbo", "test_kl_standard_normal")
### END HIDDEN TESTS

# %% [markdown]
# ## Why the sample must be reparameterized
#
# The reconstruction term is an expectation over $z \sim q_\phi(z\mid x)$, and we need its
# gradient with respect to the encoder's $\phi$. Drawing $z$ with a random number
# generator cuts the graph: a sample carries no derivative with respect to the mean and
# standard deviation it was drawn with. The fix (Kingma & Welling 2014, section 2.4) moves
# the randomness out of the parameters:
#
# $$
# z = \mu + \sigma \odot \varepsilon, \qquad \varepsilon \sim \mathcal N(0, I), \qquad
# \sigma = \exp\big(\tfrac12 \log\sigma^2\big),
# $$
#
# which has the same distribution but is a differentiable function of $\mu$ and $\log
# \sigma^2$: $\partial z/\partial \mu = 1$ and $\partial z / \partial \log\sigma^2 =
# \tfrac12 \sigma \varepsilon$. The older alternative, the score-function (REINFORCE)
# estimator $f(z)\,\nabla_\mu \log q(z)$, is unbiased too but far noisier. Here both
# estimate $\frac{d}{d\mu}\mathbb E[z^2] = 2\mu$ for $z \sim \mathcal N(\mu, 1)$, $\mu = 1$:

# %%
mu = torch.tensor(1.0, requires_grad=True)
print("sample() keeps a gradient:", torch.distributions.Normal(mu, 1.0).sample().requires_grad)
eps = torch.randn(10_000)
z = mu + eps  # reparameterized
pathwise = (2 * z).detach()            # d(z^2)/dmu for each sample
score = (z**2 * (z - mu)).detach()     # f(z) * d log q(z) / dmu
print(f"true 2.00 | pathwise {pathwise.mean():.2f} (std {pathwise.std():.1f}) | "
      f"score function {score.mean():.2f} (std {score.std():.1f})")

# %% [markdown]
# Same answer on average, but the score-function estimate is about three times noisier
# per sample here, and the gap grows with the dimension of $z$.
#
# ### Exercise 2: reparameterize
#
# Write `reparameterize(mu, logvar)`: return $z = \mu + \exp(\tfrac12\log\sigma^2)\odot
# \varepsilon$ with fresh standard normal noise $\varepsilon$ of the same shape as `mu`
# (hint: `torch.randn_like`). Any shape must work, and gradients must reach `mu` and
# `logvar`.

# %% solution id=reparameterize
def reparameterize(mu, logvar):
    """z ~ N(mu, exp(logvar)) as a differentiable function of mu and logvar."""
    ### BEGIN SOLUTION
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    ### END SOLUTION

# %% tests id=test_reparameterize points=3
_z = reparameterize(torch.zeros(4, 2), torch.zeros(4, 2))
assert _z.shape == (4, 2), f"expected shape (4, 2), got {tuple(_z.shape)}"
assert not torch.equal(_z, reparameterize(torch.zeros(4, 2), torch.zeros(4, 2))), \
    "draw fresh noise on every call"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("02_vae_elbo", "test_reparameterize")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: the negative ELBO
#
# Write `elbo_loss(x, logits, mu, logvar, beta=1.0)` for the Bernoulli decoder. `x` holds
# images in $[-1, 1]$ of shape `(batch, 1, 8, 8)`, `logits` the decoder's output of the
# same shape, `mu` and `logvar` the encoder's `(batch, latent_dim)`. Return a tuple
# `(loss, recon, kl)` of three scalars:
#
# - `recon`: $-\log p(x\mid z)$, the binary cross-entropy between `logits` and the targets
#   $t = (x+1)/2$, **summed over the pixels** of an image, then **averaged over the batch**;
#   use `torch.nn.functional.binary_cross_entropy_with_logits`, which stays finite for
#   very confident logits;
# - `kl`: the KL of each sample (summed over latent dimensions), **averaged over the
#   batch** (you may use your `kl_standard_normal`);
# - `loss = recon + beta * kl`.
#
# Why average over the batch but sum inside an image? The sum inside an image is what
# the log-likelihood of that image *is*; the batch average makes the loss independent of
# the batch size. Summing the KL over the batch while averaging the reconstruction is a
# classic bug: it multiplies $\beta$ by the batch size.

# %% solution id=elbo_loss
import torch.nn.functional as F


def elbo_loss(x, logits, mu, logvar, beta=1.0):
    """Negative ELBO of a Bernoulli VAE, averaged over the batch: (loss, recon, kl)."""
    ### BEGIN SOLUTION
    targets = (x + 1) / 2
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    recon = bce.flatten(1).sum(dim=1).mean()
    kl = (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).sum(dim=1).mean()
    return recon + beta * kl, recon, kl
    ### END SOLUTION

# %% tests id=test_elbo_loss points=4
_x = torch.ones(2, 1, 8, 8)
_loss, _recon, _kl = elbo_loss(_x, torch.zeros(2, 1, 8, 8), torch.zeros(2, 3), torch.zeros(2, 3))
assert abs(float(_recon) - 64 * math.log(2)) < 1e-4, \
    f"logits 0 on 64 pixels cost 64 log 2 = 44.36 nats per image, got {float(_recon):.3f}"
assert abs(float(_kl)) < 1e-6 and abs(float(_loss - _recon)) < 1e-6
### BEGIN HIDDEN TESTS
genlab.grading.check_here("02_vae_elbo", "test_elbo_loss")
### END HIDDEN TESTS

# %% [markdown]
# ## Training a VAE with a 2-D latent space
#
# `genlab.models.vae.DigitsVAE` is an MLP encoder to $(\mu, \log\sigma^2)$ and an MLP
# decoder to 64 logits; `genlab.train.vae.train_vae` minimises genlab's `elbo_loss` with
# Adam and records, per step, the loss and both its parts. We start with $d = 2$ so that
# we can look at the latent space.

# %%
n_steps = genlab.budget(1000, 30)
genlab.seed_everything(0)
vae2d = genlab.models.vae.DigitsVAE(latent_dim=2).to(device)
history2d = genlab.train.vae.train_vae(vae2d, x_train, steps=n_steps, lr=3e-3)
result2d = genlab.train.vae.evaluate_vae(vae2d, x_test)
print(f"trained in {history2d.meta['seconds']:.1f} s; test -ELBO {result2d['neg_elbo']:.1f} "
      f"nats/image = recon {result2d['recon']:.1f} + KL {result2d['kl']:.1f}")
genlab.viz.plot_series(history2d, ["neg_elbo", "recon", "kl"], smooth=20,
                       title="training (nats per image)");

# %% [markdown]
# From 44 nats the bound drops quickly. The reconstruction term falls while the KL
# *rises*: the encoder pays a few nats of KL to store information about each image in
# $z$, and that buys more than it costs in reconstruction.
#
# ### Reconstructions next to their inputs
#
# Odd rows: test digits; even rows: the decoder's mean image for $z = \mu(x)$. Two
# numbers cannot store every pixel, so the reconstructions are typical digits of a class
# rather than copies.

# %%
recon = vae2d.reconstruct(x_test[:20])
viz_vae.reconstruction_pairs(x_test[:20], recon, title="inputs / reconstructions");

# %% [markdown]
# ### The latent map
#
# Each test digit placed at its posterior mean $\mu(x)$, coloured by its label (which the
# VAE never saw). Classes form regions; similar-looking digits are neighbours. Next to
# it, the decoder's image at each point of a grid over $[-2.5, 2.5]^2$.

# %%
with torch.no_grad():
    mu_test, _ = vae2d.encode(x_test)
fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
viz_vae.latent_scatter(mu_test, test_labels, ax=axes[0], title="posterior means of test digits")
viz_vae.latent_manifold(vae2d, n=12, ax=axes[1], title="decoded grid of z");

# %% [markdown]
# ### Samples from the prior
#
# A VAE is a generative model: draw $z \sim \mathcal N(0, I)$ and decode. The KL term is
# what makes this work, since it keeps the encoder's codes where the prior puts its mass.

# %%
samples = vae2d.sample(30, generator=torch.Generator().manual_seed(0))
genlab.viz.image_grid(samples, ncols=15, title="decoded samples from N(0, I)");

# %% [markdown]
# ## Taking the bound apart: $\beta$ and posterior collapse
#
# The $\beta$-VAE (Higgins et al. 2017) minimises $\text{recon} + \beta\,\text{KL}$. With
# $\beta > 1$ information in $z$ costs more; at some point a latent dimension is not
# worth its price, the encoder sets $\mu_j(x) = 0$, $\sigma_j(x) = 1$ for every input,
# and that dimension's KL drops to **zero**: it has collapsed onto the prior. When all do,
# the decoder ignores $z$ and draws the same average digit for every code. This is
# **posterior collapse**. We train 8-D VAEs with several $\beta$ and record the KL of each
# dimension on the test set.

# %%
def train_and_score(beta, warmup=0, seed=0):
    genlab.seed_everything(seed)
    vae = genlab.models.vae.DigitsVAE(latent_dim=8).to(device)
    history = genlab.train.vae.train_vae(vae, x_train, steps=n_steps, beta=beta,
                                         kl_warmup_steps=warmup, seed=seed)
    return vae, history, genlab.train.vae.evaluate_vae(vae, x_test)

# %%
betas = [0.5, 1.0, 2.0, 4.0]
sweep = {f"beta={b:g}": train_and_score(b) for b in betas}
for name, (_, _, res) in sweep.items():
    n_active = int((res["kl_per_dim"] > 0.05).sum())
    print(f"{name:9s} -ELBO {res['neg_elbo']:5.1f} = recon {res['recon']:5.1f} "
          f"+ KL {res['kl']:4.1f}   active dimensions: {n_active}/8")

# %%
viz_vae.kl_heatmap({k: r["kl_per_dim"] for k, (_, _, r) in sweep.items()},
                   title="test KL per latent dimension (nats)");

# %% [markdown]
# Read the heat map row by row. With a small $\beta$ every dimension carries
# information. As $\beta$ grows, more columns go dark (KL about 0), and at the largest
# $\beta$ the whole row is dark: the reconstruction term is then that of a decoder with
# no input at all. Note that the *ELBO* (with $\beta = 1$) gets worse as $\beta$ grows:
# $\beta \neq 1$ optimises a different objective. Even at $\beta = 1$ a VAE can leave
# some dimensions unused; the next section shows that part of that is an accident of
# optimisation, not a property of the data.
#
# $\beta$ also hides in the likelihood. A Gaussian decoder with a fixed standard
# deviation $\sigma$ (`elbo_loss(..., likelihood="gaussian", obs_std=sigma)` in genlab)
# pays $\lVert x - \hat x\rVert^2 / (2\sigma^2)$ plus a constant; multiplied by
# $2\sigma^2$, its negative ELBO is the squared error plus $2\sigma^2\,\mathrm{KL}$. A VAE
# trained with a summed squared error is thus a $\beta$-VAE with $\beta = 2\sigma^2$:
# choosing $\sigma$ too large collapses the posterior just like a large $\beta$.
#
# The samples show what collapse looks like:

# %%
fig, axes = plt.subplots(len(sweep), 1, figsize=(5, 0.8 * len(sweep) + 0.4))
gen = torch.Generator()
for ax, (name, (vae, _, _)) in zip(axes, sweep.items()):
    genlab.viz.image_grid(vae.sample(10, generator=gen.manual_seed(0)), ax=ax, title=name)

# %% [markdown]
# ## KL annealing
#
# Early in training the decoder is poor, so information in $z$ helps it little, while
# the KL term charges for it from the first step. Dimensions can collapse before the
# decoder is good enough to use them, and a collapsed dimension gets almost no gradient
# to come back. **KL annealing** (Bowman et al. 2016; Sønderby et al. 2016) ramps the KL
# weight from 0 to $\beta$ over the first steps, so the model first learns to encode,
# then is asked to be economical. We compare $\beta = 1$ with and without a warm-up over
# the first half of training (`kl_weight` in the history shows the ramp).

# %%
annealed = train_and_score(1.0, warmup=n_steps // 2)
plain = sweep["beta=1"]
for name, (_, _, res) in [("no warm-up", plain), ("KL warm-up", annealed)]:
    n_active = int((res["kl_per_dim"] > 0.05).sum())
    print(f"{name:10s} test -ELBO {res['neg_elbo']:5.2f}   active dimensions: {n_active}/8")

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 2.8), sharey=True)
for ax, (name, (_, hist, _)) in zip(axes, [("no warm-up", plain), ("KL warm-up", annealed)]):
    genlab.viz.plot_series(hist, [f"kl_dim{j}" for j in range(8)], smooth=25, ax=ax,
                           title=f"{name}: KL per latent dimension")
    ax.get_legend().remove()

# %% [markdown]
# Each line is one latent dimension's KL on the training batches. Without warm-up, the
# KL term wins at the start: for the first hundred steps or so every dimension sits at
# KL = 0, the decoder learns to draw an average digit, and afterwards only some
# dimensions find their way back; the others get almost no gradient and stay collapsed.
# With the warm-up, every dimension becomes informative while the KL weight is near 0,
# and when the weight reaches 1 most of them (often all) stay on. The result is usually
# more active dimensions and a better test bound; on runs this short the gain is a few
# tenths of a nat and varies with the seed (`benchmarks/vae.py` repeats it over seeds).

# %% [markdown]
# ## Quiz
#
# **Q1.** Which equality is exact for any encoder $q_\phi$?
#
# - a) $\log p(x) = \mathrm{ELBO}(x) + \mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z)\big)$
# - b) $\log p(x) = \mathrm{ELBO}(x) + \mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p_\theta(z\mid x)\big)$
# - c) $\log p(x) = \mathrm{ELBO}(x)$
# - d) $\log p(x) = \mathbb E_q[\log p_\theta(x\mid z)]$
#
# **Q2.** Why does the VAE sample $z$ as $\mu + \sigma\odot\varepsilon$ rather than with
# `Normal(mu, sigma).sample()`?
#
# - a) it is faster to compute
# - b) it makes the KL term available in closed form
# - c) the sample becomes a differentiable function of $\mu$ and $\sigma$, so gradients
#   of the reconstruction term reach the encoder
# - d) it guarantees that $\sigma$ stays positive
#
# **Q3.** A colleague's loss averages the reconstruction over the batch but **sums** the
# KL over the batch. Moving from batch size 16 to 256, what do you expect?
#
# - a) nothing changes, both terms are still the ELBO
# - b) more posterior collapse: the KL weight grows like the batch size, like a larger $\beta$
# - c) sharper samples, because the decoder is trained harder
# - d) the KL term becomes negative

# %% solution id=quiz_answers
answer_q1 = None  # "a", "b", "c" or "d"
answer_q2 = None
answer_q3 = None
### BEGIN SOLUTION
answer_q1 = "b"
answer_q2 = "c"
answer_q3 = "b"
### END SOLUTION

# %%
genlab.quiz.check_all("02_vae_elbo", q1=answer_q1, q2=answer_q2, q3=answer_q3);

# %% tests id=test_quiz points=3
genlab.quiz.assert_letters(answer_q1=answer_q1, answer_q2=answer_q2, answer_q3=answer_q3)
### BEGIN HIDDEN TESTS
assert answer_q1 == "b", "Q1: the gap is the KL from q to the true posterior p(z|x)."
assert answer_q2 == "c", "Q2: reparameterization makes z differentiable in mu and sigma."
assert answer_q3 == "b", "Q3: summing the KL over the batch multiplies beta by the batch size."
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# - $\log p(x) = \mathrm{ELBO} + \mathrm{KL}(q\,\|\,p(z\mid x))$, so the ELBO is a lower bound,
#   tight when the encoder matches the true posterior.
# - ELBO = reconstruction (Bernoulli: BCE with logits summed over pixels) minus
#   $\mathrm{KL}(q\,\|\,\mathcal N(0, I))$, closed form, summed over latent dimensions; both
#   averaged over the batch.
# - Reparameterization, $z = \mu + \sigma\odot\varepsilon$, lets gradients reach the encoder.
# - $\beta > 1$ trades likelihood for a quieter code; too much and latent dimensions
#   collapse to the prior (KL per dimension = 0). KL annealing keeps more of them alive.
# - Next: **03 · Diffusion losses**, where the bound comes back with many latent steps.
