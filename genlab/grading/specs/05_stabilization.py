"""Clean-room checks of chapter 05 (clipping, power iteration, smoothing, loss scaling)."""

from __future__ import annotations

import math

import torch
from torch import nn

from genlab.grading.spec import Exercise, compare, randn, value_and_grads
from genlab.stabilize import d_loss_smoothed, loss_scale_update, unscale_gradients

SETUP = ("import math\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
         "import genlab\nfrom genlab import stabilize\ndevice = torch.device('cpu')\n")
FORBID = tuple(f"genlab.stabilize:{name}" for name in (
    "clip_gradients", "gradient_norm", "spectral_norm_estimate", "d_loss_smoothed",
    "smoothed_targets", "loss_scale_update", "unscale_gradients", "scaled_step")) + (
    "genlab.losses.gan:d_loss_minimax", "torch.nn.utils.clip_grad:clip_grad_norm_",
    "torch.nn.utils.clip_grad:clip_grad_norm", "torch.nn.utils.clip_grad:_clip_grads_with_norm_",
    "torch.nn.utils.clip_grad:_get_total_norm", "torch.nn.utils.parametrizations:spectral_norm",
    "torch.nn.utils.spectral_norm:spectral_norm", "torch.amp.grad_scaler:GradScaler.update",
    "torch.amp.grad_scaler:GradScaler.unscale_")


def clip_cases(rng):
    return [{"seed": int(torch.randint(0, 2**31, (1,), generator=rng)), "max": m}
            for m in (0.5, 3.0, 1e6, 1e-3)]


def _net(seed):
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2), nn.Linear(2, 3)).double()
    x = torch.randn(9, 5, generator=gen, dtype=torch.float64)
    (30 * net(x).pow(2).sum()).backward()
    net[3].bias.grad = None  # a parameter without a gradient
    return net


def clip_run(f, case):
    net = _net(case["seed"])
    norm = f.clip_by_total_norm(list(net.parameters()), case["max"])
    return {"norm": norm, "grads": [None if p.grad is None else p.grad.detach().clone()
                                    for p in net.parameters()]}


def _reference_clip(parameters, max_norm):
    # torch's clip_grad_norm_ (with its 1e-6 in the factor), returned as a float
    return float(torch.nn.utils.clip_grad_norm_(parameters, max_norm))


def singular_cases(rng):
    cases = [{"w": torch.diag(torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64)), "n": 30}]
    for shape in [(5, 9), (8, 3, 3, 3), (20, 2), (6, 4)]:
        for n in (0, 1, 200):
            cases.append({"w": randn(rng, *shape), "n": n})
    return cases


def singular_run(f, case):
    return {"sigma": f.top_singular_value(case["w"], case["n"])}


def _reference_singular(weight, n_iters=20):
    # the chapter's recipe: v0 = ones / sqrt(in), then n_iters steps of u = Wv/|Wv|,
    # v = W^T u/|W^T u|; the estimate is |W v| (a 0-d tensor). Written here, not in
    # genlab.stabilize, because the recipe's v0 is the exercise's own.
    w = weight.reshape(weight.shape[0], -1)
    v = torch.ones(w.shape[1], dtype=w.dtype) / math.sqrt(w.shape[1])
    for _ in range(n_iters):
        u = w @ v
        u = u / u.norm()
        v = w.T @ u
        v = v / v.norm()
    return (w @ v).norm()


def smooth_cases(rng):
    cases = [{"real": randn(rng, 7, grad=True), "fake": randn(rng, 5, 1, grad=True), "s": s}
             for s in (0.1, 0.0, 0.3)]
    cases.append({"real": torch.tensor([100.0], dtype=torch.float64, requires_grad=True),
                  "fake": torch.tensor([-100.0], dtype=torch.float64, requires_grad=True), "s": 0.1})
    cases.append({"real": torch.tensor([math.log(9.0)], dtype=torch.float64, requires_grad=True),
                  "fake": torch.tensor([-50.0], dtype=torch.float64, requires_grad=True), "s": 0.1})
    return cases


