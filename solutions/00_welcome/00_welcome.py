# %% [markdown]
# # 00 · Welcome: how this course works
#
# This course teaches you to **train and optimize generative models**: the losses of GANs,
# VAEs and diffusion models, the optimizers and schedules that make them converge, the
# tricks that keep them stable, the metrics that tell you whether they work, and the ways
# to fine-tune a pretrained model cheaply.
#
# **What you will learn here**
# - how a chapter is laid out, and where your code goes;
# - how the course picks a device (CPU, CUDA GPU or Apple MPS);
# - how an exercise is checked now (visible tests) and later (hidden tests);
# - how to self-check quiz answers and how to get a score with `make grade`.
#
# **Prerequisites:** Python, NumPy-style tensors, and what a neural network and a gradient
# are. **Run time:** a few seconds on a CPU.

# %% [markdown]
# ## Setup
#
# Every chapter starts with one setup cell. It imports `genlab`, the small package that
# holds the course's tested code, picks the device and seeds the random number generators
# so that your numbers match the text.

# %%
import torch

import genlab

device = genlab.get_device()
genlab.seed_everything(0)
print(f"genlab {genlab.__version__} on {device}")

# %% [markdown]
# `genlab.get_device()` returns a CUDA GPU if there is one, else Apple's MPS, else the CPU.
# To force a device, set the environment variable `GENLAB_DEVICE` (for example
# `GENLAB_DEVICE=cpu make lab`). Every chapter runs on a laptop CPU in about two minutes
# or less; a GPU only makes it faster.

# %% [markdown]
# ## The data sets
#
# Nothing is downloaded. Images come from scikit-learn's 8x8 handwritten digits, which
# ship inside the package; 2-D experiments use Gaussian mixtures we generate. Pixels are
# scaled to [-1, 1], the range most image generators produce with a final `tanh`.

# %%
images, labels = genlab.data.load_digits("train")
print(images.shape, images.dtype, float(images.min()), float(images.max()))
genlab.viz.image_grid(images[:20], ncols=10, title=f"labels: {labels[:20].tolist()}");

# %% [markdown]
# The 2-D mixtures are the standard test bed for **mode collapse**: eight tight Gaussians
# on a ring and twenty-five on a grid. A generator that covers all modes draws all the
# clusters; a collapsed one draws a few.

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(6, 3))
ring = genlab.data.sample_ring(1000)
grid = genlab.data.sample_grid(1000)
genlab.viz.scatter_2d(ring, genlab.data.ring_centers(), ax=axes[0], title="ring: 8 modes")
genlab.viz.scatter_2d(grid, genlab.data.grid_centers(), ax=axes[1], title="grid: 25 modes");

# %% [markdown]
# ## Exercises and their tests
#
# An exercise asks you to write one small function with a fixed name. Write your code in
# the **answer cell** in place of `raise NotImplementedError()`. The **test cell** under it
# is locked: run it to check your answer. It runs a few visible checks now; when the
# notebook is graded, hidden checks run as well (other shapes, gradients, edge cases), so
# make your function correct in general, not just on the visible examples.
#
# If you skip an exercise, only its own test cell fails: the rest of the chapter uses
# genlab's reference version and keeps working.
#
# ### Exercise 1: count the trainable parameters
#
# Write `count_parameters(model)`, returning the number of scalar parameters of a
# `torch.nn.Module` that have `requires_grad=True` (frozen parameters do not count). You
# will use the idea again when fine-tuning, where "how many parameters do I train?" is the
# whole point of LoRA.

# %% solution id=count_parameters
def count_parameters(model):
    """Number of scalars in the trainable parameters of ``model`` (an int)."""
    ### BEGIN SOLUTION
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
    ### END SOLUTION

# %% tests id=test_count_parameters points=2
layer = torch.nn.Linear(3, 2)  # 3*2 weights + 2 biases
assert count_parameters(layer) == 8, f"expected 8, got {count_parameters(layer)}"
assert isinstance(count_parameters(layer), int)
### BEGIN HIDDEN TESTS
genlab.grading.check_here("00_welcome", "test_count_parameters")
### END HIDDEN TESTS

# %% [markdown]
# With your function (or, if you skipped it, the same idea inline) we can look at how big
# the networks of this course are. They are small on purpose: every chapter trains on a CPU.

# %%
mlp = torch.nn.Sequential(torch.nn.Linear(2, 128), torch.nn.ReLU(), torch.nn.Linear(128, 2))
print(f"a 2-D generator with one hidden layer: {sum(p.numel() for p in mlp.parameters()):,} parameters")

# %% [markdown]
# ## Heavy cells and grading
#
# Some demonstrations train a model for a minute. When an instructor grades a whole
# class, those minutes add up, so demonstrations ask `genlab.budget(full, grading)` how
# big to be: you get the full run, the grader gets a small one. Graded cells never
# depend on it.

# %%
n_steps = genlab.budget(2000, 20)
print(f"this run would train for {n_steps} steps (grading: {genlab.is_grading()})")

# %% [markdown]
# ## Quiz
#
# Quiz answers are plain variables holding one letter. `genlab.quiz.check` tells you
# right away whether an answer is right (it only stores salted hashes of the answers) and
# explains after a wrong try; the hidden tests grade the same variables.
#
# **Q1.** Where do you write your code for an exercise?
#
# - a) in the locked test cell, replacing the asserts
# - b) in a new cell at the end of the notebook
# - c) in the answer cell, in place of `raise NotImplementedError()`
# - d) in the `genlab` package
#
# **Q2.** An instructor autogrades this notebook. What happens to a demonstration that
# trains a model for 2,000 steps with `genlab.budget(2000, 20)`?
#
# - a) it is skipped, and the cells after it fail
# - b) it trains for 20 steps, and the graded cells run unchanged
# - c) it trains for 2,000 steps as usual
# - d) the grader ignores every cell that is not a test

# %% solution id=quiz_answers
answer_q1 = None  # "a", "b", "c" or "d"
answer_q2 = None
### BEGIN SOLUTION
answer_q1 = "c"
answer_q2 = "b"
### END SOLUTION

# %%
genlab.quiz.check_all("00_welcome", q1=answer_q1, q2=answer_q2);

# %% tests id=test_quiz points=2
genlab.quiz.assert_letters(answer_q1=answer_q1, answer_q2=answer_q2)
### BEGIN HIDDEN TESTS
assert answer_q1 == "c", "Q1: code goes in the answer cell; test cells are locked and restored at grading."
assert answer_q2 == "b", "Q2: budget() shrinks demonstrations while grading; graded cells run unchanged."
### END HIDDEN TESTS

# %% [markdown]
# ## How you get a score
#
# - **Self-learners:** save the notebook and run `make grade CHAPTER=00_welcome` in a
#   terminal at the top of the course. It grades a private copy, hidden tests included,
#   and prints your points per test cell. Nothing in your folder changes.
# - **In a class:** your instructor releases the chapters with nbgrader, collects your
#   notebook and autogrades it; the feedback shows which checks failed, not the hidden
#   code.
# - **Solutions** live in `solutions/`, the instructor's version of each chapter. Try
#   first: the tests tell you more than the answer does.
#
# ## Summary
#
# - `genlab` holds the tested code; chapters stay short and call it.
# - Exercises: answer cell, locked test cell, hidden tests at grading.
# - Quizzes: one-letter variables, self-check with `genlab.quiz.check`.
# - Next: **01 · GAN losses**, where mode collapse appears on the ring and grid you saw.
