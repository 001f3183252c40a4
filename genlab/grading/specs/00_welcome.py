"""Clean-room checks of chapter 00 (count_parameters)."""

from __future__ import annotations

import torch
from torch import nn

from genlab.finetune.freeze import trainable_parameters
from genlab.grading.spec import Exercise


def count_cases(rng):
    """Networks described as data: layer sizes, frozen layers, a tied weight, buffers."""
    def size(lo, hi):
        return int(torch.randint(lo, hi, (1,), generator=rng))

    a, b, c = size(2, 9), size(2, 9), size(2, 9)
    return [
        {"layers": [["linear", 3, 2]], "frozen": [], "tie": False},  # the visible example
        {"layers": [["conv", 1, a, 3], ["relu"], ["linear", b, c]], "frozen": [], "tie": False},
        {"layers": [["conv", 1, a, 3], ["relu"], ["linear", b, c]], "frozen": [0], "tie": False},
        {"layers": [["linear", a, b], ["batchnorm", b], ["linear", b, c, False]],
         "frozen": [2], "tie": False},  # buffers (running mean/var) are not parameters
        {"layers": [["linear", a, a], ["tanh"], ["linear", a, a]], "frozen": [], "tie": True},
        {"layers": [["relu"]], "frozen": [], "tie": False},
    ]


def _build(case):
    layers = []
    for kind, *args in case["layers"]:
        if kind == "linear":
            layers.append(nn.Linear(args[0], args[1], bias=args[2] if len(args) > 2 else True))
        elif kind == "conv":
            layers.append(nn.Conv2d(*args))
        elif kind == "batchnorm":
            layers.append(nn.BatchNorm1d(args[0]))
        else:
            layers.append({"relu": nn.ReLU, "tanh": nn.Tanh}[kind]())
    model = nn.Sequential(*layers)
    for index in case["frozen"]:
        model[index].requires_grad_(False)
    if case["tie"]:
        model[2].weight = model[0].weight  # one tensor used twice counts once
    return model


def count_run(f, case):
    model = _build(case)
    return {"count": f.count_parameters(model)}


def _trainable(model):
    return trainable_parameters(model)


EXERCISES = [
    Exercise(
        test="test_count_parameters", names=("count_parameters",),
        reference={"count_parameters": _trainable},
        forbid=("genlab.finetune.freeze:trainable_parameters",),
        cases=count_cases, run=count_run,
        hint="count p.numel() of model.parameters() with requires_grad, each tensor once",
    ),
]
