"""Clean-room checks of chapter 07 (LoRA forward and merge, freezing, unfreezing schedule,
virtual tokens). See docs/grading.md for the contract."""

from __future__ import annotations

import torch
from torch import nn

from genlab.grading.spec import Exercise

# PEFT's and Diffusers' LoRA layers compute the same forward pass and merge
LORA_LIBRARIES = (
    "peft.tuners.lora.layer:Linear.forward", "peft.tuners.lora.layer:Linear.get_delta_weight",
    "peft.tuners.lora.layer:Linear.merge",
    "diffusers.models.lora:LoRACompatibleLinear.forward",
    "diffusers.models.lora:LoRACompatibleLinear._fuse_lora",
    "diffusers.models.lora:LoRALinearLayer.forward",
)


def _size(rng, lo, hi):
    return int(torch.randint(lo, hi, (1,), generator=rng))


def _randn(rng, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=rng, dtype=dtype)


# ------------------------------------------------------------------ LoRA forward

def lora_cases(rng):
    """Unseen shapes: 2-D and 3-D inputs, ranks 1..6, with and without bias, B != 0."""
    cases = []
    for lead, bias in [((3,), True), ((2, 4), True), ((5,), False), ((1, 2, 3), True)]:
        d_in, d_out, r = _size(rng, 2, 9), _size(rng, 2, 9), _size(rng, 1, 7)
        cases.append({
            "x": _randn(rng, *lead, d_in),
            "weight": _randn(rng, d_out, d_in),
            "bias": _randn(rng, d_out) if bias else None,
            "lora_A": _randn(rng, r, d_in),
            "lora_B": _randn(rng, d_out, r),
            "scaling": float(_size(rng, 1, 33)) / r,
        })
    return cases


def lora_run(f, case):
    x = case["x"].clone().requires_grad_(True)
    a = case["lora_A"].clone().requires_grad_(True)
    b = case["lora_B"].clone().requires_grad_(True)
    w = case["weight"].clone().requires_grad_(True)
    out = f.lora_forward(x, w, case["bias"], a, b, case["scaling"])
    weights = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).view_as(out)
    grad_x, grad_w, grad_a, grad_b = torch.autograd.grad((out * weights).sum(), [x, w, a, b])
    return {"out": out.detach(), "grad_x": grad_x, "grad_weight": grad_w,
            "grad_A": grad_a, "grad_B": grad_b}


# ------------------------------------------------------------------ merging

def merge_cases(rng):
    cases = []
    for _ in range(4):
        d_in, d_out, r = _size(rng, 2, 10), _size(rng, 2, 10), _size(rng, 1, 6)
        cases.append({"weight": _randn(rng, d_out, d_in), "lora_A": _randn(rng, r, d_in),
                      "lora_B": _randn(rng, d_out, r), "scaling": float(_size(rng, 1, 17)) / r})
    # a square weight, always: transposes that are wrong only there (A^T B^T) still fail
    d, r = _size(rng, 2, 10), _size(rng, 1, 6)
    cases.append({"weight": _randn(rng, d, d), "lora_A": _randn(rng, r, d),
                  "lora_B": _randn(rng, d, r), "scaling": float(_size(rng, 1, 17)) / r})
    return cases


def merge_run(f, case):
    merged = f.merge_lora_weight(case["weight"].clone(), case["lora_A"].clone(),
                                 case["lora_B"].clone(), case["scaling"])
    return {"merged": merged.detach(), "shape": list(merged.shape)}


# ------------------------------------------------------------------ freezing

def freeze_cases(rng):
    """Small named networks (nested Sequentials), prefixes that keep some parts."""
    h = _size(rng, 2, 7)
    return [
        {"sizes": [3, 4, 2], "prefixes": ["1."]},              # the visible shape, other net
        {"sizes": [h, h + 1, h, 2], "prefixes": ["2.", "0.bias"]},
        {"sizes": [h, 3, 3, 3, 1], "prefixes": ["3.weight"]},
        {"sizes": [h, 2, 2], "prefixes": "0."},                # one string, not a list
        {"sizes": [h, 2], "prefixes": ["5."]},                 # matches nothing: ValueError
        # state carried between calls: a network frozen before, or frozen for other
        # prefixes by an earlier call, must have the kept parts trainable again
        {"sizes": [h, 3, 2], "prefixes": ["1."], "before": "all_frozen"},
        {"sizes": [h, 3, 3, 2], "prefixes": ["0.", "2.bias"], "before": ["1."]},
    ]


def _net(sizes):
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    return nn.Sequential(*layers)


