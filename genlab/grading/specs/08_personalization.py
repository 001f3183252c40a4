"""Clean-room checks of chapter 08 (cfg_combine; 14b adds its exercises below)."""

from __future__ import annotations

import torch

from genlab.grading.spec import Exercise

_G = "diffusers.guiders"
# every Diffusers guider whose forward pass is (or contains) the CFG combination
GUIDERS = (
    f"{_G}.classifier_free_guidance:ClassifierFreeGuidance.forward",
    f"{_G}.classifier_free_zero_star_guidance:ClassifierFreeZeroStarGuidance.forward",
    f"{_G}.adaptive_projected_guidance:AdaptiveProjectedGuidance.forward",
    f"{_G}.adaptive_projected_guidance:normalized_guidance",
    f"{_G}.adaptive_projected_guidance_mix:AdaptiveProjectedMixGuidance.forward",
    f"{_G}.adaptive_projected_guidance_mix:normalized_guidance",
    f"{_G}.tangential_classifier_free_guidance:TangentialClassifierFreeGuidance.forward",
    f"{_G}.tangential_classifier_free_guidance:normalized_guidance",
    f"{_G}.magnitude_aware_guidance:MagnitudeAwareGuidance.forward",
    f"{_G}.magnitude_aware_guidance:mambo_guidance",
    f"{_G}.frequency_decoupled_guidance:FrequencyDecoupledGuidance.forward",
    f"{_G}.perturbed_attention_guidance:PerturbedAttentionGuidance.forward",
    f"{_G}.skip_layer_guidance:SkipLayerGuidance.forward",
    f"{_G}.smoothed_energy_guidance:SmoothedEnergyGuidance.forward",
    f"{_G}.auto_guidance:AutoGuidance.forward",
)


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
        forbid=("genlab.finetune.guidance:cfg_combine",) + GUIDERS,
        cases=cfg_cases, run=cfg_run,
        # float64 inputs: two ways of writing the same line differ by a few ulps of values
        # of size ~10 (w up to 10), far below 1e-9.
        rtol=1e-9, atol=1e-9,
        hint="eps_uncond + w * (eps_cond - eps_uncond), with tensors, for any shape",
    ),
]


# ------------------------------------------------------------------ 14b: DreamBooth's loss

def prior_loss_cases(rng):
    """Subject and class batches of other shapes and sizes; weights 0, 1 and others."""
    def randn(*shape):
        return torch.randn(*shape, generator=rng, dtype=torch.float64)

    cases = []
    for shape, prior_shape, weight in (((2, 1, 8, 8), (3, 1, 8, 8), 1.0),
                                       ((4, 3, 5, 5), (4, 3, 5, 5), 0.0),
                                       ((1, 7), (6, 7), 0.5),
                                       ((3, 2, 4), (1, 2, 4), 2.5),
                                       ((5,), (2,), float(torch.rand((), generator=rng)) * 3)):
        cases.append({"pred": randn(*shape), "target": randn(*shape),
                      "prior_pred": randn(*prior_shape), "prior_target": randn(*prior_shape),
                      "weight": weight})
    return cases


def prior_loss_run(f, case):
    pred = case["pred"].clone().requires_grad_(True)
    prior_pred = case["prior_pred"].clone().requires_grad_(True)
    loss = f.prior_preservation_loss(pred, case["target"].clone(), prior_pred,
                                     case["prior_target"].clone(), prior_weight=case["weight"])
    # Gradients tell batch means from sums and the weight's place (which term it scales).
    grad_pred, grad_prior = torch.autograd.grad(loss, (pred, prior_pred), allow_unused=True)
    zeros = torch.zeros_like
    return {"loss": loss.detach().reshape(()),
            "grad_pred": zeros(pred) if grad_pred is None else grad_pred,
            "grad_prior_pred": zeros(prior_pred) if grad_prior is None else grad_prior}


# ------------------------------------------------------------------ 14b: textual inversion's mask

def mask_cases(rng):
    """Embedding matrices with gradients; rows to keep as lists (one, several, repeated)."""
    cases = []
    for vocab, dim, ids in ((10, 4, [9]), (7, 3, [0, 5]), (12, 2, [3, 3, 11]),
                            (5, 6, [2]), (31, 32, [27, 30])):
        cases.append({"weight": torch.randn(vocab, dim, generator=rng, dtype=torch.float64),
                      "grad": torch.randn(vocab, dim, generator=rng, dtype=torch.float64),
                      "token_ids": ids})
    return cases


def mask_run(f, case):
    weight = torch.nn.Parameter(case["weight"].clone())
    weight.grad = case["grad"].clone()
    # in place or not is decided by the judge from data, not by a probe in this process
    # (an answer can patch Tensor.data_ptr): a view of the original gradient's storage
    # holds the masked rows only when the answer wrote into that storage
    original = weight.grad.view(-1)
    f.mask_embedding_grad_(weight, list(case["token_ids"]))
    return {"grad": weight.grad.detach().clone(), "weight": weight.detach().clone(),
            "original_storage": original.detach().clone().view_as(weight)}


EXERCISES += [
    Exercise(
        test="test_prior_preservation_loss", names=("prior_preservation_loss",),
        reference={"prior_preservation_loss": "genlab.finetune.dreambooth:prior_preservation_loss"},
        forbid=("genlab.finetune.dreambooth:prior_preservation_loss",
                "genlab.finetune.dreambooth:dreambooth_loss_fn"),
        cases=prior_loss_cases, run=prior_loss_run,
        # float64: two correct ways (F.mse_loss, or a mean of squares) differ by a few ulps
        # of sums of at most ~1,000 terms of size ~10: far below 1e-9.
        rtol=1e-9, atol=1e-9,
        hint="MSE(pred, target) + prior_weight * MSE(prior_pred, prior_target), each a mean "
             "over all elements",
    ),
    Exercise(
        test="test_mask_embedding_grad", names=("mask_embedding_grad_",),
        reference={"mask_embedding_grad_": "genlab.finetune.textual_inversion:mask_embedding_grad_"},
        forbid=("genlab.finetune.textual_inversion:mask_embedding_grad_",
                "genlab.finetune.textual_inversion:RestoreFrozenRows.after_backward"),
        cases=mask_cases, run=mask_run,
        # Zeroing and keeping are exact: the kept rows must be the same bits.
        rtol=0.0, atol=0.0,
        hint="zero weight.grad's rows other than token_ids, in place (weight.grad[...] = 0)",
    ),
]
