"""Clean-room checks of chapter 06 (Frechet distance, Inception score, best checkpoint)."""

from __future__ import annotations

import torch

from genlab.grading.spec import Exercise, randn
from genlab.metrics.inception_score import inception_score
from genlab.train.history import History
from genlab.train.hooks import best_step

SETUP = ("import math\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
         "import genlab\nfrom genlab.metrics import fid as fid_lib\n"
         "from genlab.metrics import inception_score as is_lib\nfrom genlab.train import hooks\n"
         "device = torch.device('cpu')\n")
FORBID = ("genlab.metrics.fid:frechet_distance", "genlab.metrics.fid:fid_from_features",
          "genlab.metrics.inception_score:inception_score", "genlab.train.hooks:best_step",
          # TorchMetrics' FID and Inception Score
          "torchmetrics.image.fid:_compute_fid",
          "torchmetrics.image.fid:FrechetInceptionDistance.compute",
          "torchmetrics.image.inception:InceptionScore.compute")


def _spd(rng, d, ridge):
    a = randn(rng, d, d)
    return a @ a.T / d + ridge * torch.eye(d, dtype=torch.float64)


def fd_cases(rng):
    eye = torch.eye(4, dtype=torch.float64)
    cases = [{"mu1": torch.zeros(4), "s1": eye, "mu2": torch.ones(4), "s2": 4 * eye},
             {"mu1": torch.tensor([1.0]), "s1": torch.tensor([[4.0]]),
              "mu2": torch.tensor([-2.0]), "s2": torch.tensor([[9.0]])}]
    for d, ridge in ((6, 0.1), (5, 0.0), (8, 0.01)):
        cases.append({"mu1": randn(rng, d), "s1": _spd(rng, d, ridge),
                      "mu2": randn(rng, d), "s2": _spd(rng, d, 0.0)})
    return cases


def fd_run(f, case):
    forward = f.frechet_distance(case["mu1"], case["s1"], case["mu2"], case["s2"])
    swapped = f.frechet_distance(case["mu2"], case["s2"], case["mu1"], case["s1"])
    return {"distance": forward, "swapped": swapped}


def is_cases(rng):
    one_class = torch.zeros(6, 3)
    one_class[:, 1] = 1.0
    return [{"probs": torch.eye(5).repeat(3, 1)}, {"probs": torch.full((8, 4), 0.25)},
            {"probs": torch.softmax(2 * torch.randn(40, 7, generator=rng), 1)},
            {"probs": torch.softmax(4 * torch.randn(25, 10, generator=rng, dtype=torch.float64), 1)},
            {"probs": one_class}]


def is_run(f, case):
    return {"score": f.inception_score(case["probs"])}


def _reference_is(probs):
    return float(inception_score(probs).mean)


def best_cases(rng):
    del rng
    nan = float("nan")
    return [{"series": [(100, 50.0), (200, 20.0), (300, 35.0)], "other": True},
            {"series": [(10, nan), (20, 9.0), (30, 4.0), (40, 4.0), (50, nan)], "other": False},
            {"series": [(5, nan)], "other": False},
            {"series": [(7, 3.0)], "other": True},
            {"series": [(1, 2.0), (3, 2.0), (9, 1.0), (12, 1.0)], "other": True}]


def best_run(f, case):
    history = History()
    for step, value in case["series"]:
        if case["other"]:
            history.log(step, fid=value, g_loss=0.1 * step)
        else:
            history.log(step, fid=value)
    if case["other"]:
        history.log(1000, g_loss=0.0)  # another series with a later step
    try:
        return {"step": f.best_checkpoint_step(history)}
    except ValueError:
        return {"step": "ValueError"}


def _reference_best(history):
    return best_step(history, "fid", "min")


EXERCISES = [
    Exercise(test="test_frechet_distance", names=("frechet_distance",),
             reference={"frechet_distance": "genlab.metrics.fid:frechet_distance"}, forbid=FORBID,
             cases=fd_cases, run=fd_run, rtol=1e-6, atol=1e-6,  # sqrtm in float64: ~1e-10
             hint="|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrtm(S1 S2)), as a Python float"),
    Exercise(test="test_inception_score", names=("inception_score",),
             reference={"inception_score": _reference_is}, forbid=FORBID,
             cases=is_cases, run=is_run, rtol=1e-6, atol=1e-6,
             hint="exp(mean over images of KL(p(y|x) || p(y))), with 0 log 0 = 0; a float"),
    Exercise(test="test_best_checkpoint_step", names=("best_checkpoint_step",),
             reference={"best_checkpoint_step": _reference_best}, forbid=FORBID,
             cases=best_cases, run=best_run,
             hint="lowest finite FID, earliest step on ties; ValueError when none is finite"),
]
