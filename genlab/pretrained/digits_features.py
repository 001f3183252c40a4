"""The digits feature network: trained by a fixed recipe, shipped as safetensors, hash-checked.

``python -m genlab.pretrained build digits-features`` retrains it (about 15 s on one CPU
core) and rewrites ``digits_features.safetensors`` and its SHA-256 in ``registry.json``.
:func:`load_digits_features` verifies the file against the recorded hash before it reads
a single tensor, so a corrupted or swapped checkpoint fails loudly instead of silently
shifting every FID in the course.

Reproducibility: training runs in float64 on one thread with seeded generators and
deterministic algorithms; the weights are stored as float32. Rounding float64 to float32
hides the last-bit differences that other CPUs' kernels may produce, so the rebuilt file
has the same bytes (and hash) on other machines, not only on the one that built it.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F

from genlab.models.digits_classifier import DigitsClassifier

NAME = "digits-features"
FILENAME = "digits_features.safetensors"
REGISTRY = "registry.json"
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


class ChecksumError(RuntimeError):
    """A shipped checkpoint does not match the SHA-256 recorded in the registry."""


def package_dir() -> Path:
    """The folder of ``genlab.pretrained`` (where the checkpoints and registry live)."""
    return Path(str(resources.files("genlab.pretrained")))


def sha256_of_file(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_registry(folder: str | Path | None = None) -> dict:
    """``{name: {"file", "sha256", "test_accuracy", "recipe", ...}}`` from ``registry.json``."""
    path = Path(folder or package_dir()) / REGISTRY
    if not path.is_file():
        return {}
    try:
        registry = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); restore it from the package "
                         "(reinstall genlab) or rebuild with `python -m genlab.pretrained "
                         "build <name>`") from None
    if not isinstance(registry, dict):
        raise ValueError(f"{path} must hold a JSON object {{name: entry}}, got "
                         f"{type(registry).__name__}")
    return registry


def load_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of the safetensors file ``path``; a truncated or otherwise unreadable
    file raises ``ValueError`` naming it (instead of the library's header error)."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError, not an OSError
        raise ValueError(f"{path} is not a readable safetensors file ({exc}); it may be "
                         "truncated: reinstall genlab or rebuild it with "
                         "`python -m genlab.pretrained build <name>`") from None


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


@contextmanager
def _deterministic_cpu():
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_deterministic)


def train_digits_features(recipe: dict | None = None, verbose: bool = False) -> DigitsClassifier:
    """Train the feature network from scratch by ``recipe`` (default :data:`RECIPE`).

    Returns a float32 :class:`DigitsClassifier` in eval mode, on the CPU.
    """
    from genlab.data import load_digits

    recipe = {**RECIPE, **(recipe or {})}
    images, labels = load_digits("train")
    images = images.double()
    with _deterministic_cpu():
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


@torch.no_grad()
def test_accuracy(net: DigitsClassifier) -> float:
    """Accuracy of ``net`` on ``genlab.data.load_digits("test")`` (360 images)."""
    from genlab.data import load_digits

    images, labels = load_digits("test")
    device = next(net.parameters()).device
    return (net(images.to(device)).argmax(1).cpu() == labels).float().mean().item()


def build(folder: str | Path | None = None, verbose: bool = True) -> Path:
    """Train, check accuracy, save ``digits_features.safetensors`` and record its hash.

    ``folder`` defaults to the installed package (what ``python -m genlab.pretrained
    build digits-features`` rewrites); tests pass a temporary folder. Raises
    ``RuntimeError`` if the test accuracy is below :data:`MIN_TEST_ACCURACY`.
    """
    from safetensors.torch import save_file

    folder = Path(folder or package_dir())
    folder.mkdir(parents=True, exist_ok=True)
    net = train_digits_features(verbose=verbose)
    accuracy = test_accuracy(net)
    if accuracy < MIN_TEST_ACCURACY:
        raise RuntimeError(
            f"the digits feature network reached {accuracy:.3f} test accuracy, below "
            f"the required {MIN_TEST_ACCURACY}; the recipe needs changing"
        )
    path = folder / FILENAME
    tensors = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    # One metadata key only: safetensors writes a metadata dict in hash-map order, so
    # two keys could swap places between runs and change the file's hash.
    save_file(tensors, str(path), metadata={"format": "pt"})
    registry = read_registry(folder)
    registry[NAME] = {
        "file": FILENAME,
        "sha256": sha256_of_file(path),
        "bytes": path.stat().st_size,
        "test_accuracy": round(accuracy, 4),
        "recipe": RECIPE,
        "rebuild": "python -m genlab.pretrained build digits-features",
    }
    (folder / REGISTRY).write_text(json.dumps(registry, indent=2) + "\n", encoding="utf-8")
    if verbose:
        print(f"wrote {path} ({path.stat().st_size:,} bytes), test accuracy {accuracy:.4f}, "
              f"sha256 {registry[NAME]['sha256']}")
    return path


def verify(folder: str | Path | None = None) -> Path:
    """Check the checkpoint's SHA-256 against the registry; return its path.

    Raises ``FileNotFoundError`` when the file or its registry entry is missing and
    :class:`ChecksumError` when the bytes differ from what was recorded.
    """
    folder = Path(folder or package_dir())
    entry = read_registry(folder).get(NAME)
    if entry is None:
        raise FileNotFoundError(
            f"no {NAME!r} entry in {folder / REGISTRY}; run "
            "`python -m genlab.pretrained build digits-features`"
        )
    path = folder / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; run `python -m genlab.pretrained build digits-features`"
        )
    actual = sha256_of_file(path)
    if actual != entry["sha256"]:
        raise ChecksumError(
            f"{path} has SHA-256 {actual} but the registry records {entry['sha256']}: "
            "the file is corrupted or was replaced. Rebuild it with "
            "`python -m genlab.pretrained build digits-features`."
        )
    return path


def load_from(folder: str | Path, device: str | torch.device = "cpu") -> DigitsClassifier:
    """Load the checkpoint in ``folder`` after verifying its hash (eval mode, frozen)."""
    path = verify(folder)
    entry = read_registry(folder)[NAME]
    recipe = entry.get("recipe", RECIPE)
    net = DigitsClassifier(recipe["channels"], recipe["num_features"])
    net.load_state_dict(load_safetensors(path))
    net.requires_grad_(False)
    return net.eval().to(device)


@lru_cache(maxsize=4)
def _cached(device: str) -> DigitsClassifier:
    return load_from(package_dir(), device)


def load_digits_features(device: str | torch.device | None = None) -> DigitsClassifier:
    """The shipped feature network, hash-verified, frozen, in eval mode on ``device``.

    ``device`` defaults to the CPU (the network is tiny; moving data is the cost). The
    same object is returned on later calls for the same device: do not modify it.
    """
    return _cached(str(torch.device(device or "cpu")))
