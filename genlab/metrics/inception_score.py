"""Inception score (Salimans et al., 2016, "Improved techniques for training GANs").

    IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x)

High when each image is classified confidently (sharp p(y|x)) AND the classes are used
evenly (flat p(y)); it ranges from 1 to the number of classes (10 for digits). It never
looks at real data, so it cannot see that images are unrealistic in ways the classifier
ignores, nor that a generator produces one image per class (no diversity within a
class). The course's digits-IS uses our small digits classifier
(``genlab.pretrained.digits_features``), so it is not comparable with the Inception
score of papers.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from genlab._checks import check_images, check_int, check_tensor
from genlab.pretrained.digits_features import load_digits_features


class ScoreWithSpread(NamedTuple):
    """Mean of the per-split scores and their standard deviation (0.0 for one split)."""

    mean: float
    std: float


def inception_score(probs: torch.Tensor, splits: int = 1) -> ScoreWithSpread:
    """Inception score of class probabilities ``probs`` ``(n, classes)``.

    Rows must be probability vectors (non-negative, summing to 1). The ``n`` rows are cut
    in order into ``splits`` nearly equal parts (``torch.chunk``); the score is computed
    per part and the mean and (unbiased) standard deviation of those scores are
    returned, as in the paper, which used 10 splits of 50,000 images. Shuffle first if
    the rows are sorted. Computed in float64; ``0 * log 0`` counts as 0.
    """
    check_tensor("probs", probs, ndim=2)
    check_int("splits", splits, minimum=1)
    probs = probs.detach().to("cpu", torch.float64)
    n, classes = probs.shape
    if classes < 2:
        raise ValueError(f"probs needs at least 2 classes (columns), got {classes}")
    if (probs < 0).any():
        raise ValueError("probs must be non-negative (probabilities, not logits)")
    if not torch.allclose(probs.sum(1), torch.ones(n, dtype=torch.float64), atol=1e-4):
        raise ValueError("each row of probs must sum to 1 (apply softmax to logits first)")
    if splits > n:
        raise ValueError(f"splits ({splits}) must be <= the number of samples ({n})")
    scores = []
    for part in probs.chunk(splits):
        marginal = part.mean(0, keepdim=True)
        kl = torch.xlogy(part, part) - torch.xlogy(part, marginal)  # p log p - p log q
        scores.append(kl.sum(1).mean().exp())
    scores = torch.stack(scores)
    std = float(scores.std()) if splits > 1 else 0.0
    return ScoreWithSpread(float(scores.mean()), std)


@torch.no_grad()
def digits_class_probs(images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Class probabilities ``(n, 10)`` of ``(n, 1, 8, 8)`` images under the digits network."""
    check_images("images", images)
    check_int("batch_size", batch_size, minimum=1)
    net = load_digits_features()
    images = images.detach().to("cpu", torch.float32)
    return torch.cat([net(chunk).softmax(1) for chunk in images.split(batch_size)])


def digits_inception_score(images: torch.Tensor, splits: int = 1) -> ScoreWithSpread:
    """Digits-IS of ``(n, 1, 8, 8)`` images in [-1, 1] (between 1 and 10; higher is better)."""
    return inception_score(digits_class_probs(images), splits=splits)