def freeze_run(f, case):
    torch.manual_seed(0)
    model = _net(case["sizes"])
    before = case.get("before")
    if before == "all_frozen":
        model.requires_grad_(False)
    elif before is not None:
        f.freeze_all_but(model, before)
    try:
        count = f.freeze_all_but(model, case["prefixes"])
    except ValueError:  # asked for when a prefix matches nothing
        return {"raised": "ValueError"}
    flags = {name: bool(p.requires_grad) for name, p in model.named_parameters()}
    x = torch.randn(4, case["sizes"][0])
    model(x).sum().backward()
    grads = {name: p.grad is not None for name, p in model.named_parameters()}
    return {"count": count, "requires_grad": flags, "has_grad": grads}


# ------------------------------------------------------------------ unfreezing schedule

def schedule_cases(rng):
    cases = [{"num_groups": 5, "every": 10}, {"num_groups": 1, "every": 3},
             {"num_groups": 4, "every": 1}]
    cases.append({"num_groups": _size(rng, 2, 9), "every": _size(rng, 2, 13)})
    return cases


def schedule_run(f, case):
    n, k = case["num_groups"], case["every"]
    return {"counts": [f.unfrozen_groups(step, n, k) for step in range(0, n * k + 2 * k + 1)]}


# ------------------------------------------------------------------ virtual tokens

def prompt_cases(rng):
    cases = []
    for mask_dtype in ["long", "bool", "float", None]:
        batch, seq, dim, n = _size(rng, 1, 4), _size(rng, 1, 7), _size(rng, 2, 6), _size(rng, 1, 5)
        mask = None
        if mask_dtype is not None:
            mask = (torch.rand(batch, seq, generator=rng) > 0.3).to(
                {"long": torch.long, "bool": torch.bool, "float": torch.float32}[mask_dtype])
        cases.append({"embeds": _randn(rng, batch, seq, dim), "mask": mask,
                      "virtual": _randn(rng, n, dim)})
    return cases


def prompt_run(f, case):
    embeds = case["embeds"].clone().requires_grad_(True)
    virtual = case["virtual"].clone().requires_grad_(True)
    out, mask = f.prepend_virtual_tokens(embeds, case["mask"], virtual)
    weights = torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype).view_as(out)
    grad_e, grad_v = torch.autograd.grad((out * weights).sum(), [embeds, virtual])
    return {"embeds": out.detach(), "mask": mask, "grad_embeds": grad_e, "grad_virtual": grad_v}


# float64 inputs and the same few products: differences are summation order only.
_TIGHT = {"rtol": 1e-9, "atol": 1e-10}

EXERCISES = [
    Exercise(
        test="test_lora_forward", names=("lora_forward",),
        reference={"lora_forward": "genlab.finetune.lora:lora_forward"},
        forbid=("genlab.finetune.lora:LoRALinear.forward",
                "genlab.finetune.lora:merge_lora_weight") + LORA_LIBRARIES,
        cases=lora_cases, run=lora_run, **_TIGHT,
        hint="x W^T + b + scaling * (x A^T) B^T; the bias may be None; any leading dimensions",
    ),
    Exercise(
        test="test_merge_lora", names=("merge_lora_weight",),
        reference={"merge_lora_weight": "genlab.finetune.lora:merge_lora_weight"},
        forbid=("genlab.finetune.lora:LoRALinear.merged_weight",
                "genlab.finetune.lora:LoRALinear.delta_weight") + LORA_LIBRARIES,
        cases=merge_cases, run=merge_run, **_TIGHT,
        hint="W + scaling * B @ A, shape (out, in)",
    ),
    Exercise(
        test="test_freeze_all_but", names=("freeze_all_but",),
        reference={"freeze_all_but": "genlab.finetune.freeze:freeze_all_but"},
        forbid=("genlab.finetune.freeze:trainable_parameters",),
        cases=freeze_cases, run=freeze_run,
        hint="requires_grad = name.startswith(any prefix); a str is one prefix; count "
             "trainable scalars; ValueError for a prefix that matches nothing",
    ),
    Exercise(
        test="test_unfrozen_groups", names=("unfrozen_groups",),
        reference={"unfrozen_groups": "genlab.finetune.freeze:unfrozen_groups"},
        forbid=("genlab.finetune.freeze:GradualUnfreezing.apply",),
        cases=schedule_cases, run=schedule_run,
        hint="1 + step // every, never more than num_groups",
    ),
    Exercise(
        test="test_prepend_virtual_tokens", names=("prepend_virtual_tokens",),
        reference={"prepend_virtual_tokens":
                   "genlab.finetune.prompt_tuning:prepend_virtual_tokens"},
        forbid=("genlab.finetune.prompt_tuning:PromptTuning.forward",),
        cases=prompt_cases, run=prompt_run, **_TIGHT,
        hint="virtual tokens first, for every sequence; the mask gets ones in front, in the "
             "mask's own dtype (long when no mask is given)",
    ),
]
