# %% [markdown]
# # 06 · Monitoring: losses tracked apart, FID and IS
#
# A generative model's loss tells you how it does against its current opponent (a GAN)
# or on a denoising task (diffusion), not how good its samples are. This chapter builds
# the instruments that do: the Frechet distance and the inception score, computed with a
# small feature network we train on the digits and ship with the course.
#
# **What you will learn**
# - why the generator and discriminator losses must be logged apart, and why even then
#   they do not tell you whether a GAN is getting better;
# - the Frechet distance between two Gaussians, and how FID turns it into a sample metric;
# - what the inception score rewards and what it cannot see;
# - how to evaluate every N steps and pick the checkpoint to keep;
# - how to read an FID against the real-versus-real floor.
#
# **Prerequisites:** chapter 01 (GAN losses); chapter 03 (diffusion) for the last
# section. Means and covariances of random vectors.
# **Run time:** about 30 s on a 2-core CPU, a few seconds while graded.

# %% [markdown]
# ## Setup

# %%
import torch

import genlab
from genlab.metrics import fid as fid_lib
from genlab.metrics import inception_score as is_lib
from genlab.train import hooks

device = genlab.get_device()
genlab.seed_everything(0)
# The networks here are tiny: on a CPU, extra threads cost more than they save.
torch.set_num_threads(1)
print(f"genlab {genlab.__version__} on {device}")

# %% [markdown]
# ## 1. A feature network for the digits
#
# FID and IS were defined with Inception v3, a large ImageNet classifier. Our images are
# 8x8 digits, so the course trains its own judge: a conv net of about 10,000 parameters
# that classifies the digits test split at over 99% accuracy. It was trained once by
# `python -m genlab.pretrained build digits-features` and ships as a 40 KB
# `safetensors` file whose SHA-256 is checked every time it loads; a changed file would
# silently shift every number in this chapter, so it refuses to load instead.
#
# **Digits-FID is not Inception FID.** Different network, 32 features instead of 2,048,
# different images: compare our numbers only with each other.

# %%
from genlab.pretrained import digits_features

net = digits_features.load_digits_features()
entry = digits_features.read_registry()["digits-features"]
sha256 = entry["files"][entry["file"]]  # the registry records every file's hash
print(f"test accuracy {digits_features.test_accuracy(net):.3f}, "
      f"{sum(p.numel() for p in net.parameters()):,} parameters, sha256 {sha256[:12]}...")

# %% [markdown]
# ## 2. Two losses, two series, and what they do not say
#
# A GAN has two networks and two losses. Summing them or plotting only one hides how the
# game goes: the discriminator's loss `d_loss` falls when it wins, the generator's
# `g_loss` falls when it wins. Our loop logs them as separate series in a `History`, and
# an `EvalHook` adds the digits-FID and IS of 500 samples every 75 steps, beside them. A
# `genlab.viz.LiveLossPlot` in the same callback list draws the three series in panels
# of their own, each on its own scale, while the run trains.

# %%
n_steps = genlab.budget(600, 40)
every = genlab.budget(75, 20)
G = genlab.models.dcgan_digits.DigitsGenerator()
D = genlab.models.dcgan_digits.DigitsDiscriminator()
live = genlab.viz.LiveLossPlot({"D": ["d_loss"], "G": ["g_loss"], "digits-FID": ["fid"]},
                               every=every, smooth=20)
history = genlab.train.gan_digits.train_gan_digits(
    G, D, n_steps, lr_g=1e-3, lr_d=1e-3, device=device,
    callback=[hooks.EvalHook(every=every, n_samples=500), live])
live.close()
print(f"trained {n_steps} steps in {history.meta['train_seconds']:.1f} CPU s; "
      f"last FID {history.last('fid'):.1f}")

# %% [markdown]
# Left, the losses; right, the FID of the same run. The losses soon wander in a narrow
# band near `d_loss = 2 ln 2 = 1.39` and `g_loss = ln 2 = 0.69`, the values of a
# discriminator that outputs 1/2 everywhere: each network's loss is measured against an
# opponent that improves too, so neither has to go down. The FID falls by more than
# ten times over the same steps. Nothing in the losses tells you the samples got
# better, or when to stop.

# %%
import matplotlib.pyplot as plt

