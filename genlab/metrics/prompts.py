"""Does a text-to-image model follow its prompts? Measures on the 8x8 digits (chapter 08).

All three use the shipped digits classifier (``genlab.pretrained.digits_features``, 99.4%
test accuracy):

- :func:`prompt_accuracy`: the share of images of "digit k" that the classifier reads as k
  (faithfulness to the prompt);
- :func:`within_class_spread`: the mean pairwise distance of the classifier's 32-d
  penultimate features among images of the same prompt, averaged over prompts
  (diversity; real test digits score about 15);
- :func:`samples_fid`: digits-FID of the images against a real split (quality and
  coverage together; see ``genlab.metrics.fid`` for what it is not comparable with).
"""

from __future__ import annotations

import torch

from genlab._checks import check_tensor
from genlab.metrics.fid import digits_features, fid
from genlab.pretrained.digits_features import load_digits_features


def _check_images_digits(images: torch.Tensor, digits: torch.Tensor) -> None:
    check_tensor("images", images, ndim=4)
    check_tensor("digits", digits, ndim=1, floating=False)
    if images.shape[1:] != (1, 8, 8):
        raise ValueError(f"images must have shape (n, 1, 8, 8), got {tuple(images.shape)}")
    if len(digits) != len(images):
        raise ValueError(f"digits has {len(digits)} entries for {len(images)} images")
    if len(digits) and (digits.min() < 0 or digits.max() > 9):
        raise ValueError("digits must be in 0-9")


@torch.no_grad()
def prompt_accuracy(images: torch.Tensor, digits: torch.Tensor) -> float:
    """Share of ``(n, 1, 8, 8)`` images in [-1, 1] that the classifier reads as ``digits`` ``(n,)``."""
    _check_images_digits(images, digits)
    net = load_digits_features()
    predicted = net(images.detach().to("cpu", torch.float32)).argmax(1)
    return (predicted == digits.cpu()).float().mean().item()


@torch.no_grad()
def within_class_spread(images: torch.Tensor, digits: torch.Tensor) -> float:
    """Mean pairwise feature distance within each digit, averaged over the digits present.

    Digits with a single image are skipped (no pair); raises ``ValueError`` if none has two.
    """
    _check_images_digits(images, digits)
    features = digits_features(images).double()
    spreads = []
    for k in digits.unique():
        group = features[digits.cpu() == k]
        n = len(group)
        if n < 2:
            continue
        distances = torch.cdist(group, group)
        spreads.append(distances.sum() / (n * (n - 1)))  # the diagonal is zero
    if not spreads:
        raise ValueError("within_class_spread needs at least two images of some digit")
    return float(torch.stack(spreads).mean())


def samples_fid(images: torch.Tensor, real: str | torch.Tensor = "test") -> float:
    """Digits-FID of ``(n, 1, 8, 8)`` images in [-1, 1] against ``real`` (a split name or images)."""
    check_tensor("images", images, ndim=4)
    return fid(real, images)
