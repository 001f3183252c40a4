"""scikit-learn's 8x8 handwritten digits (1,797 images, shipped with the package: no download).

Pixels are scaled from scikit-learn's 0..16 to [-1, 1]. The train/test split is fixed
(stratified, 20% test, seed 0) so every chapter and benchmark sees the same images.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from genlab._checks import check_bool, check_tensor

TEST_FRACTION = 0.2
SPLIT_SEED = 0


@lru_cache(maxsize=1)
def _load() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32) / 8.0 - 1.0  # 0..16 -> -1..1
    labels = torch.tensor(bunch.target, dtype=torch.long)
    return images.unsqueeze(1), labels  # (1797, 1, 8, 8), (1797,)


@lru_cache(maxsize=1)
def _split_indices() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.model_selection import train_test_split

    _, labels = _load()
    idx = list(range(len(labels)))
    train_idx, test_idx = train_test_split(
        idx, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels.numpy()
    )
    return torch.tensor(sorted(train_idx)), torch.tensor(sorted(test_idx))


def load_digits(split: str = "train", flatten: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(images, labels)`` of one split.

    images: float32 in [-1, 1], shape ``(n, 1, 8, 8)`` (or ``(n, 64)`` with ``flatten``);
    labels: int64 digit classes 0..9, shape ``(n,)``.
    ``split`` is ``"train"`` (1,437 images), ``"test"`` (360) or ``"all"`` (1,797).
    """
    if not isinstance(split, str) or split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    check_bool("flatten", flatten)
    images, labels = _load()
    if split != "all":
        train_idx, test_idx = _split_indices()
        idx = train_idx if split == "train" else test_idx
        images, labels = images[idx], labels[idx]
    if flatten:
        images = images.reshape(len(images), -1)
    return images.clone(), labels.clone()


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Map images from [-1, 1] back to [0, 1] for display (values are clamped)."""
    check_tensor("images", images, finite=False)
    return ((images + 1) / 2).clamp(0, 1)