def losses_and_fid(history, title):
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
    genlab.viz.plot_series(history, ["d_loss", "g_loss"], ax=axes[0], smooth=20, title=title)
    genlab.viz.plot_series(history, ["fid"], ax=axes[1], logy=True, title="digits-FID (log)")
    fig.tight_layout()

losses_and_fid(history, "losses (moving average of 20 steps)")

# %% [markdown]
# ## 3. A run that collapses while its losses look calm
#
# Now the same networks with a discriminator that learns far too slowly
# (`lr_d = 1e-5`) and a generator that learns fast. The discriminator stays near a coin
# toss, so both losses sit exactly at their equilibrium values: a perfect-looking plot.
# But a discriminator that tells nothing apart gives every fake the same push, and the
# generator's samples drift together.

# %%
G_bad = genlab.models.dcgan_digits.DigitsGenerator()
D_bad = genlab.models.dcgan_digits.DigitsDiscriminator()
history_bad = genlab.train.gan_digits.train_gan_digits(
    G_bad, D_bad, genlab.budget(300, 40), lr_g=2e-3, lr_d=1e-5, device=device,
    callback=hooks.EvalHook(every=every, n_samples=500))
losses_and_fid(history_bad, "losses: calm")

# %% [markdown]
# Side by side, over the last 100 steps: the collapsed run's losses are even closer to
# the equilibrium values than the healthy run's, yet its FID is many times worse and its
# inception score near 1 (one kind of image).

# %%
def tail_mean(h, name, k=100):
    return sum(h[name][-k:]) / len(h[name][-k:])

for label, h in [("healthy", history), ("collapsed", history_bad)]:
    print(f"{label:>9}: d_loss {tail_mean(h, 'd_loss'):.2f}  g_loss {tail_mean(h, 'g_loss'):.2f}"
          f"  FID {h.last('fid'):6.1f}  IS {h.last('inception_score'):.2f}")

# %% [markdown]
# The samples say what the losses hide. The bars count which digit our classifier sees
# in 500 samples: a healthy generator spreads over the ten classes, a collapsed one
# piles onto a few.

# %%
def samples_and_classes(G, title):
    images = hooks.generator_sampler(G, G.latent_dim)(500).cpu()
    counts = is_lib.digits_class_probs(images).argmax(1).bincount(minlength=10)
    fig, axes = plt.subplots(1, 2, figsize=(8, 2), gridspec_kw={"width_ratios": [2, 1]})
    genlab.viz.image_grid(images[:20], ax=axes[0], title=title)
    axes[1].bar(range(10), counts.numpy())
    axes[1].set_xticks(range(10))

samples_and_classes(G, f"healthy: FID {history.last('fid'):.0f}")
samples_and_classes(G_bad, f"calm losses: FID {history_bad.last('fid'):.0f}")

# %% [markdown]
# ## 4. The Frechet distance between two Gaussians
#
# FID (Heusel et al., 2017) summarizes the features of real images by their mean
# $\mu_r$ and covariance $\Sigma_r$, the features of generated images by $\mu_g$ and
# $\Sigma_g$, and reports the squared Frechet (2-Wasserstein) distance between the two
# Gaussians:
#
# $$d^2 = \lVert \mu_r - \mu_g \rVert^2
#   + \operatorname{Tr}\left(\Sigma_r + \Sigma_g - 2\,(\Sigma_r \Sigma_g)^{1/2}\right).$$
#
# The first term sees a shift of the average image; the second sees a change of spread.
# A collapsed generator has a small $\Sigma_g$, and the trace term punishes it. For two
# isotropic Gaussians $N(m_1, s_1^2 I)$ and $N(m_2, s_2^2 I)$ in $d$ dimensions,
# $(\Sigma_1\Sigma_2)^{1/2} = s_1 s_2 I$ and the distance is
# $\lVert m_1 - m_2\rVert^2 + d\,(s_1 - s_2)^2$.

# %%
d = 32
closed_form = d * (1.0 - 0.5) ** 2
value = fid_lib.frechet_distance(torch.zeros(d), torch.eye(d), torch.zeros(d), 0.25 * torch.eye(d))
print(f"N(0, I) vs N(0, 0.25 I) in {d} dimensions: {value:.3f} (closed form {closed_form})")

