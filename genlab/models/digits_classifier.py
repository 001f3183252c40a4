"""A tiny convolutional classifier for the 8x8 digits: the course's feature network.

Chapter 06 (monitoring) measures generated digits with it the way FID and IS measure
photographs with Inception v3 (Szegedy et al., 2016): its penultimate layer gives the
features FID compares, its class probabilities give the inception score. It is small on
purpose (about 10k parameters, ~40 KB as float32 safetensors) so the course can train
it in seconds and ship it; ``genlab.pretrained.digits_features`` trains, saves and
loads it.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab._checks import check_tensor

NUM_CLASSES = 10


class DigitsClassifier(nn.Module):
    """Conv net for ``(n, 1, 8, 8)`` digits in [-1, 1] -> 10 class logits.

    Layers: conv 3x3 (1 -> ``channels``), SiLU, conv 3x3 (-> ``2 * channels``), SiLU,
    max-pool 2 (8x8 -> 4x4), linear (-> ``num_features``), SiLU, linear (-> 10).
    :meth:`features` returns the ``(n, num_features)`` activations after the penultimate
    SiLU. SiLU rather than ReLU because a ReLU net this small leaves many penultimate
    units dead (constant zero), and a constant feature carries nothing for FID.

    ``num_features`` is an attribute so torchmetrics' FID can use this network as a
    custom feature extractor without probing it.
    """

    def __init__(self, channels: int = 8, num_features: int = 32):
        super().__init__()
        self.channels = int(channels)
        self.num_features = int(num_features)
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.SiLU(),
            nn.MaxPool2d(2),
        )
        self.hidden = nn.Linear(2 * channels * 4 * 4, num_features)
        self.head = nn.Linear(num_features, NUM_CLASSES)

    def _check(self, images: torch.Tensor) -> None:
        check_tensor("images", images, ndim=4)
        if tuple(images.shape[1:]) != (1, 8, 8):
            raise ValueError(
                f"images must have shape (n, 1, 8, 8) like genlab.data.load_digits, "
                f"got {tuple(images.shape)}"
            )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``(n, num_features)`` of ``(n, 1, 8, 8)`` images."""
        self._check(images)
        return nn.functional.silu(self.hidden(self.conv(images).flatten(1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``(n, 10)``."""
        return self.head(self.features(images))


class PenultimateFeatures(nn.Module):
    """Wraps a :class:`DigitsClassifier` so ``forward`` returns its penultimate features.

    This is the shape torchmetrics' ``FrechetInceptionDistance(feature=module)`` expects
    (a module mapping images to ``(n, d)``, with a ``num_features`` attribute).
    """

    def __init__(self, classifier: DigitsClassifier):
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(images)
