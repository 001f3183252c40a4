# %% [markdown]
# # 08 · Personalization: guidance, DreamBooth, LoRA and textual inversion
#
# Text-to-image models such as Stable Diffusion draw what a prompt says. This chapter
# takes a small one apart and teaches it new things. It is built from the same Diffusers
# and Transformers classes as Stable Diffusion (`UNet2DConditionModel`, `CLIPTextModel`,
# `StableDiffusionPipeline`), only small enough to run on a laptop: it draws the 8x8
# digits from prompts such as "a handwritten digit seven".
#
# **What you will learn**
# - what a text-to-image diffusion model is made of, and how to sample from it by hand;
# - classifier-free guidance: the formula, the loop, and the pipeline's `guidance_scale`,
#   which gives the same images for $w > 1$ (and not below); how guidance trades
#   diversity for faithfulness;
# - DreamBooth: teaching the model a new subject from a few images, and the prior
#   preservation loss that reduces (but does not remove) its forgetting of everything
#   else;
# - LoRA-DreamBooth: the same with a few percent of the parameters and a checkpoint of
#   kilobytes, switched on and off in the pipeline;
# - textual inversion: learning one new word, and what a word cannot teach.
#
# **Prerequisites:** chapter 03 (the diffusion loss, DDIM sampling); chapter 07 (LoRA).
# **Run time:** about 45 s on a 2-core CPU, a few seconds while graded.

# %% [markdown]
# ## Setup
#
# Nothing is downloaded: the model ships with the course. `HF_HUB_OFFLINE=1` makes
# Hugging Face libraries say so at once if a path is mistyped, instead of trying the Hub.

# %%
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
import matplotlib.pyplot as plt
import torch

import genlab
from genlab.finetune import guidance
from genlab.metrics import prompts as prompt_metrics
from genlab.pretrained import digits_t2i

device = genlab.get_device()
genlab.seed_everything(0)
torch.set_num_threads(1)  # small networks: extra CPU threads cost more than they save
print(f"genlab {genlab.__version__} on {device}")

# %% [markdown]
# ## 1. The pretrained model and its prompts
#
# A latent diffusion model such as Stable Diffusion has four parts:
#
# - a **tokenizer** that cuts the prompt into tokens, and a **text encoder** (a CLIP
#   transformer) that turns them into a sequence of vectors, one per token;
# - a **UNet** that predicts the noise $\epsilon$ in a noisy image $x_t$ at step $t$, and
#   *cross-attends* to the text vectors: its image features ask which words matter here;
# - a **scheduler** that holds the noise schedule and turns the noise predictions into
#   a sampling path;
# - a **VAE** that maps 512x512 images to 64x64 latents, where the diffusion runs.
#
# Our model has the same parts at toy size. The images are so small that the diffusion
# runs on the pixels, so the VAE is the identity (`PassThroughVAE`: it lets the real
# `StableDiffusionPipeline` run unchanged). It was trained once, by `python -m
# genlab.pretrained build digits-t2i`, on the 1,437 training digits, each with a caption
# such as "a handwritten digit three" or "the digit three", and one caption in ten
# replaced by the empty prompt `""` (section 2 says why). Every file's SHA-256 is checked
# when it loads.

# %%
parts = digits_t2i.load_digits_t2i(device=device)
entry = digits_t2i.registry_entry()
for name in ("unet", "text_encoder"):
    net = getattr(parts, name)
    print(f"{name:>12}: {type(net).__name__:22} {sum(p.numel() for p in net.parameters()):8,} parameters")
print(f"   tokenizer: {len(parts.tokenizer)} words; scheduler: {type(parts.noise_scheduler).__name__}; "
      f"vae: {type(parts.vae).__name__}")
print(f"trained {entry['recipe']['steps']} steps in {entry['train_cpu_seconds']:.0f} CPU s; "
      f"{entry['bytes'] / 1e6:.2f} MB on disk")

# %% [markdown]
# The tokenizer works on whole words. A prompt becomes `<bos>`, one id per word, `<eos>`,
# then padding up to 12 tokens; a word it does not know becomes `<unk>`. Its vocabulary
# also holds a few words that no training caption used, such as `sks`: section 3 needs
# such a rare word. The text encoder turns the 12 tokens into 12 vectors of 32 numbers.

# %%
tokenizer = parts.tokenizer
ids = tokenizer("a handwritten digit seven", padding="max_length",
                max_length=tokenizer.model_max_length).input_ids
print(tokenizer.convert_ids_to_tokens(ids))
print(tokenizer.convert_ids_to_tokens(tokenizer("a purple digit seven").input_ids))
print("text embedding:", tuple(digits_t2i.encode_prompts(parts, ["a handwritten digit seven"]).shape))

# %% [markdown]
# ### Sampling by hand
#
# Sampling is chapter 03's DDIM loop with one more input: the UNet receives the text
# vectors (`encoder_hidden_states`) at every step. The scheduler is Diffusers'
# `DDIMScheduler` on the training schedule; `make_ddim_scheduler` builds it with
# `clip_sample=False` (section 2 shows why that matters). Three samples of each digit:

# %%
scheduler = digits_t2i.make_ddim_scheduler(parts)
prompts = [digits_t2i.caption(k) for k in range(10)] * 3
with torch.no_grad():
    text = digits_t2i.encode_prompts(parts, prompts)
    x = torch.randn(len(prompts), 1, 8, 8, generator=torch.Generator().manual_seed(0)).to(device)
    scheduler.set_timesteps(20)
    for t in scheduler.timesteps:
        eps = parts.unet(x, t, encoder_hidden_states=text).sample
        x = scheduler.step(eps, t, x).prev_sample

# %% [markdown]
# Our digits classifier (chapter 06) checks each sample against its prompt:

# %%
digits = torch.arange(10).repeat(3)
samples = x.cpu().clamp(-1, 1)  # unclipped DDIM may overshoot the pixel range a little
accuracy_w1 = prompt_metrics.prompt_accuracy(samples, digits)
genlab.viz.image_grid(samples, ncols=10,
                      title=f"prompts 'a handwritten digit 0..9': {accuracy_w1:.0%} read as prompted");

