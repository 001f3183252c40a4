# %% [markdown]
# # 09 · Final quiz
#
# Eighteen multiple-choice questions: the three questions of the course's source lesson, then
# a review of the chapters. Each has four options and exactly one right answer. Write
# one letter per answer variable (`answer_q1 = "b"`) and run the test cell under it: it
# checks only that the answer is a letter. The real check runs when the notebook is
# graded (`make grade CHAPTER=09_final_quiz`, or your instructor's autograde), and the
# feedback then explains every question.
#
# **Run time:** instant. There are no self-checks here: this is the exam.
# %% [markdown]
# ## Q1 (From the source lesson)
#
# What is the main purpose of regularization techniques (weight decay, L2-SP, early stopping, gradient penalties, spectral norm) during training?
#
# - a) to make each training step run faster
# - b) to keep the model from fitting noise or drifting into unstable solutions, so it generalizes and trains reliably
# - c) to increase the number of parameters the model can use
# - d) to remove the need for a validation set
# %% solution id=answer_q1
answer_q1 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q1 = "b"
### END SOLUTION
# %% tests id=test_q1 points=1
assert answer_q1 in {"a", "b", "c", "d"}, f"answer_q1 must be 'a', 'b', 'c' or 'd', got {answer_q1!r}"
### BEGIN HIDDEN TESTS
print("Q1: Regularization constrains what the model may learn (small weights, a Lipschitz bound, noise-robust features) so it does not overfit and, for GANs, so training stays stable. It usually costs a little speed rather than saving it. Chapter 07, section 3, measures what it does when fine-tuning: a lower learning rate, L2-SP (a pull back towards the pretrained weights) and early stopping trade a little domain fit for much less forgetting.")
assert answer_q1 == "b", "Q1: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q2 (From the source lesson)
#
# Which optimizer is commonly used to train deep generative models and adapts the step size of each parameter during training?
#
# - a) plain stochastic gradient descent with a fixed learning rate
# - b) Newton's method with the exact Hessian
# - c) Adam (or AdamW), which scales each step by running estimates of the gradient's first and second moments
# - d) grid search over learning rates
# %% solution id=answer_q2
answer_q2 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q2 = "c"
### END SOLUTION
# %% tests id=test_q2 points=1
assert answer_q2 in {"a", "b", "c", "d"}, f"answer_q2 must be 'a', 'b', 'c' or 'd', got {answer_q2!r}"
### BEGIN HIDDEN TESTS
print("Q2: Adam keeps an exponential average of the gradient (first moment) and of its square (second moment) and divides one by the square root of the other, so each parameter gets its own effective step size. AdamW adds decoupled weight decay.")
assert answer_q2 == "c", "Q2: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q3 (From the source lesson)
#
# What is the most important challenge when training generative models, especially GANs?
#
# - a) they need labelled data for every sample
# - b) sampling from a trained generator is too slow to be useful
# - c) they cannot run on GPUs
# - d) the adversarial game is unstable: losses oscillate, gradients vanish, and the generator can collapse onto a few modes
# %% solution id=answer_q3
answer_q3 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q3 = "d"
### END SOLUTION
# %% tests id=test_q3 points=1
assert answer_q3 in {"a", "b", "c", "d"}, f"answer_q3 must be 'a', 'b', 'c' or 'd', got {answer_q3!r}"
### BEGIN HIDDEN TESTS
print("Q3: G and D chase each other rather than minimizing one fixed loss, so training can oscillate or diverge, and the generator can cover only a few modes of the data (mode collapse). Loss choices, spectral norm, TTUR and careful optimizer settings all target this.")
assert answer_q3 == "d", "Q3: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q4 (Review)
#
# D confidently rejects the generator's samples early in training (D(G(z)) is near 0). Why do practitioners train G with the non-saturating loss -log D(G(z)) instead of minimizing log(1 - D(G(z)))?
#
# - a) the non-saturating loss has the same fixed point but a large gradient exactly when D(G(z)) is near 0, where the saturating loss's gradient vanishes
# - b) the non-saturating loss needs no discriminator
# - c) the saturating loss cannot be computed on a GPU
# - d) the non-saturating loss makes D train faster
# %% solution id=answer_q4
answer_q4 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q4 = "a"
### END SOLUTION
# %% tests id=test_q4 points=1
assert answer_q4 in {"a", "b", "c", "d"}, f"answer_q4 must be 'a', 'b', 'c' or 'd', got {answer_q4!r}"
### BEGIN HIDDEN TESTS
print("Q4: With logit l, d/dl log(1 - sigmoid(l)) = -sigmoid(l), which goes to 0 as D(G(z)) = sigmoid(l) goes to 0; d/dl of -log sigmoid(l) is -(1 - sigmoid(l)), which goes to -1. Same equilibrium, useful gradient when G is bad.")
assert answer_q4 == "a", "Q4: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q5 (Review)
#
# A WGAN-GP critic is trained with a gradient penalty. What does the penalty push towards?
#
# - a) critic weights inside [-0.01, 0.01]
# - b) a critic gradient norm of 1 at points interpolated between real and generated samples, a soft form of the 1-Lipschitz constraint
# - c) a critic output of exactly 0 for real samples
# - d) a generator with fewer parameters
# %% solution id=answer_q5
answer_q5 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q5 = "b"
### END SOLUTION
# %% tests id=test_q5 points=1
assert answer_q5 in {"a", "b", "c", "d"}, f"answer_q5 must be 'a', 'b', 'c' or 'd', got {answer_q5!r}"
### BEGIN HIDDEN TESTS
print("Q5: The Kantorovich-Rubinstein dual needs a 1-Lipschitz critic. Weight clipping enforces it crudely and wastes capacity; the penalty lambda * (||grad_x D(x_hat)|| - 1)^2 on random interpolates enforces it softly where it matters.")
assert answer_q5 == "b", "Q5: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q6 (Review)
#
# In a VAE, the KL term of one latent dimension drops to zero for every input during training. What has happened?
#
# - a) the model has reached the best possible ELBO
# - b) the encoder's variance has exploded
# - c) posterior collapse: that dimension's posterior equals the prior N(0, 1), so it carries no information about the input and the decoder ignores it
# - d) the reconstruction term has become negative
# %% solution id=answer_q6
answer_q6 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q6 = "c"
### END SOLUTION
# %% tests id=test_q6 points=1
assert answer_q6 in {"a", "b", "c", "d"}, f"answer_q6 must be 'a', 'b', 'c' or 'd', got {answer_q6!r}"
### BEGIN HIDDEN TESTS
print("Q6: KL(q(z|x) || N(0,1)) is zero only when q(z|x) = N(0,1) for every x: the dimension encodes nothing. Large beta or a strong decoder encourages it; KL annealing (starting beta near 0) helps the encoder use the latent first.")
assert answer_q6 == "c", "Q6: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q7 (Review)
#
# A diffusion model uses v-prediction. With x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, what is the target v?
#
# - a) v = eps
# - b) v = x0 - eps
# - c) v = sqrt(1 - abar_t) x0 + sqrt(abar_t) eps
# - d) v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0
# %% solution id=answer_q7
answer_q7 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q7 = "d"
### END SOLUTION
# %% tests id=test_q7 points=1
assert answer_q7 in {"a", "b", "c", "d"}, f"answer_q7 must be 'a', 'b', 'c' or 'd', got {answer_q7!r}"
### BEGIN HIDDEN TESTS
print("Q7: Salimans and Ho (2022) define v = alpha_t eps - sigma_t x0 with alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t). It stays well scaled at both ends of the schedule, unlike predicting eps when almost all of x_t is noise.")
assert answer_q7 == "d", "Q7: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q8 (Review)
#
# Why is a short linear learning-rate warmup used when training transformers and diffusion U-Nets with Adam?
#
# - a) early on, Adam's second-moment estimates rest on few gradients and the weights are far from a good region, so full-size steps can blow up; ramping the rate up avoids those early spikes
# - b) warmup makes the final learning rate higher
# - c) warmup replaces weight decay
# - d) warmup is needed only for SGD, never for Adam
# %% solution id=answer_q8
answer_q8 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q8 = "a"
### END SOLUTION
# %% tests id=test_q8 points=1
assert answer_q8 in {"a", "b", "c", "d"}, f"answer_q8 must be 'a', 'b', 'c' or 'd', got {answer_q8!r}"
### BEGIN HIDDEN TESTS
print("Q8: Adam's per-parameter scaling is noisy in the first steps, and large steps at random initialization can push a deep network into a bad region or produce a loss spike. Warmup increases the rate from 0 over the first steps.")
assert answer_q8 == "a", "Q8: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q9 (Review)
#
# What does spectral normalization do to a discriminator layer?
#
# - a) it removes the layer's bias
# - b) it divides the weight matrix by its largest singular value (estimated by power iteration), bounding the layer's Lipschitz constant by 1
# - c) it normalizes the layer's activations over the batch
# - d) it clips every weight to [-1, 1]
# %% solution id=answer_q9
answer_q9 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q9 = "b"
### END SOLUTION
# %% tests id=test_q9 points=1
assert answer_q9 in {"a", "b", "c", "d"}, f"answer_q9 must be 'a', 'b', 'c' or 'd', got {answer_q9!r}"
### BEGIN HIDDEN TESTS
print("Q9: The largest singular value is the layer's Lipschitz constant (its operator norm). Dividing by it makes each linear map 1-Lipschitz; with 1-Lipschitz activations the whole discriminator is bounded, which smooths its gradients for G.")
assert answer_q9 == "b", "Q9: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q10 (Review)
#
# You compare two generators of 8x8 digits by FID computed with the course's digits feature network. Which statement is right?
#
# - a) a higher FID means better samples
# - b) FID uses only the classifier's predicted labels, not its features
# - c) lower is better; it compares the mean and covariance of real and generated features, and a digits-FID cannot be compared with an Inception FID reported in papers
# - d) FID is zero whenever the discriminator's loss is low
# %% solution id=answer_q10
answer_q10 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q10 = "c"
### END SOLUTION
# %% tests id=test_q10 points=1
assert answer_q10 in {"a", "b", "c", "d"}, f"answer_q10 must be 'a', 'b', 'c' or 'd', got {answer_q10!r}"
### BEGIN HIDDEN TESTS
print("Q10: FID is the Frechet distance between Gaussians fitted to real and generated features: lower is closer. Its scale depends on the feature network, so digits-FID is read against our real-vs-real floor, never against Inception numbers.")
assert answer_q10 == "c", "Q10: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q11 (Review)
#
# Why do DCGAN and WGAN-GP train with Adam's beta1 lowered to 0.5 or 0 instead of the default 0.9?
#
# - a) in a two-player game the target keeps moving, and heavy momentum carries each player past it, so the oscillation grows; less momentum damps it
# - b) a lower beta1 makes every step larger
# - c) a lower beta1 saves optimizer memory
# - d) with beta1 below 0.9, Adam needs no bias correction
# %% solution id=answer_q11
answer_q11 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q11 = "a"
### END SOLUTION
# %% tests id=test_q11 points=1
assert answer_q11 in {"a", "b", "c", "d"}, f"answer_q11 must be 'a', 'b', 'c' or 'd', got {answer_q11!r}"
### BEGIN HIDDEN TESTS
print("Q11: Each network's loss surface changes whenever the other network updates. Momentum averages stale gradients, which makes the players circle the equilibrium; the ring GAN ablation of chapter 04 covered 8/8 modes on every seed with beta1 = 0.5 and 3.4/8 on average with 0.9.")
assert answer_q11 == "a", "Q11: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q12 (Review)
#
# You train with fp16 autocast and a GradScaler and want gradient-norm clipping at 1.0. Where does the clipping go?
#
# - a) before scaler.scale(loss).backward()
# - b) after scaler.update()
# - c) anywhere: scaling and clipping commute
# - d) after scaler.unscale_(optimizer) and before scaler.step(optimizer)
# %% solution id=answer_q12
answer_q12 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q12 = "d"
### END SOLUTION
# %% tests id=test_q12 points=1
assert answer_q12 in {"a", "b", "c", "d"}, f"answer_q12 must be 'a', 'b', 'c' or 'd', got {answer_q12!r}"
### BEGIN HIDDEN TESTS
print("Q12: The gradients are multiplied by the loss scale until they are unscaled; only then are they in true units comparable with the threshold. scaler.step then skips the update if any gradient overflowed.")
assert answer_q12 == "d", "Q12: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q13 (Review)
#
# A GAN's discriminator loss has sat near 1.39 (= 2 log 2) and its generator loss near 0.69 for thousands of steps. What can you conclude?
#
# - a) training has converged and the samples are as good as they will get
# - b) the generator has collapsed to a single mode
# - c) only that D outputs about 1/2 on both real and fake data; the samples may be improving, stuck or collapsed, so measure them (FID, IS, or look)
# - d) the learning rate is too low and must be raised
# %% solution id=answer_q13
answer_q13 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q13 = "c"
### END SOLUTION
# %% tests id=test_q13 points=1
assert answer_q13 in {"a", "b", "c", "d"}, f"answer_q13 must be 'a', 'b', 'c' or 'd', got {answer_q13!r}"
### BEGIN HIDDEN TESTS
print("Q13: Adversarial losses measure the game, not the samples. Chapter 06 shows a collapsed run whose losses look calmer than a healthy one while its FID is over fifteen times worse.")
assert answer_q13 == "c", "Q13: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q14 (Review)
#
# A GAN fed Gaussian noise $z \sim \mathcal{N}(0, I)$ covers all 25 modes of the grid, but even after long training about a tenth of its samples sit between the modes. Why?
#
# - a) the discriminator is too strong and must be slowed down
# - b) the generator is a continuous map of connected noise, so its samples form one connected set and must bridge the gaps between modes; noise made of separate islands removes the bridges
# - c) the learning rate is too high and the samples overshoot their modes
# - d) the high-quality score counts samples wrongly near the edges of the grid
# %% solution id=answer_q14
answer_q14 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q14 = "b"
### END SOLUTION
# %% tests id=test_q14 points=1
assert answer_q14 in {"a", "b", "c", "d"}, f"answer_q14 must be 'a', 'b', 'c' or 'd', got {answer_q14!r}"
### BEGIN HIDDEN TESTS
print("Q14: A continuous image of a connected set is connected. Chapter 01 colours the latent plane by mode: the borders between the sectors are the bridges; with 128 noise islands they disappear and the grid reaches 97.4% high quality at temperature 0.5.")
assert answer_q14 == "b", "Q14: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q15 (Review)
#
# A layer with weight $W$ (shape out x in) was fine-tuned with LoRA, rank $r = 8$ and $\alpha = 16$, learning $A$ (r x in) and $B$ (out x r). Which single weight makes a plain linear layer compute the same function at inference?
#
# - a) $W + BA$
# - b) $W + 2\,BA$
# - c) $W + 16\,AB$
# - d) $W$ alone: the LoRA matrices are only used during training
# %% solution id=answer_q15
answer_q15 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q15 = "b"
### END SOLUTION
# %% tests id=test_q15 points=1
assert answer_q15 in {"a", "b", "c", "d"}, f"answer_q15 must be 'a', 'b', 'c' or 'd', got {answer_q15!r}"
### BEGIN HIDDEN TESTS
print("Q15: LoRA computes x W^T + (alpha / r) x A^T B^T, so the merged weight is W + (alpha / r) B A = W + 2 BA here (AB is r x r, the wrong shape). Chapter 07, section 5, merges a trained adapter this way and checks it against PEFT's merge_and_unload.")
assert answer_q15 == "b", "Q15: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q16 (Review)
#
# On the course's tiny Llama (about 177,000 parameters), prompt tuning with 10 virtual tokens does not lower the legal-domain perplexity at all in 60 updates (it ends slightly above the pretrained model's), while full fine-tuning and LoRA lower it a lot. What is the best explanation?
#
# - a) prompt tuning has a bug in PEFT
# - b) the virtual tokens were initialized badly; any other initialization would fix it
# - c) a few learned input vectors can steer a large model that already knows the domain, but not teach a tiny frozen model new phrasing: Lester et al. (2021) find prompt tuning matches fine-tuning only at billions of parameters, and prefix tuning, which acts in every layer, does better
# - d) the learning rate must be the same as for full fine-tuning
# %% solution id=answer_q16
answer_q16 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q16 = "c"
### END SOLUTION
# %% tests id=test_q16 points=1
assert answer_q16 in {"a", "b", "c", "d"}, f"answer_q16 must be 'a', 'b', 'c' or 'd', got {answer_q16!r}"
### BEGIN HIDDEN TESTS
print("Q16: It is a scale effect, reproduced in chapter 07, section 7: the frozen network decides what the prompt can do. Prompt tuning and p-tuning only change the input; prefix tuning adds keys and values in every attention layer and adapts more. The initialization is not the cause: PEFT's default N(0, 1) tokens and tokens copied from random vocabulary words (SAMPLE_VOCAB) end at about the same perplexity (chapter 07, section 8). Prompt methods use large learning rates (1e-2 to 3e-2) because they move few numbers.")
assert answer_q16 == "c", "Q16: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q17 (Review)
#
# A text-to-image diffusion model samples with classifier-free guidance, $\hat\epsilon = \epsilon(x_t, \varnothing) + w\,(\epsilon(x_t, c) - \epsilon(x_t, \varnothing))$. On the course's digits model, what happens as $w$ goes from 1 to 8?
#
# - a) accuracy and diversity both rise: the samples get better in every way
# - b) the share of samples that show the prompted digit rises and saturates by about $w = 3$, while diversity within a prompt falls all the way and digits-FID, after a first improvement, rises
# - c) nothing: the model was trained at $w = 1$, so other scales are ignored
# - d) the samples become the unconditional model's, since the difference term is amplified
# %% solution id=answer_q17
answer_q17 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q17 = "b"
### END SOLUTION
# %% tests id=test_q17 points=1
assert answer_q17 in {"a", "b", "c", "d"}, f"answer_q17 must be 'a', 'b', 'c' or 'd', got {answer_q17!r}"
### BEGIN HIDDEN TESTS
print("Q17: Guidance samples from p(x) p(c|x)^w: large w favours images that are unmistakably the prompt, drawn in fewer, bolder ways. Chapter 08, section 2, sweeps w = 1, 2, 3, 5, 8: accuracy saturates near w = 3 while diversity falls and, past w = 2, FID rises. Large w never gives the unconditional model; in the formula that is w = 0 (StableDiffusionPipeline, which guides only for guidance_scale > 1, runs the conditional model there instead).")
assert answer_q17 == "b", "Q17: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Q18 (Review)
#
# Chapter 08 teaches the digits model a "bold italic" style from four reference images (two threes, two sevens). Full DreamBooth learns to draw the style, but textual inversion, which learns one new token's embedding, hardly changes the style, and its new word ends up nearest to the number words of the references' digits. Why?
#
# - a) textual inversion needs many more training steps to converge to the same result
# - b) textual inversion only changes one input vector of a frozen model, so it can find the closest concept the model can already draw but cannot teach the UNet a new look; DreamBooth changes the UNet's weights
# - c) the word-level tokenizer cannot hold a new token
# - d) the guidance scale was too low for the new token
# %% solution id=answer_q18
answer_q18 = None  # "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_q18 = "b"
### END SOLUTION
# %% tests id=test_q18 points=1
assert answer_q18 in {"a", "b", "c", "d"}, f"answer_q18 must be 'a', 'b', 'c' or 'd', got {answer_q18!r}"
### BEGIN HIDDEN TESTS
print("Q18: Find versus teach. Textual inversion searches the frozen model's input space for an embedding whose images match the references; if the UNet cannot draw the look at all, no word will make it, and the word settles on what the frozen model can draw that explains the references best: their content (three or seven), not their style. DreamBooth fine-tunes the UNet (with the prior-preservation loss, which reduces the class word's drift). Chapter 08, sections 3-5, compares them.")
assert answer_q18 == "b", "Q18: not the right option; see the explanation above."
### END HIDDEN TESTS
# %% [markdown]
# ## Done
#
# Save the notebook and grade it. Where an explanation surprises you, go back to the
# chapter it comes from: each question names an idea that a chapter builds and tests.
