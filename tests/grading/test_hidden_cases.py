"""Hidden cases strong enough for the mistakes issue 29 found them too weak for, and
tolerances sized to the reference's own rounding (a more exact answer is not failed)."""

from __future__ import annotations

import pytest
from answer_catalog import CATALOG
from cleanroom_cases import grade_cells

NEVER_UNFREEZES = '''
def freeze_all_but(model, prefixes):   # freezes the rest, never unfreezes what it keeps
    keep = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    names = [n for n, _ in model.named_parameters()]
    for q in keep:
        if not any(n.startswith(q) for n in names):
            raise ValueError(q)
    for name, p in model.named_parameters():
        if not name.startswith(keep):
            p.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
'''
TRANSPOSED_WHEN_SQUARE = '''
def merge_lora_weight(weight, lora_A, lora_B, scaling):   # (B A)^T where the shapes allow it
    d = scaling * (lora_A.T @ lora_B.T)
    return weight + (d if d.shape == weight.shape else d.T)
'''
FAKES_NOT_DETACHED = '''
def gradient_penalty(critic, real, fake, weight=10.0):
    eps = torch.rand(real.shape[0], *[1] * (real.dim() - 1), dtype=real.dtype)
    x = (eps * real.detach() + (1 - eps) * fake).requires_grad_(True)
    g, = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return weight * ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
'''
_HYBRID = CATALOG["03_diffusion_losses"]["hybrid_loss"]["right"]
_HEADER = "def hybrid_loss(model_output, x0, noise, x_t, t, alphas_cumprod, lambda_vlb=0.001):\n"
HYBRID_IN_FLOAT32 = _HYBRID.replace(_HEADER, _HEADER + (
    "    model_output, x0, noise, x_t = (v.float() for v in (model_output, x0, noise, x_t))\n"
    "    alphas_cumprod = alphas_cumprod.float()\n"))
HYBRID_IN_FLOAT64 = _HYBRID.replace(_HEADER, _HEADER + (
    "    model_output, x0, noise, x_t = (v.double() for v in (model_output, x0, noise, x_t))\n"
    "    alphas_cumprod = alphas_cumprod.double()\n"))


@pytest.mark.parametrize("chapter,cell,test,answer", [
    ("07_finetuning", "freeze_all_but", "test_freeze_all_but", NEVER_UNFREEZES),
    ("07_finetuning", "merge_lora_weight", "test_merge_lora", TRANSPOSED_WHEN_SQUARE),
    ("01_gan_losses", "gradient_penalty", "test_gradient_penalty", FAKES_NOT_DETACHED),
], ids=["state-between-calls", "square-weight", "nonlinear-critic"])
def test_the_mistakes_the_old_cases_missed_score_nothing(chapter, cell, test, answer):
    points, feedback = grade_cells(chapter, {cell: answer}, with_feedback=True)[test]
    assert points == 0, feedback


@pytest.mark.parametrize("answer", [HYBRID_IN_FLOAT32, HYBRID_IN_FLOAT64], ids=["float32", "float64"])
def test_the_hybrid_loss_in_either_precision_gets_full_points(answer):
    assert HYBRID_IN_FLOAT32 != _HYBRID and HYBRID_IN_FLOAT64 != _HYBRID
    points, feedback = grade_cells("03_diffusion_losses", {"hybrid_loss": answer},
                                   with_feedback=True)["test_hybrid_loss"]
    assert points == 3, feedback
