"""Clean-room checks of chapter 08 (cfg_combine; 14b adds its exercises below)."""

from __future__ import annotations

import torch

from genlab.grading.spec import Exercise


def cfg_cases(rng):
    """Noise predictions of several shapes and guidance scales, 0 and 1 included."""
    def pair(*shape):
        return (torch.randn(*shape, generator=rng, dtype=torch.float64),
                torch.randn(*shape, generator=rng, dtype=torch.float64))

    cases = []
    for shape, w in (((2, 1, 8, 8), 3.0), ((4, 3, 5, 5), 0.0), ((3, 4), 1.0),
                     ((1, 4, 16, 16), 7.5), ((5,), float(torch.rand((), generator=rng)) * 10)):
        u, c = pair(*shape)
        cases.append({"eps_uncond": u, "eps_cond": c, "w": w})
    return cases


def cfg_run(f, case):
    u = case["eps_uncond"].clone().requires_grad_(True)
    c = case["eps_cond"].clone().requires_grad_(True)
    out = f.cfg_combine(u, c, case["w"])
    # Weighted sum: gradients (1 - w) and w times the weights, not just their sums.
    weights = torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype).reshape(out.shape)
    grad_u, grad_c = torch.autograd.grad((out * weights).sum(), (u, c), allow_unused=True)
    zeros = torch.zeros_like(u)
    return {"out": out.detach(), "shape": list(out.shape),
            "grad_uncond": zeros if grad_u is None else grad_u,
            "grad_cond": zeros if grad_c is None else grad_c}


EXERCISES = [
    Exercise(
        test="test_cfg_combine", names=("cfg_combine",),
        reference={"cfg_combine": "genlab.finetune.guidance:cfg_combine"},
        forbid=("genlab.finetune.guidance:cfg_combine",
                "diffusers.guiders.classifier_free_guidance:ClassifierFreeGuidance.forward"),
        cases=cfg_cases, run=cfg_run,
        # float64 inputs: two ways of writing the same line differ by a few ulps of values
        # of size ~10 (w up to 10), far below 1e-9.
        rtol=1e-9, atol=1e-9,
        hint="eps_uncond + w * (eps_cond - eps_uncond), with tensors, for any shape",
    ),
]
