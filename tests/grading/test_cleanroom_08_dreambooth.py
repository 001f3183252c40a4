"""Chapter 08's DreamBooth and textual-inversion exercises in the clean room: right answers
written another way score, plausible wrong ones and delegating ones do not."""

from __future__ import annotations

import pytest
from cleanroom_cases import grade_cells

CHAPTER = "08_personalization"

PRIOR_OTHER_WAY = '''
def prior_preservation_loss(pred, target, prior_pred, prior_target, prior_weight=1.0):
    import torch.nn.functional as F
    return F.mse_loss(pred, target) + prior_weight * F.mse_loss(prior_pred, prior_target)
'''
PRIOR_SUMS = '''
def prior_preservation_loss(pred, target, prior_pred, prior_target, prior_weight=1.0):
    return ((pred - target) ** 2).sum() + prior_weight * ((prior_pred - prior_target) ** 2).sum()
'''
PRIOR_WEIGHT_ON_SUBJECT = '''
def prior_preservation_loss(pred, target, prior_pred, prior_target, prior_weight=1.0):
    return prior_weight * ((pred - target) ** 2).mean() + ((prior_pred - prior_target) ** 2).mean()
'''
PRIOR_ONE_MEAN = '''
def prior_preservation_loss(pred, target, prior_pred, prior_target, prior_weight=1.0):
    import torch
    # one mean over both batches: wrong when their sizes differ
    both = torch.cat([(pred - target).flatten(), (prior_pred - prior_target).flatten()])
    return (both ** 2).mean() * (1 + prior_weight) / 2
'''
PRIOR_DELEGATES = '''
def prior_preservation_loss(pred, target, prior_pred, prior_target, prior_weight=1.0):
    from genlab.finetune.dreambooth import prior_preservation_loss as reference
    return reference(pred, target, prior_pred, prior_target, prior_weight)
'''

MASK_OTHER_WAY = '''
def mask_embedding_grad_(weight, token_ids):
    keep = set(int(i) for i in token_ids)
    for row in range(weight.shape[0]):
        if row not in keep:
            weight.grad[row].zero_()
'''
MASK_NOT_IN_PLACE = '''
def mask_embedding_grad_(weight, token_ids):
    import torch
    mask = torch.zeros_like(weight.grad)
    mask[list(token_ids)] = 1.0
    weight.grad = weight.grad * mask
'''
MASK_INVERTED = '''
def mask_embedding_grad_(weight, token_ids):
    weight.grad[list(token_ids)] = 0.0
'''
MASK_ZEROES_WEIGHTS = '''
def mask_embedding_grad_(weight, token_ids):
    import torch
    keep = torch.zeros(weight.shape[0], dtype=torch.bool)
    keep[list(token_ids)] = True
    with torch.no_grad():
        weight[~keep] = 0.0
'''
MASK_DELEGATES = '''
def mask_embedding_grad_(weight, token_ids):
    from genlab.finetune import textual_inversion
    textual_inversion.mask_embedding_grad_(weight, token_ids)
'''


@pytest.mark.parametrize("answer", [PRIOR_OTHER_WAY])
def test_prior_preservation_loss_written_another_way_scores(answer):
    points = grade_cells(CHAPTER, {"prior_preservation_loss": answer})
    assert points["test_prior_preservation_loss"] == 3


@pytest.mark.parametrize("answer", [PRIOR_SUMS, PRIOR_WEIGHT_ON_SUBJECT, PRIOR_ONE_MEAN,
                                    PRIOR_DELEGATES])
def test_prior_preservation_loss_wrong_or_delegating_answers_lose_the_points(answer):
    points = grade_cells(CHAPTER, {"prior_preservation_loss": answer})
    assert points["test_prior_preservation_loss"] == 0


@pytest.mark.parametrize("answer", [MASK_OTHER_WAY])
def test_mask_embedding_grad_written_another_way_scores(answer):
    points = grade_cells(CHAPTER, {"mask_embedding_grad": answer})
    assert points["test_mask_embedding_grad"] == 3


@pytest.mark.parametrize("answer", [MASK_NOT_IN_PLACE, MASK_INVERTED, MASK_ZEROES_WEIGHTS,
                                    MASK_DELEGATES])
def test_mask_embedding_grad_wrong_or_delegating_answers_lose_the_points(answer):
    points = grade_cells(CHAPTER, {"mask_embedding_grad": answer})
    assert points["test_mask_embedding_grad"] == 0
