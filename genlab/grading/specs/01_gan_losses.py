"""Clean-room checks of chapter 01 (GAN losses)."""

from __future__ import annotations

import torch

from genlab.grading.spec import Exercise, randn, value_and_grads

SETUP = ("import math\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
         "import genlab\nfrom genlab.losses import gan\ndevice = torch.device('cpu')\n")
# Every GAN loss genlab has: an answer of this chapter may call none of them (the
# non-saturating loss is minus the minimax one at minus the logits, and so on).
FORBID = tuple(f"genlab.losses.gan:{name}" for name in (
    "d_loss_minimax", "g_loss_minimax", "g_loss_nonsaturating", "d_loss_lsgan", "g_loss_lsgan",
    "critic_loss_wgan", "g_loss_wgan", "gradient_penalty", "r1_penalty", "d_loss_hinge",
    "g_loss_hinge", "get_gan_loss")) + (
    "genlab.stabilize:d_loss_smoothed", "genlab.stabilize:smoothed_targets")
# float64 inputs: the answer and the reference differ only by rounding (~1e-16 relative);
# 1e-9 leaves room for a different but exact formula (softplus vs log1p(exp)).
TOL = dict(rtol=1e-9, atol=1e-12)


def d_minimax_cases(rng):
    return [
        {"real": torch.tensor([1.0, -0.5, 2.0]), "fake": torch.tensor([-1.0, 0.3]), "t": 1.0},
        {"real": randn(rng, 7, 1, grad=True), "fake": randn(rng, 5, 1, grad=True), "t": 0.9},
        {"real": randn(rng, 6, grad=True, scale=3), "fake": randn(rng, 4, grad=True), "t": 1.0},
        # confident D: a sigmoid followed by log overflows here; the loss is 300 + 300
        {"real": torch.tensor([-300.0, 4.0], dtype=torch.float64, requires_grad=True),
         "fake": torch.tensor([300.0, -2.0], dtype=torch.float64, requires_grad=True), "t": 0.8},
    ]


def d_minimax_run(f, case):
    value = f.d_loss_minimax(case["real"], case["fake"], case["t"])
    return value_and_grads(value, {"real": case["real"], "fake": case["fake"]})


def g_ns_cases(rng):
    return [
        {"fake": torch.tensor([0.0, 2.0, -1.0])},
        {"fake": torch.tensor([[-8.0], [-12.0], [-20.0], [1.0]], dtype=torch.float64,
                              requires_grad=True)},
        {"fake": randn(rng, 9, grad=True, scale=4)},
        # sigmoid underflows to 0 here (float32 below -104, float64 below -745): the loss
        # must come from the logit, softplus(-x), not from log(sigmoid(x))
        {"fake": torch.tensor([-500.0, 500.0], requires_grad=True)},
        {"fake": torch.tensor([-800.0, 3.0], dtype=torch.float64, requires_grad=True)},
    ]


def g_ns_run(f, case):
    return value_and_grads(f.g_loss_nonsaturating(case["fake"]), {"fake": case["fake"]})


def lsgan_cases(rng):
    return [
        {"real": torch.tensor([1.0, 0.0]), "fake": torch.tensor([0.5, -1.0, 2.0]),
         "abc": (0.0, 1.0, 1.0)},
        {"real": randn(rng, 6, 1, grad=True), "fake": randn(rng, 4, 1, grad=True),
         "abc": (-1.0, 1.0, 0.0)},
        {"real": randn(rng, 5, grad=True, scale=2), "fake": randn(rng, 3, grad=True),
         "abc": (0.0, 1.0, 1.0)},
        {"real": randn(rng, 4, 1, grad=True), "fake": randn(rng, 7, 1, grad=True),
         "abc": (0.25, 0.75, 0.5)},
    ]


def lsgan_run(f, case):
    a, b, c = case["abc"]
    inputs = {"real": case["real"], "fake": case["fake"]}
    d = value_and_grads(f.d_loss_lsgan(case["real"], case["fake"], a=a, b=b), inputs)
    g = value_and_grads(f.g_loss_lsgan(case["fake"], c=c), {"fake": case["fake"]})
    return {"d": d, "g": g}


def gp_cases(rng):
    w = randn(rng, 1, 3)
    return [
        # linear critic: grad x_hat = w everywhere, penalty = weight (||w|| - 1)^2 for any eps
        {"kind": "linear", "w": w, "b": randn(rng, 1), "real": randn(rng, 5, 3),
         "fake": randn(rng, 5, 3), "weight": 2.0},
        {"kind": "linear", "w": 3 * randn(rng, 1, 3), "b": randn(rng, 1),
         "real": randn(rng, 6, 3), "fake": randn(rng, 6, 3), "weight": 10.0},
        # images and f(x) = |x|^2 / 2 (grad = x_hat); real = 0, fake of unit norm: the
        # penalty is E[eps^2] = 1/3 only with one eps per sample and the norm over all dims
        {"kind": "quadratic", "n": 20000, "weight": 1.0},
        {"kind": "quadratic", "n": 20000, "weight": 1.0},
        # fakes come from a generator: the penalty must not send gradients into it. The
        # critic is nonlinear: a linear critic's input gradient is constant, so a penalty
        # that forgets to detach would send nothing into the generator there either
        {"kind": "detached", "w": w, "b": randn(rng, 1), "real": randn(rng, 4, 3),
         "src": randn(rng, 4, 3, grad=True), "weight": 10.0,
         "hidden": randn(rng, 5, 3), "hidden_b": randn(rng, 5)},
    ]


