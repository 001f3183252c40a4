# %% [markdown]
# # 07 · Fine-tuning: adapting a pretrained model
#
# Training a model from nothing needs a lot of data. Fine-tuning starts from a model that
# has already learned the general structure of its inputs and adapts it with a little
# data from a new *domain*. The catch: the model can **forget** what it knew. This
# chapter measures both sides, domain fit and forgetting, for every common way of
# fine-tuning, on a small Llama language model that ships with the course, and then
# adapts the course's digits GAN to a digit it has never seen.
#
# **What you will learn**
# - why a pretrained model beats training from scratch on a small domain set;
# - how full fine-tuning forgets (*catastrophic forgetting*), measured step by step;
# - what regularization is for here: a lower learning rate, L2-SP, early stopping;
# - layer freezing and ULMFiT's gradual unfreezing, and the CPU time they save;
# - LoRA by hand, then with PEFT (and rsLoRA's scaling); bottleneck adapters by hand;
# - prompt tuning, p-tuning and prefix tuning, and why they do not adapt a tiny model;
# - how to compare methods fairly: the frontier of domain fit against forgetting, over
#   learning rates, LoRA ranks and replay of general data;
# - few-shot transfer of a GAN (twenty images): early stopping on validation data, a
#   test number nothing was chosen on, and a real-versus-real yard stick at equal sample
#   sizes;
# - the same Accelerate loop on one CPU, a GPU, or several processes.
#
# **Prerequisites:** chapter 04 (AdamW, warm-up, schedules). What a transformer block is
# (attention, then an MLP, each with a residual connection).
# **Run time:** about 35 s on a 2-core CPU, a few seconds while graded.

# %% [markdown]
# ## Setup
#
# Everything runs offline: `HF_HUB_OFFLINE=1` makes a mistyped model path fail at once
# instead of waiting for a download. Every training run below goes through one loop,
# `genlab.finetune.loop.finetune`, built on Hugging Face Accelerate.

# %%
import copy
import os
import tempfile
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import matplotlib.pyplot as plt
import torch
from transformers.utils import logging as hf_logging

import genlab
from genlab.data import text
from genlab.finetune import adapters, freeze, lm, lora, prompt_tuning
from genlab.finetune.loop import TrainConfig, every, finetune
from genlab.pretrained import tiny_lm

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()
# Two deprecation notices of the pinned transformers/peft pair, harmless here.
warnings.filterwarnings("ignore", message=".*(is_gradient_checkpointing|past_key_values).*")
device = genlab.get_device()
genlab.seed_everything(0)
torch.set_num_threads(1)  # tiny models: extra threads cost more than they save
print(f"genlab {genlab.__version__} on {device}")

# %% [markdown]
# ## The pretrained model and the two corpora
#
# The model is a `LlamaForCausalLM`: the architecture of Meta's Llama (RMSNorm, rotary
# positions, SwiGLU MLPs), shrunk to 4 blocks of width 64. It was pretrained once by
# `python -m genlab.pretrained build tiny-llama-general` on a generated **general**
# corpus of everyday sentences, and ships as a `save_pretrained` folder whose files'
# SHA-256 hashes are checked before `from_pretrained(folder)` reads them: the same call
# that loads a real checkpoint from the Hugging Face hub.
#
# The **domain** is legal text: contract clauses. The general corpus held a trace of it
# (0.5% of its sentences), as a web crawl holds a little of everything; the legal
# training set is deliberately small, 150 sentences.

# %%
pretrained, tokenizer = tiny_lm.load_tiny_lm()
n_params = sum(p.numel() for p in pretrained.parameters())
print(f"{type(pretrained).__name__}: {n_params:,} parameters, vocabulary {len(tokenizer)}")
print("general:", text.load_corpus("general", "test")[0])
print("legal:  ", text.load_corpus("legal", "train")[0])

# %% [markdown]
# Sentences are tokenized word by word and packed into blocks of 32 tokens. Perplexity
# is $\exp$ of the mean next-token cross-entropy: the number of words the model is, on
# average, hesitating between. We track it on held-out legal text (**domain**) and on
# held-out general text (**general**: the forgetting probe). Curves use a validation
# split; the final numbers of each method use separate test blocks.

# %%
legal_test = text.pack_blocks(text.load_corpus("legal", "test"), tokenizer)
general_test = text.pack_blocks(text.load_corpus("general", "test"), tokenizer)
domain_train = text.pack_blocks(text.load_corpus("legal", "train"), tokenizer)
domain_val, domain_test = legal_test[:48], legal_test[48:176]
general_val, general_test = general_test[:48], general_test[48:176]
print(f"domain training set: {tuple(domain_train.shape)} blocks x tokens")


def evaluate(model, val=True):
    """Domain and general perplexity: validation blocks (curves) or test blocks."""
    d, g = (domain_val, general_val) if val else (domain_test, general_test)
    return {"domain_ppl": lm.perplexity(model, d), "general_ppl": lm.perplexity(model, g)}


base_scores = evaluate(pretrained, val=False)
print({k: round(v, 2) for k, v in base_scores.items()})

# %% [markdown]
# The pretrained model knows general text well (perplexity below 3: the templates leave a
# few plausible words at each position) and legal text less well: the 0.5% trace taught
# it some of the register, not its phrasing.
#
# One helper runs every experiment of the chapter: the shared loop with AdamW, a short
# linear warm-up and a linear decay, batches of 16 blocks drawn in a fixed order, and
# (optionally) an evaluation every few updates through the `every` callback.
# `genlab.budget` shrinks the runs while the notebook is graded.

# %%
STEPS = genlab.budget(60, 4)
CURVE_EVERY = genlab.budget(6, 2)
results = {}  # method -> numbers for the comparison in section 8


def train(model, lr=2e-3, params=None, callbacks=(), loss_fn=lm.causal_lm_loss, curve=False):
    config = TrainConfig(steps=STEPS, lr=lr, warmup_steps=min(5, STEPS - 1),
                         schedule="linear", seed=0)
    callbacks = [*callbacks, every(CURVE_EVERY, evaluate)] if curve else list(callbacks)
    batches = lm.training_loader(domain_train, batch_size=16, steps=STEPS, seed=0)
    return finetune(model, loss_fn, batches, config, params=params, callbacks=callbacks)


def record(name, model, history, trainable=None):
    results[name] = {**evaluate(model, val=False), "cpu_s": history.meta["cpu_seconds"],
                     "trainable": trainable or freeze.trainable_parameters(model)}
    print(name, {k: (round(v, 2) if isinstance(v, float) else v) for k, v in results[name].items()})

# %% [markdown]
# ## 1. Why start from a pretrained model
#
# Take the same architecture twice: once with random weights, once pretrained, and train
# both on the 150 legal sentences with the same recipe. The randomly initialized model
# must learn English word order, the vocabulary and the legal phrasing from about 2,000
# tokens; the pretrained one only has to learn the phrasing.

