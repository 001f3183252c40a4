"""Recipe and builder of the digits feature network (:mod:`genlab.pretrained.digits_features`).

``python -m genlab.pretrained build digits-features`` calls :func:`build`.

Reproducibility: training runs in float64 on one thread with seeded generators and
deterministic algorithms; the weights are stored as float32. Rounding float64 to float32
hides the last-bit differences that other CPUs' kernels may produce, so the rebuilt file
has the same bytes (and hash) on other machines, not only on the one that built it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from genlab.data import load_digits
from genlab.device import deterministic_cpu
from genlab.models.digits_classifier import DigitsClassifier
from genlab.pretrained import store
from genlab.pretrained.digits_features import FILENAME, NAME, REBUILD, test_accuracy

# The recipe is part of what the hash pins down: change one and rebuild.
RECIPE = {
    "channels": 8,
    "num_features": 32,
    "epochs": 30,
    "batch_size": 64,
    "lr": 2e-3,
    "seed": 0,
    "augment": "random shift by up to one pixel",
    "train_dtype": "float64",
    "stored_dtype": "float32",
}
MIN_TEST_ACCURACY = 0.97


def _shift_one_pixel(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by -1, 0 or +1 pixel in each direction (background fills in)."""
    padded = F.pad(images, (1, 1, 1, 1), value=-1.0)  # -1 is the digits' background
    offsets = torch.randint(0, 3, (len(images), 2), generator=generator)
    out = torch.empty_like(images)
    for dy in range(3):
        for dx in range(3):
            mask = (offsets[:, 0] == dy) & (offsets[:, 1] == dx)
            out[mask] = padded[mask][:, :, dy:dy + 8, dx:dx + 8]
    return out


def train_digits_features(recipe: dict | None = None, verbose: bool = False) -> DigitsClassifier:
    """Train the feature network from scratch by ``recipe`` (default :data:`RECIPE`).

    Returns a float32 :class:`DigitsClassifier` in eval mode, on the CPU.
    """
    recipe = {**RECIPE, **(recipe or {})}
    images, labels = load_digits("train")
    images = images.double()
    with deterministic_cpu():
        generator = torch.Generator().manual_seed(recipe["seed"])
        torch.manual_seed(recipe["seed"])  # the layers' initialization
        net = DigitsClassifier(recipe["channels"], recipe["num_features"]).double()
        optimizer = torch.optim.Adam(net.parameters(), lr=recipe["lr"])
        for epoch in range(recipe["epochs"]):
            order = torch.randperm(len(images), generator=generator)
            for start in range(0, len(images), recipe["batch_size"]):
                idx = order[start:start + recipe["batch_size"]]
                batch = _shift_one_pixel(images[idx], generator)
                loss = F.cross_entropy(net(batch), labels[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if verbose:
                print(f"epoch {epoch + 1}/{recipe['epochs']}: last batch loss {loss.item():.4f}")
    return net.float().eval()


def build(folder: str | Path | None = None, verbose: bool = True) -> Path:
    """Train, check accuracy, save ``digits_features.safetensors`` and record its hash.

    ``folder`` defaults to the installed package (what ``python -m genlab.pretrained
    build digits-features`` rewrites); tests pass a temporary folder. Raises
    ``RuntimeError`` if the test accuracy is below :data:`MIN_TEST_ACCURACY`.
    """
    folder = Path(folder or store.package_dir())
    folder.mkdir(parents=True, exist_ok=True)
    net = train_digits_features(verbose=verbose)
    accuracy = test_accuracy(net)
    if accuracy < MIN_TEST_ACCURACY:
        raise RuntimeError(
            f"the digits feature network reached {accuracy:.3f} test accuracy, below "
            f"the required {MIN_TEST_ACCURACY}; the recipe needs changing"
        )
    path = folder / FILENAME
    store.save_tensors(path, net.state_dict())
    entry = store.record(folder, NAME, path, REBUILD, test_accuracy=round(accuracy, 4),
                         recipe=RECIPE)
    if verbose:
        print(f"wrote {path} ({path.stat().st_size:,} bytes), test accuracy {accuracy:.4f}, "
              f"sha256 {entry['files'][FILENAME]}")
    return path