# %% [markdown]
# ## 2. Classifier-free guidance
#
# The samples above mostly follow their prompt, but not all of them. **Classifier-free
# guidance** (Ho & Salimans, 2022) makes a model follow its prompt more closely without
# any extra network. During training one caption in ten was replaced by the empty prompt,
# so the same UNet learned two predictions: $\epsilon(x_t, c)$ for a prompt $c$ and
# $\epsilon(x_t, \varnothing)$ for no prompt. At sampling time both are computed and
# combined with a **guidance scale** $w$:
#
# $$\hat\epsilon = \epsilon(x_t, \varnothing) + w\,\big(\epsilon(x_t, c) - \epsilon(x_t, \varnothing)\big).$$
#
# Why this works: the noise prediction is, up to a factor $-\sigma_t$, the score
# $\nabla_x \log p(x_t)$. The difference of the conditional and the unconditional score
# is $\nabla_x \log p(c \mid x_t)$, the score of an implicit classifier. The guided
# prediction follows $\nabla_x \log p(x_t) + w\,\nabla_x \log p(c \mid x_t)$: a sample
# from $p(x)\,p(c\mid x)^w$, which for $w > 1$ favours images that are unmistakably the
# prompt. In this formula $w = 0$ is the unconditional model and $w = 1$ the conditional
# one. Stable Diffusion's default is 7.5.
#
# Two conventions are in use. This one is Diffusers' (`guidance_scale` is $w$). Ho &
# Salimans write $(1 + w')\,\epsilon(x_t, c) - w'\,\epsilon(x_t, \varnothing)$, so their
# $w' = w - 1$: their $w' = 0$ is the conditional model, and their best-FID range
# $w'$ = 0.1 to 0.3 is `guidance_scale` 1.1 to 1.3. And the pipeline applies the formula
# only when `guidance_scale > 1`: at or below 1 it runs the conditional model alone
# (section 2 shows it), so the unconditional model is reached by the formula, not by the
# pipeline.
#
# The "no prompt" input is the text embedding of the empty prompt `""`, which is what
# `StableDiffusionPipeline` uses when you pass no `negative_prompt`; a negative prompt
# replaces it.

# %% [markdown]
# ### Exercise: combine the two predictions
#
# Write `cfg_combine(eps_uncond, eps_cond, guidance_scale)`: two tensors of the same shape
# and a float $w \ge 0$; return the guided prediction above. It must work for any shape
# and let gradients flow to both inputs (use tensor arithmetic, not `.item()`).

# %% solution id=cfg_combine
def cfg_combine(eps_uncond, eps_cond, guidance_scale):
    """Classifier-free guidance: eps_uncond + w (eps_cond - eps_uncond), any shape."""
    ### BEGIN SOLUTION
    return (1 - guidance_scale) * eps_uncond + guidance_scale * eps_cond
    ### END SOLUTION

# %% tests id=test_cfg_combine points=3
_u, _c = torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8)
assert cfg_combine(_u, _c, 3.0).shape == (2, 1, 8, 8)
assert torch.allclose(cfg_combine(_u, _c, 3.0), torch.full((2, 1, 8, 8), 3.0)), \
    "with eps_uncond = 0 and eps_cond = 1 the result is w everywhere"
assert torch.allclose(cfg_combine(_u + 2, _c, 0.0), _u + 2), "w = 0 is the unconditional prediction"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("08_personalization", "test_cfg_combine")
### END HIDDEN TESTS

# %% [markdown]
# ### The guided loop, and the pipeline that gives the same images
#
# The loop changes in two places: the UNet sees a batch of two copies of `x`, the first
# half with the empty prompt's embedding and the second with the prompts' (one network
# call for both), and the two halves are combined. The rest of the chapter uses genlab's
# `cfg_combine` (your answer above is graded on its own).

# %%
def sample_guided(prompts, w, seed=0, steps=20):
    with torch.no_grad():
        text = digits_t2i.encode_prompts(parts, [""] * len(prompts) + prompts)
        x = torch.randn(len(prompts), 1, 8, 8, generator=torch.Generator().manual_seed(seed)).to(device)
        scheduler.set_timesteps(steps)
        for t in scheduler.timesteps:
            both = parts.unet(torch.cat([x, x]), t, encoder_hidden_states=text).sample
            eps_uncond, eps_cond = both.chunk(2)
            x = scheduler.step(guidance.cfg_combine(eps_uncond, eps_cond, w), t, x).prev_sample
    return x

# %% [markdown]
# For $w > 1$ this is the loop inside `StableDiffusionPipeline.__call__`. Put our parts
# into the real pipeline (`make_pipeline`: DDIM scheduler, no safety checker) and ask for
# the same prompts, seed, number of steps and `guidance_scale`: the images are the same,
# to the last bit on one machine. `output_type="pt"` returns images in [0, 1], so we map ours
# from [-1, 1] first.

# %%
pipe = digits_t2i.make_pipeline(parts, device)
ten = [digits_t2i.caption(k) for k in range(10)]
ours = sample_guided(ten, 3.0)
theirs = pipe(ten, guidance_scale=3.0, num_inference_steps=20, output_type="pt",
              generator=torch.Generator().manual_seed(0)).images
difference = ((ours + 1) / 2).clamp(0, 1).sub(theirs).abs().max().item()
fig, axes = plt.subplots(2, 1, figsize=(6, 1.6))
genlab.viz.image_grid(ours.cpu().clamp(-1, 1), ax=axes[0], title="our loop, w = 3")
genlab.viz.image_grid(theirs.cpu() * 2 - 1, ax=axes[1],
                      title=f"StableDiffusionPipeline(guidance_scale=3): max difference {difference:.1e}")
fig.tight_layout()

# %% [markdown]
# Below $w = 1$ the two part ways. The pipeline decides `do_classifier_free_guidance =
# guidance_scale > 1` and otherwise runs the conditional model alone, so its
# `guidance_scale=0` gives exactly the images of `guidance_scale=1`, while the formula at
# $w = 0$ is the unconditional model, which ignores the prompt. Thirty prompts (three per
# digit), read by the classifier:

# %%
def pipe_pt(p, w):
    return pipe(p, guidance_scale=w, num_inference_steps=20, output_type="pt",
                generator=torch.Generator().manual_seed(0)).images * 2 - 1