# %%
torch.manual_seed(0)
scratch = type(pretrained)(pretrained.config)  # same architecture, random weights
scratch_history = train(scratch, curve=True)
full = copy.deepcopy(pretrained)
full_history = train(full, curve=True)
record("full", full, full_history)

# %%
fig, ax = plt.subplots(figsize=(5, 3))
for name, h in [("from scratch", scratch_history), ("pretrained", full_history)]:
    ax.plot(h.steps["domain_ppl"], h["domain_ppl"], marker="o", ms=3, label=name)
ax.set(xlabel="update", ylabel="domain perplexity (validation)", yscale="log",
       title="150 legal sentences")
ax.legend();

# %% [markdown]
# Starting from the pretrained weights reaches a much lower domain perplexity with the
# same data and steps: pretraining already paid for what the two domains share (word
# classes, sentence shapes, the numbers). With millions of domain sentences the gap would
# shrink; with a small domain set it is the whole point of fine-tuning.
#
# ## 2. Full fine-tuning and catastrophic forgetting
#
# The run above updated every weight. The same run also logged the general perplexity:

# %%
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(full_history.steps["domain_ppl"], full_history["domain_ppl"], marker="o", ms=3,
        label="domain (legal)")
ax.plot(full_history.steps["general_ppl"], full_history["general_ppl"], marker="o", ms=3,
        label="general")
ax.set(xlabel="update", ylabel="perplexity (validation)", yscale="log",
       title="full fine-tuning, lr 2e-3")
ax.legend();
g = full_history["general_ppl"]
print(f"general perplexity: {g[0]:.2f} before, {g[-1]:.2f} after, max {max(g):.2f}")

# %% [markdown]
# While the domain perplexity falls, the general perplexity rises step after step: the
# gradient of the legal loss says nothing about general text, so it moves the shared
# weights wherever the legal data pulls them. This is **catastrophic forgetting**
# (McCloskey and Cohen 1989; French 1999). It is not a bug of the optimizer; it is what
# minimizing one loss does to another loss it cannot see.
#
# ## 3. Regularization against forgetting and overfitting
#
# Regularization restricts what training may do to the model, so that it does not fit
# noise (overfitting) or drift away from what it should keep. When fine-tuning, what we
# want to keep is the pretrained model, which suggests three tools:
#
# - **a lower learning rate**: the weights move less in the same number of steps;
# - **L2-SP** (Li et al. 2018): add $\frac{\lambda}{2}\lVert w - w_\text{pretrained}\rVert^2$
#   to the loss. Ordinary weight decay pulls weights towards 0, which erases pretraining;
#   L2-SP pulls them back to the *starting point*;
# - **early stopping**: keep the checkpoint with the best validation score instead of
#   the last one.
#
# Each trades something: the lower rate and L2-SP give up some domain fit, early
# stopping needs a validation set and an evaluation every few steps.

# %%
slow = copy.deepcopy(pretrained)
record("full, lr 3e-4", slow, train(slow, lr=3e-4))
l2sp = copy.deepcopy(pretrained)
l2sp_loss = lm.l2_sp_loss(pretrained.state_dict(), strength=0.5)
record("full + L2-SP", l2sp, train(l2sp, loss_fn=l2sp_loss))

# %% [markdown]
# Early stopping needs no new run: the curve of section 2 already has both validation
# perplexities every few updates. Which update to keep depends on what the validation
# set measures. Here the domain perplexity alone still falls at the last update (60
# updates do not overfit this templated domain), so stopping on it would keep the last
# checkpoint and all of its forgetting. A validation score that also measures what we
# want to keep, the sum of the two log-perplexities, picks an earlier update.

# %%
import math

score = [math.log(d) + math.log(g)
         for d, g in zip(full_history["domain_ppl"], full_history["general_ppl"])]
best = min(range(len(score)), key=score.__getitem__)
stop_step = full_history.steps["domain_ppl"][best]
print(f"early stopping at update {stop_step} of {STEPS}: domain "
      f"{full_history['domain_ppl'][best]:.2f}, general {full_history['general_ppl'][best]:.2f}"
      " (validation)")

# %%
fig, ax = plt.subplots(figsize=(5, 3.2))
for name in ["full", "full, lr 3e-4", "full + L2-SP"]:
    ax.scatter(results[name]["domain_ppl"], results[name]["general_ppl"], label=name)
ax.scatter(full_history["domain_ppl"][best], full_history["general_ppl"][best],
           marker="x", label=f"early stop (validation), update {stop_step}")
ax.axhline(base_scores["general_ppl"], ls=":", c="k", label="pretrained, general")
ax.set(xlabel="domain perplexity (lower: better fit)",
       ylabel="general perplexity (higher: forgot more)")
ax.legend(fontsize=7);

# %% [markdown]
# Read the figure from the bottom left (good at both) to the top right. The unregularized
# run fits the domain best and forgets most; each regularizer moves the result down
# (less forgetting) and a little to the right (less domain fit). Which point is best
# depends on what the model is for: a legal assistant that must still write ordinary
# sentences wants the lower points.
#
# ## 4. Layer freezing and gradual unfreezing
#
# Another way to keep the pretrained model is to leave most of it alone. **Freezing**
# sets `requires_grad=False` on a parameter: it gets no gradient and the optimizer skips
# it. Lower layers of a language model hold the most general features (word identity,
# local syntax), so the usual choice is to train only the top.
#
# ### Exercise 1: freeze all but some parameters
#
# Write `freeze_all_but(model, prefixes)`: set `requires_grad` to `True` for every
# parameter whose name (as in `model.named_parameters()`) starts with one of `prefixes`
# and to `False` for all others, and return the number of trainable scalars afterwards
# (an `int`). `prefixes` may be a single string. If a prefix matches no parameter at all,
# raise `ValueError` (a typo there would silently freeze the whole model).

# %% solution id=freeze_all_but
def freeze_all_but(model, prefixes):
    """Freeze every parameter not named by a prefix; return the trainable count (int)."""
    ### BEGIN SOLUTION
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    prefixes = tuple(prefixes)
    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name in names):
            raise ValueError(f"prefix {prefix!r} matches no parameter")
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(prefixes))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
    ### END SOLUTION

# %% tests id=test_freeze_all_but points=2
net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
assert freeze_all_but(net, ["1."]) == 4 * 2 + 2
assert not net[0].weight.requires_grad and net[1].weight.requires_grad
assert freeze_all_but(net, "0.bias") == 4
### BEGIN HIDDEN TESTS
genlab.grading.check_here("07_finetuning", "test_freeze_all_but")
### END HIDDEN TESTS

