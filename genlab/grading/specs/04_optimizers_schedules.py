"""Clean-room checks of chapter 04 (one Adam step, warmup + cosine; presets are a quiz key)."""

from __future__ import annotations

import math

import torch

from genlab.grading.spec import Exercise, compare, randn

SETUP = ("import math\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
         "import genlab\nfrom genlab import optim\ndevice = torch.device('cpu')\n")
FORBID = ("genlab.optim:adam_update", "genlab.optim:warmup_cosine_multiplier",
          "genlab.optim:linear_warmup_multiplier", "genlab.optim:warmup_cosine",
          "torch.optim.adam:adam", "torch.optim.adam:_single_tensor_adam",
          "torch.optim.adam:_multi_tensor_adam", "torch.optim.adam:Adam.step",
          "torch.optim.adamw:AdamW.step", "torch.optim._functional:adam",
          # the warmup-cosine schedule of Transformers and of Diffusers
          "transformers.optimization:get_cosine_schedule_with_warmup",
          "transformers.optimization:_get_cosine_schedule_with_warmup_lr_lambda",
          "diffusers.optimization:get_cosine_schedule_with_warmup")


def adam_cases(rng):
    cases = [{"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "steps": 1, "grad_scale": 1.0,
              "shape": (3,)}]
    for betas, eps, scale in [((0.5, 0.999), 1e-6, 1.0), ((0.0, 0.9), 1e-8, 1.0),
                              ((0.9, 0.99), 1e-3, 1e-4),  # tiny gradients: eps dominates
                              ((0.9, 0.999), 1e-2, 1e-3)]:
        cases.append({"lr": 0.03, "betas": betas, "eps": eps, "steps": 5, "grad_scale": scale,
                      "shape": (4, 3)})
    for case in cases:
        n = case["steps"]
        case["param"] = randn(rng, *case["shape"], dtype=torch.float32)
        case["grads"] = [case["grad_scale"] * randn(rng, *case["shape"], dtype=torch.float32)
                         for _ in range(n)]
        # a run in progress: moments already non-zero, so updating them in place shows
        case["exp_avg"] = 0.1 * randn(rng, *case["shape"], dtype=torch.float32).abs()
        case["exp_avg_sq"] = 0.01 * randn(rng, *case["shape"], dtype=torch.float32).abs()
        case["start_step"] = 1 if n == 1 else 3
    cases[0]["exp_avg"] = torch.zeros(3)
    cases[0]["exp_avg_sq"] = torch.zeros(3)
    return cases


def adam_run(f, case):
    p, m, v = case["param"], case["exp_avg"], case["exp_avg_sq"]
    trace = []
    for k, g in enumerate(case["grads"]):
        inputs = [p.clone(), g.clone(), m.clone(), v.clone()]
        kept = [x.clone() for x in inputs]
        p, m, v = f.adam_update(*inputs, case["start_step"] + k, lr=case["lr"],
                                betas=case["betas"], eps=case["eps"])
        trace.append({"param": p, "exp_avg": m, "exp_avg_sq": v,
                      "inputs_unchanged": all(bool(torch.equal(a, b)) for a, b in zip(inputs, kept))})
    return trace


def warmup_cases(rng):
    del rng
    return [{"warmup": w, "total": t} for (w, t) in [(10, 110), (10, 100), (0, 50), (1, 7), (30, 31)]]


def warmup_run(f, case):
    w, t = case["warmup"], case["total"]
    values = [f.warmup_cosine_multiplier(s, w, t) for s in range(t + 5)]
    # 0 as an int is fine at step 0 (the visible test allows it); everything else a float
    return {"values": [float(v) if type(v) is int and v == 0 else v for v in values]}


def warmup_check(got, want):
    # a correct answer computed with torch float32 is off by ~1e-7; a step off by one
    # moves the factor by >= 2.5e-4 on these cases, so 1e-6 separates the two
    return compare(got, want, rtol=1e-6, atol=1e-6)


EXERCISES = [
    Exercise(test="test_adam_update", names=("adam_update",),
             reference={"adam_update": "genlab.optim:adam_update"}, forbid=FORBID,
             cases=adam_cases, run=adam_run, rtol=1e-5, atol=1e-7,  # float32 Adam arithmetic
             hint="m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2 (new tensors, inputs "
                  "untouched); param - lr * m_hat / (sqrt(v_hat) + eps)"),
    Exercise(test="test_warmup_cosine_multiplier", names=("warmup_cosine_multiplier",),
             reference={"warmup_cosine_multiplier": "genlab.optim:warmup_cosine_multiplier"},
             forbid=FORBID, cases=warmup_cases, run=warmup_run, check=warmup_check,
             hint="step / warmup during the warmup, then 0.5 (1 + cos(pi * progress)), 0 after the end"),
]
del math