# %% [markdown]
# ### Exercise 1: the Frechet distance
#
# Write `frechet_distance(mu1, sigma1, mu2, sigma2)`: means of shape `(d,)`, symmetric
# positive semi-definite covariances of shape `(d, d)`; return the squared distance as a
# Python float. For the matrix square root, `scipy.linalg.sqrtm` works (take `.real`:
# round-off can leave tiny imaginary parts), or use the symmetric form
# $\operatorname{Tr}\big((\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2})^{1/2}\big)$ with
# `torch.linalg.eigh`. Work in float64.

# %% solution id=frechet_distance
def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (a float)."""
    ### BEGIN SOLUTION
    import scipy.linalg

    mu1, mu2 = mu1.double(), mu2.double()
    sigma1, sigma2 = sigma1.double(), sigma2.double()
    covmean = scipy.linalg.sqrtm((sigma1 @ sigma2).numpy()).real
    value = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * covmean.trace()
    return float(value)
    ### END SOLUTION

# %% tests id=test_frechet_distance points=3
eye = torch.eye(4, dtype=torch.float64)
got = frechet_distance(torch.zeros(4), eye, torch.ones(4), 4 * eye)
assert isinstance(got, float), f"return a Python float, got {type(got).__name__}"
assert abs(got - (4 + 4 * (1 - 2) ** 2)) < 1e-6, f"expected 8.0, got {got}"
assert abs(frechet_distance(torch.zeros(4), eye, torch.zeros(4), eye)) < 1e-6
### BEGIN HIDDEN TESTS
genlab.grading.check_here("06_monitoring", "test_frechet_distance")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. From features to FID, and the floor
#
# FID estimates the two Gaussians from samples, and a covariance estimated from few
# samples is noisy, which inflates the distance. Even two sets of *real* digits are
# not at FID 0. So every FID in this course is read against the **real-versus-real
# floor**: the FID of the 360 test digits against the 1,437 training digits. The plot
# shows the bias: the same real data scores worse with fewer samples. Compare models only
# at the same number of samples.

# %%
floor = fid_lib.real_vs_real_floor()
sizes = [25, 50, 100, 200, 360]
real_curve = [fid_lib.real_vs_real_floor(n) for n in sizes]
fig, ax = plt.subplots(figsize=(4, 2.6))
ax.plot(sizes, real_curve, "o-")
ax.set_xlabel("number of real test images")
ax.set_ylabel("FID vs train split")
ax.set_title(f"the floor: {floor:.2f} at 360 images", fontsize=9);

# %% [markdown]
# ## 6. The inception score: what it rewards, what it misses
#
# The inception score (Salimans et al., 2016) asks the classifier for class
# probabilities $p(y\mid x)$ of each generated image and compares them with their average
# $p(y) = \mathbb{E}_x\,p(y\mid x)$:
#
# $$\mathrm{IS} = \exp\Big(\mathbb{E}_x\,\mathrm{KL}\big(p(y\mid x)\,\Vert\,p(y)\big)\Big).$$
#
# It is high when each image is classified confidently **and** the classes are used
# evenly; it goes from 1 to the number of classes (10 here). It never looks at real
# data. So it misses two things FID sees: images that are confidently "a 3" without
# looking like real threes, and a generator that draws one single image per class
# (IS close to 10, no variety within a class). The demonstration below is such a
# generator: ten copies of the same ten training digits.

# %%
train_images, train_labels = genlab.data.load_digits("train")
one_per_class = torch.stack([train_images[train_labels == k][0] for k in range(10)])
copycat = one_per_class.repeat(50, 1, 1, 1)  # 500 images, 10 distinct ones
test_images, _ = genlab.data.load_digits("test")
for name, images in [("real test digits", test_images), ("ten digits, copied", copycat)]:
    score = is_lib.digits_inception_score(images).mean
    print(f"{name:>20}: IS {score:.2f}   FID {fid_lib.fid('train', images):7.2f}")

# %% [markdown]
# ### Exercise 2: the inception score
#
# Write `inception_score(probs)`: `probs` has shape `(n, classes)`, each row a
# probability vector. Return $\mathrm{IS}$ (one split) as a float. Treat $0 \log 0$ as
# 0 (a confident classifier gives exact zeros): `torch.xlogy` does that.

# %% solution id=inception_score
def inception_score(probs):
    """Inception score of class probabilities probs (n, classes), one split (a float)."""
    ### BEGIN SOLUTION
    probs = probs.double()
    marginal = probs.mean(0, keepdim=True)
    kl = (torch.xlogy(probs, probs) - torch.xlogy(probs, marginal)).sum(1)
    return float(kl.mean().exp())
    ### END SOLUTION

# %% tests id=test_inception_score points=3
got = inception_score(torch.eye(5).repeat(3, 1))
assert isinstance(got, float), f"return a Python float, got {type(got).__name__}"
# 5e-5 = 1e-5 relative: float32 arithmetic (log of the marginal 0.2) may land ulps from 5
assert abs(got - 5.0) < 5e-5, f"confident and balanced over 5 classes: expected 5.0, got {got}"
assert abs(inception_score(torch.full((8, 4), 0.25)) - 1.0) < 1e-6, "unsure classifier: IS = 1"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("06_monitoring", "test_inception_score")
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Evaluate every N steps, keep the best checkpoint
#
# Because the losses do not say when a GAN is at its best, and GANs can get worse
# again, you evaluate periodically and keep the checkpoint with the best FID. The
# `EvalHook` above did the evaluating: `history["fid"]` holds the values and
# `history.steps["fid"]` the steps they were measured at.
#
# ### Exercise 3: pick the best checkpoint
#
# Write `best_checkpoint_step(history)`: the step whose recorded `"fid"` is lowest.
# Skip NaN values (an evaluation of a diverged generator); if two steps tie, return the
# earlier one (cheaper to have trained). Raise `ValueError` if there is no finite FID.

# %% solution id=best_checkpoint_step
def best_checkpoint_step(history):
    """The step (an int) with the lowest finite FID in history; earliest on ties."""
    ### BEGIN SOLUTION
    pairs = [(v, s) for v, s in zip(history["fid"], history.steps["fid"]) if v == v]
    if not pairs:
        raise ValueError("no finite FID recorded")
    lowest = min(v for v, _ in pairs)
    return next(s for v, s in pairs if v == lowest)
    ### END SOLUTION

# %% tests id=test_best_checkpoint_step points=2
_h = genlab.train.History()
for _step, _value in [(100, 50.0), (200, 20.0), (300, 35.0)]:
    _h.log(_step, fid=_value, g_loss=0.1 * _step)
assert best_checkpoint_step(_h) == 200, f"expected 200, got {best_checkpoint_step(_h)}"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("06_monitoring", "test_best_checkpoint_step")
### END HIDDEN TESTS

# %% [markdown]
# genlab's version is `genlab.train.hooks.best_step(history, name, mode)`. On the
# healthy run above, the snapshot the hook kept at the best step:

# %%
best = hooks.best_step(history, "fid")
best_images = dict(history.snapshots)[best]
genlab.viz.image_grid(best_images, ncols=16,
                      title=f"best step {best}: FID {history['fid'][history.steps['fid'].index(best)]:.1f}");

# %% [markdown]
# ## 8. Diffusion models against the floor
#
# A diffusion model's loss is an honest regression loss, so it falls as the model
# learns; but it is averaged over noise levels and does not say how good the samples
# of a full sampling chain are. FID does. We train chapter 03's small U-Net for 100 steps
# with epsilon-prediction, load the two models chapter 03 ships (the same recipe trained
# for 1,500 steps, with epsilon- and with v-prediction), sample 360 digits from each with
# 50 DDIM steps, and read each FID as a multiple of the floor (computed with 360 images
# too). Beside it we print each run's training loss, averaged over its last 25 steps.

# %%
from genlab.models.samplers import ddim_sample
from genlab.pretrained.digits_diffusion import load_digits_diffusion
from genlab.train.diffusion import train_digits_diffusion

diffusion_steps = genlab.budget(100, 3)
diffusion_runs = {f"epsilon, {diffusion_steps} steps, live":
                  ("epsilon", *train_digits_diffusion("epsilon", steps=diffusion_steps,
                                                      device=device))}
for prediction in ["epsilon", "v"]:
    diffusion_runs[f"{prediction}, 1500 steps, shipped"] = (
        prediction, *load_digits_diffusion(prediction, device=device))
diffusion_fid = {}
for name, (prediction, model, run) in diffusion_runs.items():
    images = ddim_sample(model, (360, 1, 8, 8), run.meta["alphas_cumprod"], genlab.budget(50, 5),
                         prediction=prediction, generator=torch.Generator().manual_seed(0))
    diffusion_fid[name] = (fid_lib.fid("train", images.clamp(-1, 1).cpu()), images.cpu())
    loss = sum(run["loss"][-25:]) / len(run["loss"][-25:])
    print(f"{name:>28}: loss {loss:.3f}, FID {diffusion_fid[name][0]:6.2f} = "
          f"{diffusion_fid[name][0] / floor:4.1f} x floor")

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 1.6))
for ax, (name, (value, images)) in zip(axes, diffusion_fid.items()):
    genlab.viz.image_grid(images[:20], ax=ax, title=f"{name}: FID {value:.1f}")

# %% [markdown]
# Fifteen times more training lowered the epsilon model's loss by about a third, but its
# FID by a factor of fifty or more: the loss averages over all noise levels, most of which
# are easy, while the samples depend on every step of the chain. The two shipped models
# end close to each other, at about 3x the floor. `benchmarks/quality.py` measures the
# same recipe with the full 1,000-step DDPM sampler, which gets closer still (about 2.8x
# the floor, at twenty times the sampling cost); the GAN of section 2, trained for 1,500
# steps, reaches about 6x.

# %% [markdown]
# ## Quiz
#
# **Q1.** A GAN's `d_loss` and `g_loss` have been flat at about 1.39 and 0.69 for
# 2,000 steps. What can you conclude?
#
# - a) training has converged and the samples are as good as they will get
# - b) the discriminator is guessing; the samples may be improving, stuck or collapsed:
#   measure them (FID, IS, look at them)
# - c) the generator has collapsed
# - d) the learning rate is too low
#
# **Q2.** A generator outputs one perfect image per digit class, in equal numbers.
# Which metric notices the missing variety?
#
# - a) the inception score: it drops to 1
# - b) neither: both reward it
# - c) FID: the generated features have a much smaller covariance than the real ones
# - d) the generator loss
#
# **Q3.** Your model's digits-FID is 5.1 with 360 samples; the real-versus-real floor
# with 360 samples is 2.6. A paper reports an Inception FID of 3.2 on CIFAR-10. Which
# statement is right?
#
# - a) the paper's model is better, since 3.2 < 5.1
# - b) your model is within 2x of the floor; the paper's number is on another scale and
#   cannot be compared
# - c) your model is twice as bad as real data, so it is useless
# - d) FID with fewer samples would make your number smaller

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
genlab.quiz.check_all("06_monitoring", q1=answer_q1, q2=answer_q2, q3=answer_q3);

# %% tests id=test_quiz points=3
genlab.quiz.assert_letters(answer_q1=answer_q1, answer_q2=answer_q2, answer_q3=answer_q3)
### BEGIN HIDDEN TESTS
assert answer_q1 == "b", "Q1: equilibrium-looking losses say D is guessing, not that samples are good."
assert answer_q2 == "c", "Q2: IS rewards one confident image per class; FID sees the shrunken covariance."
assert answer_q3 == "b", "Q3: digits-FID and Inception FID are different scales; read yours against its floor."
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# - Log G and D losses as separate series, but do not judge a GAN by them: they measure
#   a moving game, and they can look perfectly calm while the samples collapse.
# - FID is the Frechet distance between Gaussians fitted to real and generated features:
#   $\lVert\mu_r-\mu_g\rVert^2 + \operatorname{Tr}(\Sigma_r+\Sigma_g-2(\Sigma_r\Sigma_g)^{1/2})$.
#   It is biased upward with few samples: compare at equal sample counts and against the
#   real-versus-real floor. Digits-FID is not Inception FID.
# - IS rewards confident, class-balanced samples; it never sees real data and misses
#   variety within a class.
# - Evaluate every N steps (`genlab.train.hooks.EvalHook`) and keep the best checkpoint.
# - Next: **07 · Fine-tuning**.