# %% [markdown]
# ULMFiT (Howard and Ruder 2018) splits a model into **layer groups** and, top first,
# unfreezes one more group per epoch: the top block with the final norm, then each block
# below it, then the embeddings. The paper combines this with two more ingredients that
# we leave out here to change one thing at a time: **discriminative learning rates**
# (each group's rate is the one above it divided by 2.6, so lower layers move less;
# genlab's `freeze.discriminative_param_groups` builds those AdamW parameter groups) and
# **slanted triangular** schedules (a short linear rise, then a long linear decay; our
# warm-up and linear decay are that shape). Our 60 updates of 16 blocks pass over the 61
# training blocks about 16 times, so one group per epoch would unfreeze everything
# within 20 updates; we spread the groups evenly over the run instead, one more every
# *k* updates. genlab's `freeze.layer_groups` builds the groups for any Hugging Face
# transformer.

# %%
groups = freeze.layer_groups(pretrained)
print([len(g) for g in groups], "tensors per group, top first")
ulmfit_lrs = [g["lr"] for g in freeze.discriminative_param_groups(pretrained, groups, 2e-3)]
print("ULMFiT's discriminative rates, top first:", ", ".join(f"{lr:.1e}" for lr in ulmfit_lrs))
frozen = copy.deepcopy(pretrained)
print(f"trainable: {freeze.freeze_all_but(frozen, groups[0]):,} of {n_params:,}")
record("freeze (top block)", frozen, train(frozen))

# %% [markdown]
# ### Exercise 2: the gradual-unfreezing schedule
#
# Write `unfrozen_groups(step, num_groups, every)`: how many groups (top first) train in
# the update that follows `step` finished updates. The top group trains from the start,
# one more group joins every `every` updates, and never more than `num_groups`.