def gp_run(f, case):
    if case["kind"] == "quadratic":
        fake = torch.full((case["n"], 1, 4, 4), 0.25, dtype=torch.float64)
        value = f.gradient_penalty(lambda x: 0.5 * (x ** 2).flatten(1).sum(1),
                                   torch.zeros_like(fake), fake, weight=case["weight"])
        value = value.detach() if isinstance(value, torch.Tensor) else value
        return {"mean_eps_squared": float(value)}
    critic = torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        critic.weight.copy_(case["w"])
        critic.bias.copy_(case["b"])
    if case["kind"] == "detached":
        first, last = torch.nn.Linear(3, 5).double(), torch.nn.Linear(5, 1).double()
        with torch.no_grad():
            first.weight.copy_(case["hidden"])
            first.bias.copy_(case["hidden_b"])
            last.weight.copy_(torch.linspace(-1.0, 1.0, 5, dtype=torch.float64).view(1, 5))
            last.bias.zero_()
        critic = torch.nn.Sequential(first, torch.nn.Tanh(), last)
        value = f.gradient_penalty(critic, case["real"], 2 * case["src"], weight=case["weight"])
        flows = isinstance(value, torch.Tensor) and value.requires_grad and \
            torch.autograd.grad(value, case["src"], allow_unused=True)[0] is not None
        return {"reaches_fake": bool(flows)}
    value = f.gradient_penalty(critic, case["real"], case["fake"], weight=case["weight"])
    (grad_w,) = torch.autograd.grad(value, critic.weight)
    return {"value": value, "grad_critic_weight": grad_w}


def hinge_cases(rng):
    return [
        {"real": torch.tensor([2.0, 0.5, -1.0]), "fake": torch.tensor([-3.0, 0.0])},
        {"real": randn(rng, 8, 1, grad=True, scale=2), "fake": randn(rng, 6, 1, grad=True, scale=2)},
        # every real above +1 and every fake below -1: D's loss is 0 with no gradient
        {"real": torch.tensor([1.5, 3.0], dtype=torch.float64, requires_grad=True),
         "fake": torch.tensor([-2.0, -1.25, -4.0], dtype=torch.float64, requires_grad=True)},
        {"real": randn(rng, 5, grad=True), "fake": randn(rng, 9, grad=True, scale=3)},
    ]


def hinge_run(f, case):
    inputs = {"real": case["real"], "fake": case["fake"]}
    return {"d": value_and_grads(f.d_loss_hinge(case["real"], case["fake"]), inputs),
            "g": value_and_grads(f.g_loss_hinge(case["fake"]), {"fake": case["fake"]})}


EXERCISES = [
    Exercise(test="test_d_loss_minimax", names=("d_loss_minimax",),
             reference={"d_loss_minimax": "genlab.losses.gan:d_loss_minimax"}, forbid=FORBID,
             cases=d_minimax_cases, run=d_minimax_run, check_dtype=False, **TOL,
             hint="BCE on logits: softplus(-x) for the real term weighted by real_target, "
                  "softplus(x) for the fake term; batch means"),
    Exercise(test="test_g_loss_nonsaturating", names=("g_loss_nonsaturating",),
             reference={"g_loss_nonsaturating": "genlab.losses.gan:g_loss_nonsaturating"},
             forbid=FORBID, cases=g_ns_cases, run=g_ns_run, check_dtype=False, **TOL,
             hint="-log sigmoid(x) = softplus(-x), stable for large |x|; a batch mean"),
    Exercise(test="test_lsgan", names=("d_loss_lsgan", "g_loss_lsgan"),
             reference={"d_loss_lsgan": "genlab.losses.gan:d_loss_lsgan",
                        "g_loss_lsgan": "genlab.losses.gan:g_loss_lsgan"}, forbid=FORBID,
             cases=lsgan_cases, run=lsgan_run, check_dtype=False, **TOL,
             hint="1/2 mean((D(x) - b)^2) + 1/2 mean((D(G(z)) - a)^2); G: 1/2 mean((D(G(z)) - c)^2)"),
    Exercise(test="test_gradient_penalty", names=("gradient_penalty",),
             reference={"gradient_penalty": "genlab.losses.gan:gradient_penalty"}, forbid=FORBID,
             cases=gp_cases, run=gp_run, check_dtype=False, rtol=1e-7, atol=1e-9,
             # the quadratic case is a mean of 20000 draws of eps^2 (sd 0.30): the answer's
             # and the reference's means differ by ~0.003 (1 sd); 0.02 is ~7 sd
             tolerances={"mean_eps_squared": (0.0, 0.02)},
             hint="one eps per sample, x_hat from detached real and fake, create_graph=True, "
                  "norm over all non-batch dimensions"),
    Exercise(test="test_hinge", names=("d_loss_hinge", "g_loss_hinge"),
             reference={"d_loss_hinge": "genlab.losses.gan:d_loss_hinge",
                        "g_loss_hinge": "genlab.losses.gan:g_loss_hinge"}, forbid=FORBID,
             cases=hinge_cases, run=hinge_run, check_dtype=False, **TOL,
             hint="D: mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))); G: -mean(D(G(z)))"),
]