pipe_w0, pipe_w1 = pipe_pt(prompts, 0.0), pipe_pt(prompts, 1.0)
loop_w0 = sample_guided(prompts, 0.0).cpu().clamp(-1, 1)
print(f"pipeline, guidance_scale 0 vs 1: max difference {(pipe_w0 - pipe_w1).abs().max():.1e}")
print(f"read as the prompted digit: pipeline at 0 {prompt_metrics.prompt_accuracy(pipe_w0.cpu(), digits):.0%}, "
      f"the formula at w = 0 {prompt_metrics.prompt_accuracy(loop_w0, digits):.0%}")

# %% [markdown]
# `genlab.finetune.guidance.guided_sample(parts, prompts, w)` is the same loop with
# input checks, and with the unconditional half skipped at $w = 1$, where it is not
# needed. The same two functions run a real Stable Diffusion checkpoint on a GPU:
# `digits_t2i.load_digits_t2i("stable-diffusion-v1-5/stable-diffusion-v1-5")` loads its
# UNet, CLIP text encoder, tokenizer, scheduler and VAE (see the README).

# %% [markdown]
# ### The guidance sweep: faithfulness against diversity
#
# Now the same seeds at $w$ = 1, 2, 3, 5 and 8, with three measures per setting:
# **accuracy** (the classifier reads the prompted digit), **digits-FID** against the
# test digits (chapter 06: quality and coverage together, lower is better) and
# **diversity** (the mean distance between the classifier's features of two samples of
# the same prompt; real test digits score about 15).

# %%
scales = (1.0, 2.0, 3.0, 5.0, 8.0)
sweep = guidance.guidance_sweep(parts, scales, n_per_class=genlab.budget(10, 2),
                                num_inference_steps=genlab.budget(20, 4), keep_images=True)
for row in sweep:
    print(f"w = {row['guidance_scale']:3.0f}: accuracy {row['accuracy']:5.1%}  FID {row['fid']:5.1f}  "
          f"diversity {row['diversity']:4.1f}  ink {row['ink']:.3f}  ({row['cpu_seconds']:.1f} CPU s)")

# %%
fig, axes = plt.subplots(1, 3, figsize=(9, 2.2))
for ax, key in zip(axes, ("accuracy", "fid", "diversity")):
    ax.plot(scales, [row[key] for row in sweep], "o-")
    ax.set_xlabel("guidance scale w")
    ax.set_title(key, fontsize=9)
fig.tight_layout()

# %% [markdown]
# Accuracy climbs and saturates by $w \approx 3$, and diversity falls all the way. FID
# first improves (at $w = 1$ about a fifth of the samples are the wrong digit or no clear
# digit at all) and then worsens steadily: stronger guidance draws each digit in fewer,
# bolder ways (the ink grows), further from the variety of real handwriting. So there is
# no single best $w$: FID, which weighs quality and variety together, is lowest at
# $w = 2$ and already worse at $w = 3$ than at $w = 1$, while accuracy still gains up to
# $w = 3$. Choose by what matters more (Stable Diffusion's default of 7.5 favours the
# prompt, on a far larger model). The first sample of each digit at each scale, from the
# same starting noise:

# %%
fig, axes = plt.subplots(len(sweep), 1, figsize=(6, 0.75 * len(sweep)))
for ax, row in zip(axes, sweep):
    first = row["images"][:: len(row["images"]) // 10]
    genlab.viz.image_grid(first, ax=ax, title=f"w = {row['guidance_scale']:g}")
fig.tight_layout()

# %% [markdown]
# ### A pitfall: `clip_sample=True`
#
# `DDIMScheduler()` clips its estimate of the clean image $x_0$ to [-1, 1] by default
# (`clip_sample=True`). At each step DDIM uses that estimate *and* the noise prediction;
# with guidance the noise prediction is extrapolated (large for large $w$), the clipped
# $x_0$ no longer agrees with it, and the samples fall apart into grey speckle.
# `StableDiffusionPipeline` silently switches clipping off (with a `FutureWarning`), so
# a hand loop with the default scheduler would neither work nor match the pipeline.
# Here is $w = 5$ with clipping on:

# %%
from diffusers import DDIMScheduler


def clipping_ddim(parts):
    return DDIMScheduler.from_config(parts.noise_scheduler.config, clip_sample=True, steps_offset=1)


clipped = guidance.guidance_sweep(parts, (5.0,), n_per_class=genlab.budget(10, 2),
                                  num_inference_steps=genlab.budget(20, 4),
                                  scheduler_factory=clipping_ddim, keep_images=True)[0]
unclipped = next(row for row in sweep if row["guidance_scale"] == 5.0)
genlab.viz.image_grid(clipped["images"][:: len(clipped["images"]) // 10],
                      title=f"w = 5, clip_sample=True: accuracy {clipped['accuracy']:.0%} "
                            f"(clip_sample=False: {unclipped['accuracy']:.0%})");

# %% [markdown]
# <!-- section 3: DreamBooth (helper 14b) -->
# ## 3. DreamBooth: teaching the model a new subject
#
# **Personalization** means: here are a few pictures of *my* thing (a dog, a face, a
# product, a drawing style); now draw it in situations the pictures never showed. Our
# subject is a **style**, "bold italic" digits: strokes one pixel thicker and the whole
# digit slanted by a fixed shear (0.3 pixels per pixel of height). We are given four
# reference images, two threes and two sevens. The question that matters is whether the
# model learns the *style* or only those four images: will it draw a bold-italic **five**,
# which it has never seen in that style?
#
# Because the style is a known transformation (`genlab.finetune.style.stylize`), we can
# apply it to every real digit and measure how close a sample is to it.

# %%
from genlab.finetune import dreambooth, textual_inversion
from genlab.finetune.loop import TrainConfig
from genlab.finetune import style

reference, reference_digits = style.reference_set()  # 2 threes, 2 sevens, stylized
test_images, test_labels = genlab.data.load_digits("test")
one_each = torch.stack([test_images[test_labels == k][0] for k in range(10)])
fig, axes = plt.subplots(1, 2, figsize=(8, 1.2), gridspec_kw={"width_ratios": [4, 10]})
genlab.viz.image_grid(reference, ax=axes[0], title="the 4 reference images")
genlab.viz.image_grid(style.stylize(one_each), ax=axes[1],
                      title="the style on every digit (what we hope the model learns)");

# %% [markdown]
# To score a sample without a network we use three numbers that image moments give in
# closed form (with ink $w = (x+1)/2$): the **ink** (mean of $w$), the **stroke width**
# (ink mass over half the total horizontal change of $w$: the mean length of a
# horizontal run) and the **slant** $-\mu_{11}/\mu_{02}$ (horizontal shift per row, from
# the central moments; a shear by $s$ adds exactly $s$). The **style score** puts the
# three, standardized, on the line from plain digits (0) to bold-italic digits (1). We
# also use the feature distance of chapter 06's classifier to the stylized real digits of
# the same class (lower is closer).

# %%
print(f"style score: real test digits {style.style_score(test_images).mean():.2f}, "
      f"the same stylized {style.style_score(style.stylize(test_images)).mean():.2f}, "
      f"the 4 references {style.style_score(reference).mean():.2f}")

# %% [markdown]
# ### The recipe
#
# DreamBooth (Ruiz et al., 2023) captions the reference images with a **rare identifier**
# placed before the class noun, "a handwritten **sks** digit three", and fine-tunes the
# whole UNet with the ordinary denoising loss on them (Diffusers' script can also train
# the text encoder, `--train_text_encoder`; we will need it below).
# `sks` is a word the model has never seen in a caption, so its embedding means nothing
# yet and the model can attach the new look to it, while "digit three" keeps carrying
# what a three is.
#
# Four images and a few hundred numbers of loss signal are not much for a million
# parameters. The fine-tuned model tends to forget what the *class* words meant: every
# "digit seven" starts to look like the subject (**language drift**), and the samples of
# the subject lose their variety. DreamBooth's fix is the **prior-preservation loss**.
# Before fine-tuning, the frozen model draws a set of ordinary class images from the
# plain prompt ("a handwritten digit three"); during fine-tuning each batch holds subject
# images *and* class images, and the class images get the same ordinary denoising loss as
# the subject's: the frozen model's own samples become training data that keeps "digit
# three" drawing threes. (It is not distillation: the target is the noise that was added,
# not the frozen model's old prediction.)
#
# $$\mathcal L = \mathbb E\,\big\|\epsilon - \epsilon_\theta(x_t, t, c_\text{subject})\big\|^2
#   + \lambda\,\mathbb E\,\big\|\epsilon' - \epsilon_\theta(x'_{t'}, t', c_\text{class})\big\|^2 ,$$
#
# both terms means over the batch and the pixels, $\lambda = 1$ by default (as in
# Diffusers' `train_dreambooth.py`, `--prior_loss_weight`).

# %% [markdown]
# ### Exercise: the prior-preservation loss
#
# Write `prior_preservation_loss(pred, target, prior_pred, prior_target, prior_weight=1.0)`:
# `pred` and `target` are the predicted and true noise on the subject images, any shape
# `(batch, ...)`; `prior_pred` and `prior_target` the same on the class images (their
# batch size may differ). Return the mean squared error of the first pair plus
# `prior_weight` times the mean squared error of the second, each a mean over all
# elements, as a scalar tensor that gradients flow through.

# %% solution id=prior_preservation_loss
def prior_preservation_loss(pred, target, prior_pred, prior_target, prior_weight=1.0):
    """MSE(pred, target) + prior_weight * MSE(prior_pred, prior_target), batch means."""
    ### BEGIN SOLUTION
    subject_term = ((pred - target) ** 2).mean()
    prior_term = ((prior_pred - prior_target) ** 2).mean()
    return subject_term + prior_weight * prior_term
    ### END SOLUTION

# %% tests id=test_prior_preservation_loss points=3
_p, _t = torch.ones(2, 1, 8, 8), torch.zeros(2, 1, 8, 8)
_loss = prior_preservation_loss(_p, _t, _p, _p, prior_weight=1.0)
assert _loss.shape == (), f"the loss must be a scalar, got shape {tuple(_loss.shape)}"
assert torch.isclose(_loss, torch.tensor(1.0)), "subject MSE 1, prior MSE 0: the loss is 1"
assert torch.isclose(prior_preservation_loss(_t, _t, _p, _t, prior_weight=0.5), torch.tensor(0.5)), \
    "prior MSE 1 weighted by 0.5"
assert torch.isclose(prior_preservation_loss(_p, _t, 2 * _p[:1], _t[:1]), torch.tensor(5.0)), \
    "a class batch of another size: 1 + 1 * 4"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("08_personalization", "test_prior_preservation_loss")
### END HIDDEN TESTS

# %% [markdown]
# ### Before fine-tuning
#
# `style.personalization_measures` samples a model with the subject prompt ("a handwritten
# sks digit k") and the plain prompt ("a handwritten digit k") for **all ten digits**,
# the same starting noise for both, at guidance 3, and measures: the style score and
# feature distance of subject samples on the reference digits (3, 7) and on the **other**
# eight; the classifier's accuracy on both prompts; the style of the plain samples
# (drift); and within-class spread (diversity). First the pretrained model, the
# "before" of every comparison: `sks` means nothing to it yet.

# %%
N_PER_DIGIT = genlab.budget(5, 2)  # samples per digit and prompt
SAMPLE_STEPS = genlab.budget(20, 4)
STEPS = genlab.budget(100, 3)      # fine-tuning steps (the benchmark uses the same)


def measure(model_parts, prompt=dreambooth.instance_prompt):
    return style.personalization_measures(model_parts, prompt, baseline=base_samples,
                                          n_per_digit=N_PER_DIGIT,
                                          num_inference_steps=SAMPLE_STEPS)


base_samples = None
base, base_samples = measure(parts)
results = {"pretrained": base}
print(f"pretrained: style of 'sks digit k' {base['style_seen']:.2f} (3, 7) / "
      f"{base['style_unseen']:.2f} (others); plain-prompt accuracy {base['plain_accuracy']:.0%}")

# %% [markdown]
# ### DreamBooth without the prior loss
#
# `dreambooth.train_dreambooth` runs the course's Accelerate loop (chapter 07) on a fresh
# copy of the model: batches of 4 subject images drawn from the 4 references with fresh
# noise and timesteps, AdamW with learning rate $10^{-3}$. We train the UNet **and** the
# text encoder (Diffusers' `--train_text_encoder`): with a frozen text encoder, "a
# handwritten sks digit three" and "a handwritten digit three" are only a small
# perturbation of each other, and in a hundred steps the UNet cannot learn to treat them
# differently.

# %%
def fresh_model():
    return digits_t2i.load_digits_t2i(device=device)


no_prior = fresh_model()
history = dreambooth.train_dreambooth(no_prior, reference, reference_digits,
                                      TrainConfig(steps=STEPS, lr=1e-3), train_text_encoder=True)
results["DreamBooth, no prior"], no_prior_samples = measure(no_prior)
print(f"{STEPS} steps, {history.meta['trainable_parameters']:,} trainable parameters, "
      f"{history.meta['cpu_seconds']:.1f} CPU s; final loss {history['loss'][-1]:.3f}")

# %% [markdown]
# ### DreamBooth with prior preservation
#
# The class images come from the frozen model: 25 for each reference digit, whose plain
# prompt is the one at risk, and 5 for each of the other eight, so that fine-tuning on
# threes and sevens does not make the model forget how to draw the rest (Diffusers' script
# uses 100 or more per class; a few dozen suffice here).

# %%
class_prompts_digits = [3, 7] * 5 + [0, 1, 2, 4, 5, 6, 8, 9]  # 25 each of 3 and 7, 5 of the others
class_images, class_digits = dreambooth.generate_class_images(
    parts, class_prompts_digits, per_digit=genlab.budget(5, 1), seed=1)
with_prior = fresh_model()
history = dreambooth.train_dreambooth(with_prior, reference, reference_digits,
                                      TrainConfig(steps=STEPS, lr=1e-3), train_text_encoder=True,
                                      class_images=class_images, class_digits=class_digits)
results["DreamBooth + prior"], prior_samples = measure(with_prior)
print(f"{len(class_images)} class images; final losses: subject {history['instance_loss'][-1]:.3f}, "
      f"class {history['prior_loss'][-1]:.3f}")

# %% [markdown]
# Each row below holds one sample of each digit, 0 to 9, from the same starting noise.
# Left: the subject prompt "a handwritten sks digit k"; right: the plain prompt "a
# handwritten digit k".

# %%
def first_of_each(samples, key):
    return samples[key][:: N_PER_DIGIT]


rows = {"pretrained": base_samples, "no prior": no_prior_samples, "with prior": prior_samples}
fig, axes = plt.subplots(len(rows), 2, figsize=(10, 0.9 * len(rows)))
for i, (name, samples) in enumerate(rows.items()):
    genlab.viz.image_grid(first_of_each(samples, "subject"), ax=axes[i, 0], title=f"{name}: 'sks digit k'")
    genlab.viz.image_grid(first_of_each(samples, "plain"), ax=axes[i, 1], title=f"{name}: 'digit k'")
fig.tight_layout()

# %% [markdown]
# The measures, per model (style: 0 = real digits, 1 = the style; the pretrained model's
# guided samples are already a little bolder than real digits, so its "style" is not 0):
# `style_seen` and `style_unseen` for the subject prompt on 3/7 and on the other digits,
# `dist_unseen` the feature distance of the unseen digits to their stylized versions,
# `plain_accuracy` the classifier on the plain prompts of all ten digits,
# `plain_style_seen` the style of the plain "digit three/seven" (drift), `class_drift`
# how far those samples moved from the pretrained model's (same noise), and
# `spread_subject` the diversity of the subject samples.

# %%
def show(names, keys=("style_seen", "style_unseen", "dist_unseen", "plain_accuracy",
                      "plain_style_seen", "class_drift", "spread_subject")):
    print(f"{'':>24}" + "".join(f"{k:>17}" for k in keys))
    for name in names:
        print(f"{name:>24}" + "".join(f"{results[name].get(k, float('nan')):17.2f}" for k in keys))


show(["pretrained", "DreamBooth, no prior", "DreamBooth + prior"])

# %% [markdown]
# Without the prior loss the model learns the subject and forgets the rest: the *plain*
# prompts of 3 and 7 now draw the style too (language drift: "digit seven" has become
# "sks digit seven"), and the classifier reads far fewer plain prompts of the ten digits
# as the right digit, because four threes and sevens were all the model saw. With the
# prior loss the subject prompt still draws the style on the reference digits, and the
# plain prompts keep most of their accuracy. The prior loss *reduces* the drift; it does
# not remove it. Over three seeds (`benchmarks/personalization.py`, 10 samples per digit)
# the style score of the plain "digit three/seven" is 0.20 ± 0.03 before fine-tuning,
# 1.06 ± 0.28 without the prior and 0.73 ± 0.42 with it, and the digits-FID of the plain
# samples goes from 25 to 250 without the prior and to 86 ± 44 with it: roughly half the
# damage, with a large spread from seed to seed. Plain-prompt accuracy: 0.99, 0.54 and
# 0.90. How much of the style reaches the digits the references never showed varies a
# lot from run to run (`style_unseen` above; over the three seeds 0.82 ± 0.38 without the
# prior and 0.88 ± 0.28 with it): one run cannot tell the two variants apart on it.

# %% [markdown]
# <!-- section 4: LoRA-DreamBooth (helper 14b) -->
# ## 4. LoRA-DreamBooth: a few percent of the parameters, a file of kilobytes
#
# Full DreamBooth saves a whole new UNet per subject (1 MB here, 3.4 GB for Stable
# Diffusion). **LoRA** (Hu et al., 2021; chapter 07) freezes the UNet and learns a
# low-rank update $\Delta W = \frac{\alpha}{r} BA$ for some of its weight matrices. Diffusers'
# `train_dreambooth_lora.py` puts the adapters on the attention projections (`to_q`,
# `to_k`, `to_v`, `to_out.0`, and `add_k_proj`, `add_v_proj`, the extra key and value
# projections of UNets that take a second conditioning input; ours has none), through
# PEFT:
#
# ```python
# unet.requires_grad_(False)
# unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian",
#                             target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
# ```
#
# $B$ starts at zero, so training starts from the pretrained model exactly.
# `dreambooth.train_dreambooth(..., lora_rank=4)` does this, with the prior loss, and a
# larger learning rate ($10^{-2}$): fewer, freshly initialised weights move further.

# %%
lora_parts = fresh_model()
history = dreambooth.train_dreambooth(lora_parts, reference, reference_digits,
                                      TrainConfig(steps=STEPS, lr=1e-2), lora_rank=4,
                                      class_images=class_images, class_digits=class_digits)
trained = history.meta["trainable_parameters"]
total = dreambooth.count_parameters(lora_parts.unet)
print(f"LoRA trains {trained:,} of the UNet's {total:,} numbers ({trained / total:.1%}); "
      f"{history.meta['cpu_seconds']:.1f} CPU s")

# %% [markdown]
# `dreambooth.save_lora` collects the adapter's tensors (`peft`'s
# `get_peft_model_state_dict`, renamed by Diffusers' `convert_state_dict_to_diffusers`)
# and writes them with `StableDiffusionPipeline.save_lora_weights`: the file anyone can
# load into a pipeline of the same base model.

# %%
import tempfile
from pathlib import Path

workdir = Path(tempfile.mkdtemp(prefix="genlab08_"))
lora_file = dreambooth.save_lora(lora_parts.unet, workdir / "bold_italic_lora")
unet_file = digits_t2i.package_folder() / "unet" / "diffusion_pytorch_model.safetensors"
print(f"{lora_file.name}: {lora_file.stat().st_size / 1e3:.1f} kB, "
      f"against {unet_file.stat().st_size / 1e6:.2f} MB for the whole UNet")

# %% [markdown]
# ### In the pipeline: load, switch, fuse
#
# A fresh pipeline of the pretrained model loads the file with `load_lora_weights`
# under an adapter name. `set_adapters` scales an adapter (0 = off, 1 = as trained, and
# values between), `disable_lora` switches LoRA off, and `fuse_lora` folds
# $W + \frac{\alpha}{r}BA$ into the weights, so that sampling costs nothing extra.

# %%
lora_pipe = digits_t2i.make_pipeline(fresh_model(), device)
lora_pipe.load_lora_weights(str(lora_file.parent), adapter_name="bold_italic")
prompts = [dreambooth.instance_prompt(k) for k in range(10)]


def pipe_images(p):
    out = p(prompts, guidance_scale=3.0, num_inference_steps=SAMPLE_STEPS, output_type="pt",
            generator=torch.Generator().manual_seed(0)).images
    return out * 2 - 1  # the pipeline returns [0, 1]


strengths = {}
for weight in (0.0, 0.5, 1.0):
    lora_pipe.set_adapters(["bold_italic"], adapter_weights=[weight])
    strengths[f"adapter weight {weight:g}"] = pipe_images(lora_pipe)
lora_pipe.disable_lora()
strengths["disable_lora()"] = pipe_images(lora_pipe)
lora_pipe.enable_lora()
lora_pipe.set_adapters(["bold_italic"], adapter_weights=[1.0])
lora_pipe.fuse_lora()
fused_difference = (pipe_images(lora_pipe) - strengths["adapter weight 1"]).abs().max().item()

fig, axes = plt.subplots(len(strengths), 1, figsize=(5, 0.75 * len(strengths)))
for ax, (name, images) in zip(axes, strengths.items()):
    genlab.viz.image_grid(images, ax=ax, title=f"'sks digit 0..9', {name}: style "
                                                f"{style.style_score(images).mean():.2f}")
fig.tight_layout()
print(f"fused against unfused: max difference {fused_difference:.1e}")

# %% [markdown]
# Switching the adapter off gives the pretrained model back exactly (the base weights
# never changed), and a fused adapter draws the same images as the unfused one up to
# float32 rounding. How does LoRA compare with full DreamBooth?

# %%
results["LoRA-DreamBooth + prior"], lora_samples = measure(lora_parts)
show(["DreamBooth + prior", "LoRA-DreamBooth + prior"])

# %% [markdown]
# LoRA gets a good part of the way to full DreamBooth's style on the reference digits with about
# 3% of the UNet's numbers and a file of about 40 kB. Here the text encoder stays frozen (a LoRA on it
# is possible too, Diffusers' `--train_text_encoder` for LoRA), so, as explained in
# section 3, the UNet cannot separate "sks digit seven" from "digit seven" in a hundred
# steps: while the adapter is on, the plain prompts of 3 and 7 drift towards the style.
# The remedy LoRA brings is a different one: switch the adapter off, or load it only
# when the subject is wanted, and the pretrained model is back, exactly.

# %% [markdown]
# <!-- section 5: Textual inversion (helper 14b) -->
# ## 5. Textual inversion: find, don't teach
#
# Textual inversion (Gal et al., 2023) changes no weight of the model at all. It adds a
# new word, here `<bold-italic>`, to the tokenizer and one row to the text encoder's
# embedding matrix (initialised from the word "handwritten"), and trains **that row
# only** with the denoising loss on the references, captioned "a handwritten
# `<bold-italic>` digit three". What is learned is 32 numbers: a point in the space of
# word embeddings that, fed through the frozen text encoder and UNet, draws images like
# the references.
#
# Training one row of a matrix needs care. The embedding matrix is one `nn.Parameter`, so
# `loss.backward()` fills a gradient for every row that appears in the prompt ("a",
# "handwritten", "digit", ...). Two things keep the old words as they were:
#
# 1. after each backward pass, zero the gradient of every row except the new one;
# 2. after each optimizer step, copy the other rows back, because AdamW's weight decay
#    shrinks every row of the parameter, gradient or not (Diffusers' script only does
#    this step).
#
# `textual_inversion.RestoreFrozenRows` is the loop callback that does both.

# %% [markdown]
# ### Exercise: mask the embedding gradient
#
# Write `mask_embedding_grad_(weight, token_ids)`: `weight` is an embedding matrix
# `(vocab, dim)` whose `.grad` has been filled by `backward()`, `token_ids` a list of row
# indices. Set, **in place**, the gradient of every row *not* in `token_ids` to zero, and
# leave the rows in `token_ids` exactly as they are. (The trailing underscore is PyTorch's
# convention for in-place functions; do not replace `weight.grad` with a new tensor.)

# %% solution id=mask_embedding_grad
def mask_embedding_grad_(weight, token_ids):
    """Zero weight.grad's rows except token_ids, in place."""
    ### BEGIN SOLUTION
    keep = torch.zeros(weight.shape[0], dtype=torch.bool, device=weight.grad.device)
    keep[list(token_ids)] = True
    weight.grad[~keep] = 0.0
    ### END SOLUTION

# %% tests id=test_mask_embedding_grad points=3
_w = torch.nn.Parameter(torch.zeros(5, 2))
_w.grad = torch.arange(10.0).reshape(5, 2)
_storage = _w.grad.data_ptr()
mask_embedding_grad_(_w, [1, 4])
assert _w.grad.data_ptr() == _storage, "change weight.grad in place, do not assign a new tensor"
assert torch.equal(_w.grad, torch.tensor([[0.0, 0], [2, 3], [0, 0], [0, 0], [8, 9]])), \
    f"rows 1 and 4 keep their gradient, the others are zero; got {_w.grad.tolist()}"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("08_personalization", "test_mask_embedding_grad")
### END HIDDEN TESTS

# %% [markdown]
# ### Training one word
#
# The rest of the chapter uses genlab's `mask_embedding_grad_`. A larger learning rate
# suits a single vector ($2 \cdot 10^{-2}$), with Diffusers' weight decay of $10^{-2}$,
# which `RestoreFrozenRows` undoes for the old words.

# %%
ti_parts = fresh_model()
old_rows = ti_parts.text_encoder.get_input_embeddings().weight.detach().clone()
history = textual_inversion.train_textual_inversion(
    ti_parts, reference, reference_digits, TrainConfig(steps=genlab.budget(150, 3), lr=2e-2,
                                                       weight_decay=1e-2))
new_rows = ti_parts.text_encoder.get_input_embeddings().weight.detach()
token_id = history.meta["token_id"]
print(f"learned {history.meta['learned_numbers']} numbers in {history.meta['cpu_seconds']:.1f} CPU s; "
      f"old rows unchanged: {torch.equal(new_rows[:token_id], old_rows[:token_id])}")

# %% [markdown]
# The file is the format `StableDiffusionPipeline.load_textual_inversion` reads: one
# tensor under the token's name. Loaded into a fresh pipeline of the pretrained model, it
# gives the same images as the model we trained:

# %%
ti_file = textual_inversion.save_textual_inversion(ti_parts, workdir / "bold_italic_ti")
ti_pipe = digits_t2i.make_pipeline(fresh_model(), device)
ti_pipe.load_textual_inversion(str(ti_file))
ti_prompts = [textual_inversion.ti_prompt(k) for k in range(10)]
loaded = ti_pipe(ti_prompts, guidance_scale=3.0, num_inference_steps=SAMPLE_STEPS,
                 output_type="pt", generator=torch.Generator().manual_seed(0)).images
in_memory = digits_t2i.make_pipeline(ti_parts, device)(
    ti_prompts, guidance_scale=3.0, num_inference_steps=SAMPLE_STEPS, output_type="pt",
    generator=torch.Generator().manual_seed(0)).images
print(f"{ti_file.name}: {ti_file.stat().st_size} bytes; loaded vs trained: max difference "
      f"{(loaded - in_memory).abs().max().item():.1e}")

# %% [markdown]
# Which words is the new one close to? The cosine similarity of the learned row to every
# row of the vocabulary:

# %%
vocab = ti_parts.tokenizer.convert_ids_to_tokens(list(range(token_id)))
similarity = torch.nn.functional.cosine_similarity(new_rows[token_id][None], new_rows[:token_id])
ranked = similarity.argsort(descending=True)[:5].tolist()
print("nearest words:", ", ".join(f"{vocab[i]} ({similarity[i]:.2f})" for i in ranked))
results["textual inversion"], ti_samples = measure(ti_parts, textual_inversion.ti_prompt)
show(["pretrained", "DreamBooth + prior", "textual inversion"],
     keys=("style_seen", "style_unseen", "subject_accuracy", "plain_accuracy", "class_drift"))

# %% [markdown]
# Textual inversion cannot hurt the rest of the model: every other word and every weight
# are the pretrained ones, so the plain prompts draw exactly what they drew before (class
# drift 0, the same plain accuracy). But it also cannot add a look the frozen model does
# not know how to draw. The new word hardly moves the samples towards the style, far less
# than DreamBooth does. Look at what it learned instead: its nearest words are number
# words, the digits the references show, and the subject prompts "a handwritten
# `<bold-italic>` digit five" are read as a five far less often than the plain ones
# (`subject_accuracy` below; 0.26 ± 0.04 over three seeds in
# `benchmarks/personalization.py`, against 0.98 before). With two threes and two sevens
# as its only evidence, the word learned the **content** the references share ("three or
# seven"), not their style, and it now overrides the digit that the prompt names. This is
# a classic failure of textual inversion: the embedding captures whatever explains the
# images best through the frozen model, and with few, similar references that can be the
# subject matter rather than the look. The optimisation **finds** the closest thing the
# model can already draw, while DreamBooth **teaches** the model something new, at the
# price of the drift that the prior loss has to hold back. Textual inversion shines when
# the subject is within the model's range (a particular writer's existing style, say),
# which is the case for large models far more often than for our small one.

# %% [markdown]
# <!-- section 6: Use cases (helper 14b) -->
# ## 6. Use cases side by side
#
# The same four reference images serve two different wishes:
#
# - **style adaptation**: "draw *everything* in this style". What counts is the style on
#   digits the references never showed (0, 1, 2, 4, 5, 6, 8, 9), and the plain prompts may
#   as well drift;
# - **personalization**: "add *my* subject as a new word, and leave the model otherwise as
#   it was". What counts is the subject on its prompt, with the plain prompts, and their
#   variety, unchanged.
#
# One figure with every method: the subject prompt for a reference digit (7) and for two
# unseen ones (2, 5), the plain prompt "a handwritten digit seven", and the measures.

# %%
methods = {"pretrained": base_samples, "DreamBooth, no prior": no_prior_samples,
           "DreamBooth + prior": prior_samples, "LoRA-DreamBooth + prior": lora_samples,
           "textual inversion": ti_samples}
panels = [("subject", 7, "'sks 7' (seen)"), ("subject", 2, "'sks 2' (unseen)"),
          ("subject", 5, "'sks 5' (unseen)"), ("plain", 7, "plain 'seven'")]
k = min(N_PER_DIGIT, 6)
fig, axes = plt.subplots(len(panels), len(methods), figsize=(2.1 * len(methods), 0.55 * len(panels) + 0.6))
for col, (name, samples) in enumerate(methods.items()):
    for row, (key, digit, label) in enumerate(panels):
        images = samples[key][samples["digits"] == digit][:k]
        genlab.viz.image_grid(images, ncols=k, ax=axes[row, col],
                              title=(f"{name}\n" if row == 0 else "") + label)
        axes[row, col].title.set_fontsize(7)
fig.tight_layout()

# %%
keys = [("style_unseen", "style on unseen digits (adaptation)"),
        ("style_seen", "style on 3 and 7"),
        ("plain_accuracy", "plain-prompt accuracy (prior kept)"),
        ("class_drift", "drift of 'digit 3/7'"),
        ("spread_subject", "spread of subject samples")]
names = list(methods)[1:]
fig, axes = plt.subplots(1, len(keys), figsize=(2.2 * len(keys), 2.4), sharey=True)
for ax, (key, label) in zip(axes, keys):
    ax.barh(names, [results[n].get(key, 0.0) for n in names], color="C0")
    if key in results["pretrained"]:
        ax.axvline(results["pretrained"][key], color="k", lw=0.8, ls="--")
    ax.set_title(label, fontsize=8)
    ax.tick_params(labelsize=7)
fig.tight_layout()
show(list(results))

# %% [markdown]
# Read the panels by use case. For **style adaptation**, what matters is the left-most
# panel of bars, the style on the unseen digits: only full DreamBooth (with the text
# encoder trained) carries it there, LoRA and textual inversion hardly do; without the
# prior loss the drift (every plain digit in the style) is no harm if *everything* should
# be bold italic. For **personalization**, the subject must appear on
# its prompt while the plain prompts keep their accuracy and look: DreamBooth with the
# prior loss, LoRA-DreamBooth (with the adapter switched off when it is not wanted) and,
# when the subject is within reach of the frozen model, textual inversion, which never
# changes anything else. The costs are in section 4 and 5: a whole UNet, tens of
# kilobytes, or a couple of hundred bytes per subject.

# %% [markdown]
# ## Quiz
#
# **Q1.** The guidance formula at $w = 0$ gives the unconditional prediction. What does
# `StableDiffusionPipeline(prompts, guidance_scale=0)` draw?
#
# - a) samples of the unconditional model: the prompt is ignored
# - b) the same images as `guidance_scale=1`: the pipeline guides only when
#   `guidance_scale > 1` and otherwise runs the conditional model alone
# - c) pure noise: the update is zero
# - d) an error: the scale must be at least 1
#
# **Q2.** Raising the guidance scale from 3 to 8 on this model will most likely:
#
# - a) raise accuracy a lot and lower FID
# - b) keep accuracy about the same, lower diversity and raise FID
# - c) raise diversity, since the samples move further from the unconditional model
# - d) change nothing: guidance only matters for large models
#
# **Q3.** Your hand-written guided DDIM loop gives grey, speckled images at $w = 5$ while
# `StableDiffusionPipeline` with the same UNet and `guidance_scale=5` gives clean digits.
# The most likely cause:
#
# - a) the pipeline uses a better random number generator
# - b) your loop used `DDIMScheduler`'s default `clip_sample=True`, which the pipeline
#   switches off
# - c) your loop forgot the VAE
# - d) guidance only works inside the pipeline
#
# **Q4.** A model fine-tuned with DreamBooth on five photos of "a sks dog" now draws that
# dog for every prompt with "dog" in it. Which change addresses this?
#
# - a) train longer, so the model tells "sks dog" from "dog"
# - b) add the prior-preservation loss on images of "a dog" generated by the original model
# - c) raise the guidance scale at sampling time
# - d) use a longer identifier than "sks"

# %% solution id=quiz_answers
answer_q1 = None  # "a", "b", "c" or "d"
answer_q2 = None
answer_q3 = None
answer_q4 = None
### BEGIN SOLUTION
answer_q1 = "b"
answer_q2 = "b"
answer_q3 = "b"
answer_q4 = "b"
### END SOLUTION

# %%
genlab.quiz.check_all("08_personalization", q1=answer_q1, q2=answer_q2, q3=answer_q3,
                      q4=answer_q4);

# %% tests id=test_quiz points=4
genlab.quiz.assert_letters(answer_q1=answer_q1, answer_q2=answer_q2, answer_q3=answer_q3,
                           answer_q4=answer_q4)
### BEGIN HIDDEN TESTS
assert answer_q1 == "b", "Q1: the pipeline applies guidance only for guidance_scale > 1; at 0 it runs the conditional model, as at 1."
assert answer_q2 == "b", "Q2: accuracy saturates by w = 3; diversity keeps falling and FID rising."
assert answer_q3 == "b", "Q3: clip_sample=True clips x0 but keeps the extrapolated noise; the pipeline turns it off."
assert answer_q4 == "b", "Q4: language drift; the prior-preservation loss keeps training on the class prompt's own images, which reduces it."
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# - A text-to-image diffusion model is a tokenizer and text encoder, a UNet that
#   cross-attends to the text vectors while it predicts the noise, a scheduler, and (for
#   large images) a VAE. Ours uses the same Diffusers and Transformers classes as Stable
#   Diffusion, so `StableDiffusionPipeline` runs it unchanged.
# - Classifier-free guidance: train with some empty captions, then sample with
#   $\epsilon_\varnothing + w(\epsilon_c - \epsilon_\varnothing)$. Accuracy saturates by
#   $w \approx 3$ while diversity falls, and FID rises past $w \approx 2$. For $w > 1$ the
#   pipeline's `guidance_scale` is exactly this loop; at or below 1 the pipeline runs the
#   conditional model alone. (Ho & Salimans' $w'$ is $w - 1$.) Build DDIM with
#   `clip_sample=False`.
# - DreamBooth teaches a new subject with a rare identifier; without the prior
#   preservation loss the class word drifts to the subject, and with it the drift is
#   roughly halved, not gone.
# - LoRA-DreamBooth trains a few percent of the parameters into a checkpoint of
#   kilobytes that the pipeline loads, switches and fuses.
# - Textual inversion learns a single word: it finds the closest concept the model can
#   already draw, but cannot teach it a new look; here it learned the references' content
#   (three or seven) instead of their style.
# - Next: **09 · Final quiz**.