# %% solution id=unfrozen_groups
def unfrozen_groups(step, num_groups, every):
    """Number of trainable groups after ``step`` updates (an int in 1..num_groups)."""
    ### BEGIN SOLUTION
    return min(num_groups, 1 + step // every)
    ### END SOLUTION

# %% tests id=test_unfrozen_groups points=2
assert [unfrozen_groups(s, 3, 2) for s in range(7)] == [1, 1, 2, 2, 3, 3, 3]
### BEGIN HIDDEN TESTS
genlab.grading.check_here("07_finetuning", "test_unfrozen_groups")
### END HIDDEN TESTS

# %% [markdown]
# genlab's `GradualUnfreezing` callback applies that schedule in the loop, toggling
# `requires_grad` after each update. We give the optimizer every parameter that may ever
# train (frozen ones get no gradient, so AdamW skips them) and spread the five groups
# over the run.

# %%
gradual = copy.deepcopy(pretrained)
schedule = freeze.GradualUnfreezing(gradual, freeze.layer_groups(gradual),
                                    every=max(1, STEPS // len(groups)))
gradual_history = train(gradual, params=list(gradual.parameters()), callbacks=[schedule])
record("gradual unfreezing", gradual, gradual_history)

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
axes[0].step(gradual_history.steps["unfrozen_groups"], gradual_history["unfrozen_groups"],
             where="post")
axes[0].set(xlabel="update", ylabel="groups training", title="ULMFiT schedule")
names = ["full", "freeze (top block)", "gradual unfreezing"]
axes[1].bar(range(3), [results[n]["cpu_s"] / STEPS * 1000 for n in names])
axes[1].set_xticks(range(3), ["full", "freeze", "gradual"])
axes[1].set(ylabel="CPU ms per update", title="cost of one update");

# %% [markdown]
# Freezing everything below the top block saves compute: autograd builds no graph below
# the first trainable layer, so the backward pass stops there: about half the cost of a
# full update, the largest saving of any method in this chapter. Gradual unfreezing
# starts as cheap and ends as expensive as full fine-tuning; it protects the lower
# layers by letting the top adapt first, while the gradients are still large and noisy.
#
# ## 5. LoRA by hand, then with PEFT
#
# **LoRA** (Hu et al. 2021) keeps a pretrained weight $W$ (shape out x in) frozen and
# learns a low-rank update $\Delta W = \frac{\alpha}{r} B A$, with $A$ of shape r x in and
# $B$ of shape out x r:
#
# $$ y = x W^\top + b + \tfrac{\alpha}{r}\, x A^\top B^\top. $$
#
# $B$ starts at zero, so the adapted model starts exactly as the pretrained one; $A$
# starts random (Kaiming-uniform, as PEFT does), so $B$ gets a gradient at once. The
# factor $\alpha / r$ was meant to keep the update's size the same when you change the
# rank; Kalajdzievski (2023) showed that with it, higher ranks learn *slower* (the update
# shrinks as $r$ grows), and that $\alpha / \sqrt{r}$ (**rsLoRA**, PEFT's
# `LoraConfig(use_rslora=True)`) keeps the learning speed independent of the rank.
# Section 8 measures both over ranks 1 to 64.
#
# ### Exercise 3: the LoRA forward pass
#
# Write `lora_forward(x, weight, bias, lora_A, lora_B, scaling)`. `x` has shape
# `(..., in)` (any leading dimensions); `bias` may be `None`. Multiply by $A$ before $B$:
# that costs $r(\text{in} + \text{out})$ per row instead of in x out.

# %% solution id=lora_forward
def lora_forward(x, weight, bias, lora_A, lora_B, scaling):
    """x W^T + b + scaling * x A^T B^T, shape (..., out)."""
    ### BEGIN SOLUTION
    out = x @ weight.T + (0 if bias is None else bias)
    return out + scaling * (x @ lora_A.T) @ lora_B.T
    ### END SOLUTION

# %% tests id=test_lora_forward points=3
x, W = torch.ones(2, 3), torch.eye(3)
A, B = torch.ones(1, 3), torch.ones(3, 1)
out = lora_forward(x, W, None, A, B, scaling=0.5)
assert out.shape == (2, 3), f"expected shape (2, 3), got {tuple(out.shape)}"
assert torch.allclose(out, torch.full((2, 3), 2.5)), "1 + 0.5 * (1 + 1 + 1) = 2.5 per entry"
### BEGIN HIDDEN TESTS
genlab.grading.check_here("07_finetuning", "test_lora_forward")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 4: merging LoRA into the weight
#
# After training, the update can be folded into the weight, so inference costs nothing
# extra. Write `merge_lora_weight(weight, lora_A, lora_B, scaling)` returning the merged
# weight of shape `(out, in)`.

# %% solution id=merge_lora_weight
def merge_lora_weight(weight, lora_A, lora_B, scaling):
    """W + scaling * B @ A, shape (out, in)."""
    ### BEGIN SOLUTION
    return weight + scaling * lora_B @ lora_A
    ### END SOLUTION

# %% tests id=test_merge_lora points=2
merged = merge_lora_weight(torch.eye(2), torch.ones(1, 2), torch.tensor([[1.0], [0.0]]), 2.0)
assert torch.allclose(merged, torch.tensor([[3.0, 2.0], [0.0, 1.0]]))
### BEGIN HIDDEN TESTS
genlab.grading.check_here("07_finetuning", "test_merge_lora")
### END HIDDEN TESTS

# %% [markdown]
# genlab's `LoRALinear` is the same computation wrapped around an `nn.Linear`, and
# `add_lora` swaps it in for the named layers. Following the LoRA paper we adapt the
# attention's query and value projections, with rank 8 and $\alpha = 16$.

# %%
hand = lora.add_lora(copy.deepcopy(pretrained), ["q_proj", "v_proj"], r=8, alpha=16.0)
print(hand.model.layers[0].self_attn.q_proj)
record("LoRA by hand (q, v)", hand, train(hand, lr=5e-3))

# %% [markdown]
# The library version is PEFT's `LoraConfig`. To check that the two are the same
# method, not merely similar, we build the PEFT model, copy our trained $A$ and $B$ into
# it and compare: the outputs and the merged weights must agree to float32 rounding.

# %%
from peft import LoraConfig, get_peft_model

peft_lora = get_peft_model(copy.deepcopy(pretrained), LoraConfig(
    r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]))
for name, module in hand.named_modules():
    if isinstance(module, lora.LoRALinear):
        target = peft_lora.get_submodule("base_model.model." + name)
        target.lora_A["default"].weight.data.copy_(module.lora_A.data)
        target.lora_B["default"].weight.data.copy_(module.lora_B.data)
ids = domain_test[:4].to(next(hand.parameters()).device)
with torch.no_grad():
    diff = (hand(ids).logits - peft_lora.to(ids.device)(ids).logits).abs().max().item()
print(f"max |ours - PEFT| over the logits: {diff:.1e}")

# %% [markdown]
# Two properties make LoRA practical. **Switching the adapter off restores the base model
# exactly**, because $W$ was never touched; and **merging** gives one plain weight matrix.

# %%
with peft_lora.disable_adapter():
    off = lm.perplexity(peft_lora, general_test)
print(f"general perplexity: pretrained {base_scores['general_ppl']:.4f}, "
      f"adapter off {off:.4f}, adapter on {results['LoRA by hand (q, v)']['general_ppl']:.4f}")
layer = hand.model.layers[0].self_attn.q_proj
merged_peft = copy.deepcopy(peft_lora).merge_and_unload()
w_diff = (layer.merged_weight() - merged_peft.model.layers[0].self_attn.q_proj.weight).abs().max()
print(f"merged weight, ours vs PEFT's merge_and_unload: max difference {w_diff.item():.1e}")

# %% [markdown]
# Rank and target modules are a **forgetting knob**: adapting every linear layer of every
# block (attention and MLP) gives LoRA more freedom, so it fits the domain better and
# moves further from the pretrained model.

# %%
wide = get_peft_model(copy.deepcopy(pretrained), LoraConfig(
    r=8, lora_alpha=16, lora_dropout=0.0,
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
record("LoRA, all linear layers", wide, train(wide, lr=5e-3))

# %% [markdown]
# ## 6. Adapters (bottleneck) by hand
#
# **Adapters** (Houlsby et al. 2019) insert a small residual module into each block
# while the pretrained weights stay frozen: $h + W_\text{up}\,\mathrm{act}(W_\text{down} h)$,
# projecting the width 64 down to a bottleneck of 16 and back. The up-projection starts
# at zero, so an inserted adapter is exactly the identity. We put one after each block's
# MLP (Pfeiffer et al. 2021 found that one place is enough); unlike LoRA, an adapter
# cannot be merged away: it costs a little at inference.

# %%
with_adapters = adapters.add_adapters(copy.deepcopy(pretrained), bottleneck=16)
with torch.no_grad():
    same = torch.equal(with_adapters(ids.cpu()).logits, pretrained(ids.cpu()).logits)
print(f"identical to the pretrained model at init: {same}; "
      f"{freeze.trainable_parameters(with_adapters):,} trainable = 4 x (2 x 64 x 16 + 16 + 64)")
record("adapters (bottleneck 16)", with_adapters, train(with_adapters, lr=5e-3))

# %% [markdown]
# ## 7. Prompt tuning, p-tuning and prefix tuning
#
# These methods leave every weight frozen and change what the model *reads*.
# **Prompt tuning** (Lester et al. 2021) learns a few "virtual token" embeddings that are
# put in front of every input; **p-tuning** (Liu et al. 2021) produces them with a small
# *prompt encoder* (an LSTM followed by an MLP in the paper; PEFT's `PromptEncoderConfig`
# uses an MLP by default, `encoder_reparameterization_type="LSTM"` gives the paper's);
# **prefix tuning** (Li and Liang 2021) learns keys and values for every attention
# layer, so it reaches into every block instead of only the input.
#
# ### Exercise 5: prepend virtual tokens
#
# Write `prepend_virtual_tokens(inputs_embeds, attention_mask, virtual_tokens)`.
# `inputs_embeds` has shape `(batch, seq, dim)`, `attention_mask` `(batch, seq)` (or
# `None`, meaning all ones), `virtual_tokens` `(num_virtual, dim)`. Return the embeddings
# with the virtual tokens in front of every sequence, `(batch, num_virtual + seq, dim)`,
# and the mask with ones in front, `(batch, num_virtual + seq)`, in the dtype of
# `attention_mask` (`torch.long` when it is `None`). Gradients must reach
# `virtual_tokens`.

# %% solution id=prepend_virtual_tokens
def prepend_virtual_tokens(inputs_embeds, attention_mask, virtual_tokens):
    """(embeds with the prompt in front, mask with ones in front)."""
    ### BEGIN SOLUTION
    batch, seq, _ = inputs_embeds.shape
    if attention_mask is None:
        attention_mask = torch.ones(batch, seq, dtype=torch.long, device=inputs_embeds.device)
    prompt = virtual_tokens.unsqueeze(0).expand(batch, -1, -1)
    ones = attention_mask.new_ones(batch, virtual_tokens.shape[0])
    return torch.cat([prompt, inputs_embeds], 1), torch.cat([ones, attention_mask], 1)
    ### END SOLUTION

# %% tests id=test_prepend_virtual_tokens points=3
emb, mask = prepend_virtual_tokens(torch.zeros(2, 3, 4), None, torch.ones(5, 4))
assert emb.shape == (2, 8, 4) and mask.shape == (2, 8), (emb.shape, mask.shape)
assert emb[:, :5].eq(1).all() and emb[:, 5:].eq(0).all(), "virtual tokens go first"
assert mask.dtype == torch.long and mask.eq(1).all()
### BEGIN HIDDEN TESTS
genlab.grading.check_here("07_finetuning", "test_prepend_virtual_tokens")
### END HIDDEN TESTS

# %% [markdown]
# genlab's `PromptTuning` wraps a frozen model with exactly that (and `-100` labels on
# the virtual positions, so nothing is predicted for them). On the same prompt it gives
# the same outputs as PEFT's `PromptTuningConfig`:

# %%
from peft import PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType

ours = prompt_tuning.PromptTuning(copy.deepcopy(pretrained), num_virtual_tokens=10)
theirs = get_peft_model(copy.deepcopy(pretrained), PromptTuningConfig(
    task_type=TaskType.CAUSAL_LM, num_virtual_tokens=10))
theirs.prompt_encoder["default"].embedding.weight.data.copy_(ours.prompt.data)
with torch.no_grad():
    diff = (ours(ids.cpu()).logits - theirs(input_ids=ids.cpu()).logits).abs().max().item()
print(f"max |ours - PEFT|: {diff:.1e}")

# %% [markdown]
# Now the three PEFT methods, each with 10 virtual tokens and a learning rate suited to
# it (they move few numbers, so they take larger steps). First, how PEFT initializes the
# virtual tokens, against the model's own word embeddings:

# %%
fresh = get_peft_model(copy.deepcopy(pretrained), PromptTuningConfig(
    task_type=TaskType.CAUSAL_LM, num_virtual_tokens=10))
virtual = fresh.prompt_encoder["default"].embedding.weight.detach()
words = pretrained.get_input_embeddings().weight.detach()
print(f"mean row norm: PEFT's initial virtual tokens {virtual.norm(dim=1).mean():.2f}, "
      f"the model's word embeddings {words.norm(dim=1).mean():.2f}")

# %%
configs = {
    "prompt tuning": (PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=10), 3e-2),
    "p-tuning": (PromptEncoderConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=10,
                                     encoder_hidden_size=64), 1e-2),
    "prefix tuning": (PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=10), 1e-2),
}
prompted = {}
for name, (config, lr) in configs.items():
    prompted[name] = get_peft_model(copy.deepcopy(pretrained), config)
    record(name, prompted[name], train(prompted[name], lr=lr))

# %%
names = ["full", "LoRA by hand (q, v)", "prompt tuning", "p-tuning", "prefix tuning"]
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.barh(range(len(names)), [results[n]["domain_ppl"] for n in names])
ax.axvline(base_scores["domain_ppl"], ls=":", c="k", label="pretrained")
ax.set_yticks(range(len(names)), names)
ax.set(xlabel="domain perplexity (test)", xscale="log")
ax.legend();

# %% [markdown]
# At this size prompt tuning and p-tuning do not even beat the pretrained model within
# 60 updates. PEFT's default initialization (`prompt_tuning_init="RANDOM"`) draws the ten
# virtual tokens from $\mathcal N(0, 1)$: vectors far longer than the model's word
# embeddings (printed above), which disturb every input, and 60 updates barely undo
# that. Starting from the embeddings of random vocabulary words instead
# (`prompt_tuning_init="SAMPLE_VOCAB"`) gives about the same result here (section 8's
# benchmark runs both). Prefix tuning does better. That is the honest result,
# and it is what Lester et al. report: prompt tuning catches up with full fine-tuning
# only for models with billions of parameters. A few input vectors can steer a huge
# model that already "knows" the domain; they cannot teach a 177k-parameter model new
# phrasing. Prefix tuning acts inside every attention layer, which gives it more
# leverage.
#
# ## 8. The frontier: domain fit against forgetting
#
# Every method so far gave one point, at one learning rate. That cannot tell a better
# method from a gentler setting: a lower learning rate also forgets less. The fair
# comparison is a **frontier**: for each method, sweep the knob that trades fit for
# forgetting, and see which curves lie lower and further left. First, what this
# notebook's runs trained and saved (the full model, the top block, or only the adapter):

# %%
from safetensors.torch import save_file

saved = {"full": lm.Prepared(full, "full"), "freeze (top block)": lm.Prepared(frozen, "freeze"),
         "gradual unfreezing": lm.Prepared(gradual, "gradual"),
         "adapters (bottleneck 16)": lm.Prepared(with_adapters, "adapter"),
         "LoRA, all linear layers": lm.Prepared(wide, "lora"),
         **{n: lm.Prepared(m, "prompt") for n, m in prompted.items()}}
with tempfile.TemporaryDirectory() as tmp:
    for i, (name, prepared) in enumerate(saved.items()):
        results[name]["bytes"] = lm.save_trained(prepared, os.path.join(tmp, str(i)))
    save_file(lora.lora_state_dict(hand), os.path.join(tmp, "lora.safetensors"))
    results["LoRA by hand (q, v)"]["bytes"] = os.path.getsize(os.path.join(tmp, "lora.safetensors"))
for name in ["full, lr 3e-4", "full + L2-SP"]:  # whole models, like full fine-tuning
    results[name]["bytes"] = results["full"]["bytes"]
for name, r in results.items():
    print(f"{name:26s} {r['trainable']:>8,} trainable ({r['trainable'] / n_params:6.1%})"
          f"  {r['cpu_s'] / STEPS * 1000:4.0f} ms/update  domain {r['domain_ppl']:6.2f}"
          f"  general {r['general_ppl']:5.2f}  {r.get('bytes', 0) / 1024:6.1f} KB")

# %% [markdown]
# The sweeps take about five minutes, too long for this notebook, so
# `benchmarks/finetune_frontier.py` ran them once with this chapter's recipe (60 updates,
# the same test blocks), three seeds each, and stored the results with the machine and
# the date; we plot the seed means. Full fine-tuning and L2-SP sweep the learning rate
# (1e-4 to 5e-3); LoRA on every linear layer sweeps the rank (1, 4, 16, 64) at a
# learning rate of 5e-3, once with the usual scaling $\alpha/r$ and once with rsLoRA's
# $\alpha/\sqrt{r}$; **replay** mixes a share of *general* text into every batch of
# full fine-tuning (2, 4 or 8 of the 16 blocks), reminding the model of what it should
# keep. This notebook's own runs are the crosses: where they repeat a benchmark setting
# they land on its curve.

# %%
import json
from pathlib import Path

FRONTIER = Path(genlab.__file__).resolve().parents[1] / "benchmarks/results/finetune_frontier.json"
frontier = json.loads(FRONTIER.read_text()) if FRONTIER.exists() else {"runs": []}
if not frontier["runs"]:  # genlab installed without the repository: live points only
    print(f"no stored frontier at {FRONTIER}; run benchmarks/finetune_frontier.py")


def sweep(family, knob, **fixed):
    """Seed means of one family's runs, ordered by ``knob``: (knob values, domain, general)."""
    runs = [r for r in frontier["runs"]
            if r["family"] == family and all(r.get(k) == v for k, v in fixed.items())]
    values = sorted({r[knob] for r in runs})
    mean = [{k: sum(r[k] for r in runs if r[knob] == v) / sum(r[knob] == v for r in runs)
             for k in ("domain_ppl", "general_ppl")} for v in values]
    return values, [m["domain_ppl"] for m in mean], [m["general_ppl"] for m in mean]

# %%
curves = {"full fine-tuning (lr)": sweep("full", "lr"), "L2-SP (lr)": sweep("l2sp", "lr"),
          "replay (share)": sweep("replay", "replay"),
          "LoRA, all linear (rank)": sweep("lora", "r", lr=5e-3),
          "rsLoRA, all linear (rank)": sweep("rslora", "r"),
          "LoRA q, v (r 8)": sweep("lora_qv", "r"), "prompt tuning (init)": sweep("prompt", "init")}
fig, ax = plt.subplots(figsize=(7, 4.2))
for name, (values, d, g) in curves.items():
    if not values:
        continue
    line, = ax.plot(d, g, "o-" if len(d) > 2 else "s", ms=4, label=name)
    for v, x, y in [(values[0], d[0], g[0]), (values[-1], d[-1], g[-1])][:len(values)]:
        ax.annotate(f"{v:g}" if isinstance(v, float) else str(v), (x, y), fontsize=6,
                    color=line.get_color(), xytext=(3, 3), textcoords="offset points")
for i, r in enumerate(results.values()):
    ax.scatter(r["domain_ppl"], r["general_ppl"], marker="x", c="k", s=18, lw=0.8,
               label="this notebook's runs" if i == 0 else None)
ax.scatter(base_scores["domain_ppl"], base_scores["general_ppl"], marker="*", s=120, c="k")
ax.annotate("pretrained", (base_scores["domain_ppl"], base_scores["general_ppl"]), fontsize=7)
ax.set(xscale="log", yscale="log", xlabel="domain perplexity (test, lower: more learned)",
       ylabel="general perplexity (test, higher: more forgotten)")
plain = plt.FuncFormatter(lambda v, _: f"{v:g}")  # 3, not 3x10^0
for axis in (ax.xaxis, ax.yaxis):
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain)
ax.legend(fontsize=7, loc="upper right");

