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
#   which gives the same images; how guidance trades diversity for faithfulness;
# - DreamBooth: teaching the model a new subject from a few images, and the prior
#   preservation loss that stops it from forgetting everything else;
# - LoRA-DreamBooth: the same with a few percent of the parameters and a checkpoint of
#   kilobytes, switched on and off in the pipeline;
# - textual inversion: learning one new word, and what a word cannot teach.
#
# **Prerequisites:** chapter 03 (the diffusion loss, DDIM sampling); chapter 07 (LoRA).
# **Run time:** about two minutes on a laptop CPU, a few seconds while graded.

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
accuracy_w1 = prompt_metrics.prompt_accuracy(x.cpu(), digits)
genlab.viz.image_grid(x.cpu(), ncols=10,
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
# prompt. $w = 0$ is the unconditional model, $w = 1$ the conditional one. Stable
# Diffusion's default is 7.5.
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
# This is the loop inside `StableDiffusionPipeline.__call__`. Put our parts into the real
# pipeline (`make_pipeline`: DDIM scheduler, no safety checker) and ask for the same
# prompts, seed, number of steps and `guidance_scale`: the images are the same, to the
# last bit on one machine. `output_type="pt"` returns images in [0, 1], so we map ours
# from [-1, 1] first.

# %%
pipe = digits_t2i.make_pipeline(parts, device)
ten = [digits_t2i.caption(k) for k in range(10)]
ours = sample_guided(ten, 3.0)
theirs = pipe(ten, guidance_scale=3.0, num_inference_steps=20, output_type="pt",
              generator=torch.Generator().manual_seed(0)).images
difference = ((ours + 1) / 2).clamp(0, 1).sub(theirs).abs().max().item()
fig, axes = plt.subplots(2, 1, figsize=(6, 1.6))
genlab.viz.image_grid(ours.cpu(), ax=axes[0], title="our loop, w = 3")
genlab.viz.image_grid(theirs.cpu() * 2 - 1, ax=axes[1],
                      title=f"StableDiffusionPipeline(guidance_scale=3): max difference {difference:.1e}")
fig.tight_layout()

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
# Accuracy climbs and saturates by $w \approx 3$, while diversity falls and FID rises
# the whole way: stronger guidance draws each digit in fewer, bolder ways (the ink
# grows), further from the variety of real handwriting. The first sample of each digit
# at each scale, from the same starting noise:

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

# %% [markdown]
# <!-- section 4: LoRA-DreamBooth (helper 14b) -->

# %% [markdown]
# <!-- section 5: Textual inversion (helper 14b) -->

# %% [markdown]
# <!-- section 6: Use cases (helper 14b) -->

# %% [markdown]
# ## Quiz
#
# **Q1.** In the guidance formula, what does $w = 0$ give?
#
# - a) the conditional model's prediction, as $w = 1$ does
# - b) samples of the unconditional model: the prompt is ignored
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
assert answer_q1 == "b", "Q1: w = 0 leaves eps_uncond: the unconditional model, prompt ignored."
assert answer_q2 == "b", "Q2: accuracy saturates by w = 3; diversity keeps falling and FID rising."
assert answer_q3 == "b", "Q3: clip_sample=True clips x0 but keeps the extrapolated noise; the pipeline turns it off."
assert answer_q4 == "b", "Q4: language drift; the prior-preservation loss keeps the class prompt's images."
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
#   $w \approx 3$ while diversity falls and FID rises; the pipeline's `guidance_scale` is
#   exactly this loop. Build DDIM with `clip_sample=False`.
# - DreamBooth teaches a new subject with a rare identifier; without the prior
#   preservation loss the class word drifts to the subject.
# - LoRA-DreamBooth trains a few percent of the parameters into a checkpoint of
#   kilobytes that the pipeline loads, switches and fuses.
# - Textual inversion learns a single word: it finds the closest concept the model can
#   already draw, but cannot teach it a new look.
# - Next: **09 · Final quiz**.
