"""Clean-room checks of chapter 02 (KL, reparameterization, ELBO)."""

from __future__ import annotations

import math

import torch

from genlab.grading.spec import Exercise, compare, randn, value_and_grads

SETUP = ("import math\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
         "import genlab\nvae_losses = genlab.losses.vae\ndevice = torch.device('cpu')\n")
FORBID = tuple(f"genlab.losses.vae:{name}" for name in (
    "kl_standard_normal", "kl_per_latent_dim", "reparameterize", "reconstruction_nll",
    "elbo_loss", "negative_elbo_unchecked")) + (
    # torch's closed-form KL between two Normals: kl_divergence(Normal(mu, s), Normal(0, 1))
    "torch.distributions.kl:_kl_normal_normal",)
# float64 throughout: rounding is ~1e-15; 1e-9 allows another exact formula
TOL = dict(rtol=1e-9, atol=1e-10)


def kl_cases(rng):
    return [
        {"mu": torch.tensor([[0.0, 0.0], [1.0, 0.0]]),
         "logvar": torch.tensor([[0.0, 0.0], [0.0, math.log(2.0)]])},
        {"mu": randn(rng, 6, 5, grad=True), "logvar": randn(rng, 6, 5, grad=True)},
        {"mu": randn(rng, 3, 2, grad=True, scale=3), "logvar": randn(rng, 3, 2, grad=True)},
        {"mu": torch.zeros(2, 3, dtype=torch.float64),
         "logvar": torch.full((2, 3), -30.0, dtype=torch.float64)},  # stays finite
    ]


def kl_run(f, case):
    return value_and_grads(f.kl_standard_normal(case["mu"], case["logvar"]),
                           {"mu": case["mu"], "logvar": case["logvar"]})


def reparam_cases(rng):
    return [{"kind": "moments"}, {"kind": "grad", "mu": randn(rng, 3, 4, 5, grad=True),
                                  "logvar": randn(rng, 3, 4, 5, grad=True)},
            {"kind": "fresh"}]


def reparam_run(f, case):
    if case["kind"] == "moments":  # N(mu, exp(logvar)) per entry, independent entries
        n = 100_000
        mu = torch.tensor([2.0, -1.0, 0.0]).repeat(n, 1)
        logvar = torch.tensor([0.0, math.log(9.0), math.log(0.04)]).repeat(n, 1)
        z = f.reparameterize(mu, logvar)
        return {"shape": list(z.shape), "mean": z.mean(0).double(), "std": z.std(0).double(),
                "corr01": float(torch.corrcoef(z.T)[0, 1])}
    if case["kind"] == "fresh":
        a = f.reparameterize(torch.zeros(4, 2), torch.zeros(4, 2))
        b = f.reparameterize(torch.zeros(4, 2), torch.zeros(4, 2))
        return {"fresh_noise": not bool(torch.equal(a, b))}
    z = f.reparameterize(case["mu"], case["logvar"])
    # z = mu + exp(logvar / 2) eps: dz/dmu = 1, dz/dlogvar = (z - mu) / 2
    g_mu, g_lv = torch.autograd.grad(z.sum(), (case["mu"], case["logvar"]))
    return {"shape": list(z.shape), "grad_mu": g_mu,
            "grad_logvar_error": float((g_lv - 0.5 * (z - case["mu"]).detach()).abs().max())}


def reparam_check(got, want):
    # sampling error with n = 100000: sd of a mean 0.003 * sigma, of an std ~0.0022 * sigma
    tolerances = {"mean": (0.0, 0.05), "std": (0.02, 0.02), "corr01": (0.0, 0.02),
                  "grad_logvar_error": (0.0, 1e-5)}
    if isinstance(want, dict) and "corr01" in want:
        want = dict(want, corr01=0.0)
        if isinstance(got, dict) and "mean" in got:
            return compare(got, {**want, "mean": torch.tensor([2.0, -1.0, 0.0], dtype=torch.float64),
                                 "std": torch.tensor([1.0, 3.0, 0.2], dtype=torch.float64)},
                           rtol=0, atol=0, tolerances=tolerances)
    if isinstance(want, dict) and "grad_logvar_error" in want:
        want = dict(want, grad_logvar_error=0.0)
    return compare(got, want, rtol=1e-6, atol=1e-7, tolerances=tolerances)


def elbo_cases(rng):
    x = (torch.rand(5, 1, 8, 8, generator=rng, dtype=torch.float64) > 0.5).double() * 2 - 1
    return [
        {"x": torch.ones(2, 1, 8, 8), "logits": torch.zeros(2, 1, 8, 8),
         "mu": torch.zeros(2, 3), "logvar": torch.zeros(2, 3), "beta": 1.0},
        {"x": x, "logits": randn(rng, 5, 1, 8, 8, grad=True), "mu": randn(rng, 5, 4, grad=True),
         "logvar": randn(rng, 5, 4, grad=True), "beta": 2.5},
        # the same batch three times: a batch mean does not change
        {"x": x.repeat(3, 1, 1, 1), "logits": randn(rng, 5, 1, 8, 8).repeat(3, 1, 1, 1),
         "mu": randn(rng, 5, 4).repeat(3, 1), "logvar": randn(rng, 5, 4).repeat(3, 1),
         "beta": 0.5},
        # grey targets and confident logits (|logit| = 120 and 30): sigmoid() rounds to
        # exactly 0 or 1 there, so BCE on sigmoid(logits) is clamped and wrong; on logits it
        # is exact
        {"x": x * 0.5, "logits": torch.where(x > 0, 120.0, -30.0).requires_grad_(True),
         "mu": randn(rng, 5, 4), "logvar": randn(rng, 5, 4), "beta": 1.0},
        {"x": x, "logits": (25 * randn(rng, 5, 1, 8, 8)).requires_grad_(True),
         "mu": randn(rng, 5, 4), "logvar": randn(rng, 5, 4), "beta": 1.0},
    ]


def elbo_run(f, case):
    out = f.elbo_loss(case["x"], case["logits"], case["mu"], case["logvar"], beta=case["beta"])
    loss, recon, kl = out
    inputs = {k: case[k] for k in ("logits", "mu", "logvar")}
    return {"parts": [loss, recon, kl], **{k: v for k, v in value_and_grads(loss, inputs).items()
                                           if k != "value"}}


EXERCISES = [
    Exercise(test="test_kl_standard_normal", names=("kl_standard_normal",),
             reference={"kl_standard_normal": "genlab.losses.vae:kl_standard_normal"},
             forbid=FORBID, cases=kl_cases, run=kl_run, **TOL,
             hint="0.5 * sum over latent dims of (mu^2 + exp(logvar) - 1 - logvar), per sample"),
    Exercise(test="test_reparameterize", names=("reparameterize",),
             reference={"reparameterize": "genlab.losses.vae:reparameterize"}, forbid=FORBID,
             cases=reparam_cases, run=reparam_run, check=reparam_check,
             hint="mu + exp(0.5 * logvar) * torch.randn_like(mu): fresh noise per entry and call"),
    Exercise(test="test_elbo_loss", names=("elbo_loss",),
             reference={"elbo_loss": "genlab.losses.vae:elbo_loss"}, forbid=FORBID,
             cases=elbo_cases, run=elbo_run, check_dtype=False, rtol=1e-7, atol=1e-7,
             hint="binary_cross_entropy_with_logits on (x + 1) / 2, summed per image, batch "
                  "mean; KL summed per sample, batch mean; loss = recon + beta * kl"),
]