# %% [markdown]
# What the frontier shows, for a model this small (seed means from
# `benchmarks/results/finetune_frontier.md`; the seeds agree to a few hundredths in
# domain perplexity):
#
# - **The learning rate traces full fine-tuning's curve**: from 3.20 domain / 2.84
#   general at 1e-4 to 2.08 / 4.74 at 2e-3; at 5e-3 it forgets catastrophically
#   (general 43) without fitting better.
# - **Replay and L2-SP make the frontier.** Half a batch of general text keeps the general
#   perplexity at 2.95 while the domain reaches 2.18, almost full fine-tuning's 2.08;
#   L2-SP caps the drift (general at most 2.96 at every rate) and reaches a domain
#   perplexity of 2.5 to 2.6 from lr 1e-3 up. Replay needs the general data, which a user of someone else's model often
#   does not have; L2-SP needs only the pretrained weights.
# - **LoRA learns less and forgets less** than full fine-tuning at its usual rate: on
#   q and v, 3.19 / 2.95 against 2.08 / 4.74. That is what Biderman et al. (2024) report
#   for 7-billion-parameter models ("LoRA Learns Less and Forgets Less"). But here it is
#   not a better trade: full fine-tuning at lr 3e-4 (2.71 / 2.93) and L2-SP at 3e-4
#   (2.95 / 2.87) are better on *both* axes. LoRA's low forgetting was bought by
#   learning less, which a lower learning rate buys as well.
# - **Rank**: LoRA on every linear layer reaches a domain perplexity of 2.38-2.41 at
#   ranks 4 to 64 (2.49 at rank 1) with a general perplexity of 3.8-4.2, above full
#   fine-tuning's curve: full fine-tuning at lr 1e-3 both fits better (2.16) and forgets
#   less (3.65). Higher LoRA learning rates (1e-2, 2e-2, in the benchmark's table) add
#   forgetting, not fit. With $\alpha/r$ the ranks behave alike at one learning rate;
#   rsLoRA's $\alpha/\sqrt{r}$
#   makes the high ranks take larger steps, which here buys no fit and more forgetting
#   (rank 64: general 8.8 against 3.9). Both are identical at rank 1.
# - **Prompt tuning** sits above and to the right of the pretrained model: it learns
#   nothing here and still raises the general perplexity (3.28 with PEFT's random
#   initialization, 3.44 starting from vocabulary words), because its virtual tokens sit
#   in front of every input, general text included. Changing little is not forgetting
#   little.
#
# And the cost, from the table above. LoRA on q and v and the adapters train under 5% of
# the parameters (8,192 and 8,512 of 176,768) and save checkpoints of about 35 KB;
# LoRA on every linear layer trains 34,816 (19.7%) and saves about 140 KB, and at rank
# 64 it would train more numbers (278,528) than the model has. All LoRA variants can be
# switched off to get the pretrained model back exactly. Parameter-efficient methods save
# optimizer memory and checkpoint bytes far more than compute: the forward pass and the
# backward pass through the activations still run through the whole frozen network; only
# the weight gradients of the frozen layers are skipped (LoRA's updates cost about as
# much as full ones, and prompt methods, which lengthen the sequence, cost more: 3.0,
# 3.1 and 3.5 CPU s for 60 updates in `benchmarks/results/finetune.md`; the times in the
# table above come from a shared CPU and are rough).
# On a 7-billion-parameter model the memory saving is what makes fine-tuning fit on one
# GPU at all.