def smooth_run(f, case):
    value = f.d_loss_one_sided(case["real"], case["fake"], case["s"])
    return value_and_grads(value, {"real": case["real"], "fake": case["fake"]})


def _reference_smooth(real_logits, fake_logits, smoothing=0.1):
    return d_loss_smoothed(real_logits, fake_logits, smoothing)


def scale_cases(rng):
    pattern = [bool(b) for b in (torch.rand(14, generator=rng) < 0.3)]
    return [
        {"steps": [[[8.0, 16.0]]], "scale": 8.0, "tracker": 0, "kw": {}},
        {"steps": [[[1.0], [math.inf]]], "scale": 8.0, "tracker": 5, "kw": {}},
        {"steps": [[[math.nan]]], "scale": 2.0, "tracker": 0, "kw": {}},
        {"steps": [[[1.0, 1.0]]], "scale": 4.0, "tracker": 2, "kw": {"growth_interval": 3}},
        {"steps": [[[math.inf if bad else 2.0 ** (k % 5)] * 2] for k, bad in enumerate(pattern)],
         "scale": 16.0, "tracker": 0,
         "kw": {"growth_factor": 3.0, "backoff_factor": 0.25, "growth_interval": 3}},
    ]


def scale_run(f, case):
    scale, tracker, trace = case["scale"], case["tracker"], []
    for grads in case["steps"]:
        tensors = [torch.tensor(g, dtype=torch.float32) * scale for g in grads]
        unscaled, scale, tracker = f.loss_scale_step(tensors, scale, tracker, **case["kw"])
        trace.append({"grads": None if unscaled is None else [g.double() for g in unscaled],
                      "scale": float(scale) if type(scale) is int else scale, "tracker": tracker})
    return trace


def _reference_scale(scaled_grads, scale, growth_tracker, growth_factor=2.0,
                     backoff_factor=0.5, growth_interval=2000):
    unscaled, found_inf = unscale_gradients(scaled_grads, scale)
    scale, growth_tracker = loss_scale_update(scale, found_inf, growth_tracker, growth_factor,
                                              backoff_factor, growth_interval)
    return (None if found_inf else unscaled), scale, growth_tracker


def _scale_check(got, want):
    return compare(got, want, rtol=1e-6, atol=1e-12, check_dtype=False)


EXERCISES = [
    Exercise(test="test_clip_by_total_norm", names=("clip_by_total_norm",),
             reference={"clip_by_total_norm": _reference_clip}, forbid=FORBID,
             cases=clip_cases, run=clip_run, rtol=1e-5, atol=1e-9,  # float64; torch's 1e-6 in the factor
             hint="total = sqrt(sum of squared grads over all parameters); multiply every grad "
                  "by min(1, max_norm / (total + 1e-6)) in place; return float(total)"),
    Exercise(test="test_top_singular_value", names=("top_singular_value",),
             reference={"top_singular_value": _reference_singular}, forbid=FORBID,
             cases=singular_cases, run=singular_run, rtol=1e-9, atol=1e-12,
             hint="reshape to (out, -1); start from ones / sqrt(in); return |W v| as a 0-d tensor"),
    Exercise(test="test_d_loss_one_sided", names=("d_loss_one_sided",),
             reference={"d_loss_one_sided": _reference_smooth}, forbid=FORBID,
             cases=smooth_cases, run=smooth_run, rtol=1e-9, atol=1e-10,
             hint="BCE on logits with target 1 - smoothing for reals, 0 for fakes"),
    Exercise(test="test_loss_scale_step", names=("loss_scale_step",),
             reference={"loss_scale_step": _reference_scale}, forbid=FORBID,
             cases=scale_cases, run=scale_run, check=_scale_check,
             hint="inf or nan anywhere: (None, scale * backoff, 0); else unscale, count the "
                  "clean step, grow the scale after growth_interval clean steps in a row"),
]