# %% [markdown]
# <!-- section 9: GAN transfer (helper 19b) -->
#
# ## 9. GAN transfer: from the digits 0-8 to nines, with twenty images
#
# Fine-tuning works for generators too. The course ships the digits DCGAN of chapter 06,
# pretrained by `python -m genlab.pretrained build dcgan-digits-0to8` on the digits 0 to
# 8 only: it has never seen a nine. We adapt it to nines from **20 images**. The other 160
# nines are split in two, as the language-model sections split their test text: 80
# **validation** nines choose when to stop, and 80 **test** nines give the number we
# report, which nothing was chosen on.
#
# Two things differ from the language model. A generator has no prompt that could ask
# for the old digits, so it is *meant* to forget them; we only watch how fast it does.
# And with 20 images the danger is **overfitting**: the discriminator learns the twenty
# by heart, and then the generator is rewarded for copying them. First, what the
# pretrained generator draws, and how the course's digits classifier reads 300 samples.

# %%
from genlab.finetune import gan_transfer
from genlab.pretrained.dcgan_digits_0to8 import load_dcgan_digits_0to8
from genlab.viz import gan_transfer as gan_viz

G, D = load_dcgan_digits_0to8(device)
classes_before = gan_transfer.class_histogram(G)
genlab.viz.image_grid(G.sample(20), title="pretrained on the digits 0-8")
print(f"samples read as a nine: {classes_before[9]:.0%}")

# %% [markdown]
# `TransferEvaluator` measures a generator on a fixed batch of 80 noise vectors: the
# digits-FID of chapter 06 against the validation nines and against the test nines
# (lower is better), the FID against the old digits 0-8, and how close the samples come
# to the training images.
#
# What FID counts as good? Chapter 06 showed that FID is biased upwards for few samples,
# so a yard stick must use the same sample sizes as the generator: 80 real nines scored
# against 80 other real nines. Which 80 land on which side changes the number, so we
# draw 20 random splits of the 160 held-out nines and keep the spread too.

# %%
nines_train, nines_val, nines_test = gan_transfer.few_shot_split(20, 80)
evaluator = gan_transfer.TransferEvaluator(nines_train, nines_val, n_samples=80, test=nines_test)
floor = gan_transfer.real_fid_floor(torch.cat([nines_val, nines_test]), 80, 80, draws=20)
genlab.viz.image_grid(nines_train, title="the 20 training nines")
print(f"real nines against real nines, 80 against 80: FID {floor.mean():.1f} "
      f"(range {floor.min():.1f}-{floor.max():.1f} over 20 splits)")

# %% [markdown]
# ### Full fine-tuning, watched every 50 steps
#
# Both networks keep training from their pretrained weights: the non-saturating loss and
# Adam with betas (0.5, 0.999), as in pretraining, at a learning rate of 2e-3. A GAN step
# is two updates with two optimizers (first D, then G through D), so it runs in the GAN
# loop of chapter 06, `train_gan_digits`, rather than in this chapter's `finetune`.
# `transfer_gan` adds the evaluation every 50 steps and **early stopping**: it keeps a
# copy of the generator with the lowest *validation* FID and puts it back at the end.

# %%
config = gan_transfer.TransferConfig(steps=genlab.budget(600, 20), lr=2e-3,
                                     eval_every=genlab.budget(50, 10))
G_full, D_full = load_dcgan_digits_0to8(device)
run_full = gan_transfer.transfer_gan(G_full, D_full, nines_train, nines_val,
                                     config, evaluator=evaluator)


def selected(run):
    """Validation and test FID at the step early stopping selected, and test at the end."""
    i = run.steps["fid_nines"].index(run.meta["best_step"])
    return run["fid_nines"][i], run["fid_test"][i], run["fid_test"][-1]


val_full, test_full, last_full = selected(run_full)
print(f"{config.steps} steps in {run_full.meta['train_seconds']:.1f} CPU s; selected step "
      f"{run_full.meta['best_step']} (validation FID {val_full:.1f}); test FID there "
      f"{test_full:.1f}, at the last step {last_full:.1f}")

# %% [markdown]
# On the left, the validation FID (solid) falls by about ten times in the first 50
# steps, improves slowly to its minimum a few hundred steps later, and then drifts up
# between bumps: the generator keeps changing, but no longer towards nines in general.
# The test FID (dotted) follows it. Both stay well above the
# grey band of real nines against real nines: twenty images make a generator whose
# nines a feature network still tells from real ones, by about three times the
# real-versus-real distance. On the right, the FID to the old digits shoots up in the
# first 50 steps: the digits 0-8 are forgotten almost at once.

# %%
def plot_runs(runs):
    axes = gan_viz.plot_transfer_curves(runs)
    for run in runs.values():
        axes[0].plot(run.steps["fid_test"], run["fid_test"], ls=":", c="k", lw=0.8)
    axes[0].axhspan(floor.min(), floor.max(), color="gray", alpha=0.25,
                    label="real vs real, 80 vs 80")
    axes[0].set_title("FID to validation (solid) and test (dotted) nines", fontsize=9)
    axes[0].legend(fontsize=7)
    return axes


plot_runs({"full fine-tuning": run_full});

# %% [markdown]
# Why does the FID climb? Measure, for each sample, the feature distance to its nearest
# training nine and to its nearest nine among 20 held-out ones. A generator that learned
# "nines" is as close to one set as to the other. Both distances fall while the generator
# learns to draw nines; then the distance to the training nines keeps falling while the
# distance to new nines levels off: the samples drift towards the twenty images they were
# trained on. That is overfitting, seen from the samples.

# %%
gan_viz.plot_memorisation(run_full)
gap = run_full["nn_held_out"][-1] - run_full["nn_train"][-1]
print(f"at the last step, samples are {gap:.2f} closer to a training nine than to a new one")

# %% [markdown]
# The forgetting, counted: the classifier's reading of 300 samples before and after.

# %%
classes_after = gan_transfer.class_histogram(G_full)
gan_viz.plot_class_histograms({"pretrained": classes_before,
                               "fine-tuned (selected step)": classes_after});

# %% [markdown]
# ### Early stopping, and FreezeD
#
# `G_full` now holds the weights of the selected step, not the last: the validation FID
# played the part a validation loss plays for a classifier, and the test FID at that step
# is the honest estimate of what we got. Early stopping can also *stop*: with
# `patience=3` a run ends after three evaluations without a new validation minimum. Such
# a run is the same run as ours up to the moment it stops, so the recorded curve already
# says where that is; no second run needed:

# %%
stop = gan_transfer.patience_stop_step(run_full, patience=3)
print(f"patience 3 would stop at step {stop} of {config.steps}" if stop is not None
      else f"patience 3 would not stop within {config.steps} steps")

# %% [markdown]
# The price of patience: a GAN's FID curve is bumpy, and a short patience can stop on a
# bump before the real minimum.
#
# Next, **FreezeD** (Mo et al., 2020): freeze the discriminator's lowest layers, whose
# edge-like features carry over from the old digits, and fine-tune only the rest of D.
# Here that is D's first convolution. It is the *only* change from the run above (same
# seed, steps, learning rate and evaluation), so any difference is FreezeD's.

# %%
import dataclasses

G_fd, D_fd = load_dcgan_digits_0to8(device)
config_fd = dataclasses.replace(config, freeze_d=1)
run_fd = gan_transfer.transfer_gan(G_fd, D_fd, nines_train, nines_val,
                                   config_fd, evaluator=evaluator)
val_fd, test_fd, last_fd = selected(run_fd)
print(f"FreezeD froze {run_fd.meta['frozen_d_parameters']} of D's parameters; selected step "
      f"{run_fd.meta['best_step']}, test FID there {test_fd:.1f} (full fine-tuning: "
      f"{test_full:.1f}); at the last step {last_fd:.1f} ({last_full:.1f})")

# %% [markdown]
# The two runs side by side, and what each selected generator draws.

# %%
plot_runs({"full fine-tuning": run_full, "FreezeD (first conv)": run_fd})
fig, axes = plt.subplots(1, 2, figsize=(9, 1.2))
genlab.viz.image_grid(G_full.sample(10), ax=axes[0], title="full fine-tuning, selected step")
genlab.viz.image_grid(G_fd.sample(10), ax=axes[1], title="FreezeD, selected step");

# %% [markdown]
# One run of each cannot separate the two: the selected step jumps with the bumps of a
# validation curve measured on 80 samples. Over three seeds
# (`benchmarks/finetune_gan_transfer.py`, the same split and settings), the test FID at
# the selected step is 30.9 ± 3.0 for full fine-tuning and 33.6 ± 1.5 for FreezeD, and
# the same generators scored on ten other noise batches give 32.0 ± 3.6 and 32.2 ± 3.3:
# no difference. Freezing D's first convolution changes little here because it holds
# 544 of D's 33,633 parameters; in the paper's deep discriminators "the lower layers" are
# most of the network, which is where FreezeD pays. Freezing *both* convolutions, so that
# only D's 257-parameter head learns, is worse on these numbers (test FID 42 ± 7), and
# within 600 steps it is still improving. All of them stay at about three times the real
# nines' yard stick (9.7, range 6.1-16.1).
#
# What carries over to any few-shot transfer: adaptation is fast, the old task is gone
# within a few dozen steps, and the best generator is an early one, so watch a held-out
# metric, keep the best, and report a number measured on data that chose nothing.

# %% [markdown]
# ## 10. Scaling out: the same loop under `accelerate launch`
#
# Every run above went through `finetune`, which is written with Accelerate
# (`Accelerator.prepare`, `accelerator.backward`, gradient accumulation, bf16 where the
# device has it). The chapter's recipe is also a command:
#
# ```bash
# python -m genlab.finetune lm --method lora                         # one CPU or GPU
# torchrun --nproc_per_node 2 -m genlab.finetune lm --method lora --cpu
# accelerate launch --multi_gpu --num_processes 2 -m genlab.finetune lm --method lora --cpu
# ```
#
# With several processes each one takes its own share of every batch (`--batch-size` is
# the global batch) and Accelerate averages the gradients, so two processes take the same
# steps as one. The `--cpu` at the end of the second and third lines is *genlab's* option
# (it builds `Accelerator(cpu=True)`), not Accelerate's: `accelerate launch --cpu
# --num_processes 2` starts a *single* process unless you give it an MPI host file, and
# Accelerate 1.15 refuses its own `--cpu` together with `--multi_gpu`. So on a CPU-only
# machine use `torchrun`, or `accelerate launch --multi_gpu` with genlab's `--cpu`.
# Pointed at a real checkpoint on a GPU, the same code fine-tunes it:
#
# ```bash
# python -m genlab.finetune lm --method lora --model meta-llama/Llama-3.2-1B \
#     --mixed-precision bf16 --lr 2e-4 --batch-size 8 --out runs/llama-lora
# ```
#
# The command's entry point is an ordinary function, so a notebook can call it too. Here
# five LoRA updates of the shipped model in this process; the course's tests run the
# same command under `torchrun` with two processes and check that it matches this
# one-process run with the same global batch.

# %%
from genlab.finetune.__main__ import main as finetune_cli

finetune_cli(["lm", "--method", "lora", "--steps", genlab.budget("5", "2"), "--batch-size", "8",
              "--eval-blocks", "16", "--no-progress"]);

# %% [markdown]
# ## Quiz
#
# **Q1.** After full fine-tuning on legal text the domain perplexity fell and the general
# perplexity rose. Which change keeps more of the general skill?
#
# - a) training longer with a higher learning rate
# - b) a lower learning rate, L2-SP towards the pretrained weights, or early stopping on a validation set
# - c) ordinary weight decay towards zero with a larger batch
# - d) removing the warm-up
#
# **Q2.** Why does LoRA initialize $B$ to zero and $A$ at random, and not both at zero?
#
# - a) zeros are faster to multiply
# - b) $\Delta W = BA$ starts at 0, so training starts from the pretrained model, and a random $A$ gives $B$ a non-zero gradient at once
# - c) it makes merging impossible, which keeps the adapter removable
# - d) it is a form of dropout
#
# **Q3.** Prompt tuning trains 640 numbers and LoRA 8,192, yet freezing everything below
# the top block (41,152 trainable) made the cheapest update. Why?
#
# - a) AdamW is slower for small parameter tensors
# - b) the frozen blocks were moved to a faster device
# - c) autograd builds no graph below the first trainable layer, so the backward pass stops at the top block, while LoRA and prompts still backpropagate through every block
# - d) freezing lowers the learning rate

# %% solution id=quiz_answers
answer_q1 = None  # "a", "b", "c" or "d"
answer_q2 = None
answer_q3 = None
### BEGIN SOLUTION
answer_q1 = "b"
answer_q2 = "b"
answer_q3 = "c"
### END SOLUTION

# %%
genlab.quiz.check_all("07_finetuning", q1=answer_q1, q2=answer_q2, q3=answer_q3);

# %% tests id=test_quiz points=3
genlab.quiz.assert_letters(answer_q1=answer_q1, answer_q2=answer_q2, answer_q3=answer_q3)
### BEGIN HIDDEN TESTS
genlab.grading.quiz_key(answer_q1="b", answer_q2="b", answer_q3="c")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# - A pretrained model adapts to a small domain set far better than a random one; full
#   fine-tuning also **forgets**, step by step, what the domain data does not show.
# - Regularization restricts how far fine-tuning may move: a lower learning rate, L2-SP
#   towards the pretrained weights, early stopping on a validation set.
# - Freezing and gradual unfreezing protect the lower layers; freezing also saves the
#   backward pass below the first trainable block.
# - LoRA learns $\frac{\alpha}{r}BA$ beside a frozen $W$: tiny checkpoints, mergeable,
#   removable; adapters add a small zero-initialized residual module.
# - Prompt tuning and p-tuning do not adapt a tiny model (and still raise the general
#   perplexity); prefix tuning does better.
# - Compare methods as frontiers, not single points: here replay of general data and
#   L2-SP make the frontier; LoRA learns less and forgets less (Biderman et al. 2024), a
#   trade that full fine-tuning at a lower learning rate matches or beats.
# - A GAN adapts to a new digit from twenty images within a few hundred steps and forgets
#   the old ones at once; choose the step on validation images, report the FID on test
#   images, and read it against real images at the same sample size.
# - One Accelerate loop runs all of it, on one CPU or many GPUs.
# - Next: **08 · Personalization**, where the same ideas adapt a text-to-image diffusion
#   model (DreamBooth, LoRA, textual inversion).
