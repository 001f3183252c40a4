"""Recipe and builder of the digits DCGAN pretrained on 0-8 (:mod:`genlab.pretrained.dcgan_digits_0to8`).

``python -m genlab.pretrained build dcgan-digits-0to8`` calls :func:`build`: about 70 CPU
seconds on one core with ``genlab.train.gan_digits.train_gan_digits``, one thread,
seeded generators and deterministic algorithms (see the loader's module for why another
CPU may give an equally good file with another hash).
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab._checks import check_int
from genlab.data import load_digits
from genlab.device import deterministic_cpu
from genlab.metrics.fid import digits_features, fid_from_features
from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
from genlab.pretrained import store
from genlab.pretrained.dcgan_digits_0to8 import FILENAME, NAME, REBUILD
from genlab.pretrained.digits_features import load_digits_features
from genlab.train.gan_digits import train_gan_digits

__all__ = ["RECIPE", "build", "evaluate", "pretraining_images", "train_dcgan_0to8"]

# The recipe is part of what the hash pins down: change one and rebuild. Steps and
# learning rate from the fine-tuning study (/work/shared/reference/finetune.md, Q6):
# 1,500 steps at lr 1e-3 reach digits-FID ~20 against the test split's 0-8.
RECIPE = {
    "digits": [0, 1, 2, 3, 4, 5, 6, 7, 8],
    "split": "train",
    "latent_dim": 16,
    "width": 32,
    "steps": 1500,
    "batch_size": 64,
    "lr_g": 1e-3,
    "lr_d": 1e-3,
    "betas": [0.5, 0.999],
    "loss": "non-saturating (genlab.train.gan_digits)",
    "seed": 0,
    "train_dtype": "float32",
    "threads": 1,
}
# Quality gate of a full build: digits-FID of 300 samples against the test split's
# digits 0-8 (the study measured 19.7), and few samples read as a nine.
MAX_FID_0TO8 = 40.0
MAX_SHARE_NINE = 0.15
EVAL_SAMPLES = 300


def pretraining_images(recipe: dict | None = None) -> torch.Tensor:
    """The ``(n, 1, 8, 8)`` images the GAN is pretrained on: the recipe's split, digits 0-8."""
    recipe = {**RECIPE, **(recipe or {})}
    images, labels = load_digits(recipe["split"])
    keep = torch.isin(labels, torch.tensor(recipe["digits"]))
    return images[keep]


def train_dcgan_0to8(steps: int | None = None) -> tuple[DigitsGenerator, DigitsDiscriminator]:
    """Train the pair from scratch by :data:`RECIPE` (``steps`` overrides its step count).

    Returns the float32 generator and discriminator on the CPU.
    """
    steps = RECIPE["steps"] if steps is None else check_int("steps", steps, minimum=1)
    images = pretraining_images()
    with deterministic_cpu():
        torch.manual_seed(RECIPE["seed"])  # the layers' initialization
        generator = DigitsGenerator(RECIPE["latent_dim"], RECIPE["width"])
        discriminator = DigitsDiscriminator(RECIPE["width"])
        train_gan_digits(generator, discriminator, steps, images=images,
                         batch_size=RECIPE["batch_size"], lr_g=RECIPE["lr_g"],
                         lr_d=RECIPE["lr_d"], betas=tuple(RECIPE["betas"]),
                         seed=RECIPE["seed"], device="cpu")
    return generator.eval(), discriminator.eval()


@torch.no_grad()
def evaluate(generator: DigitsGenerator, n: int = EVAL_SAMPLES, seed: int = 0) -> dict:
    """``{"fid_test_0to8", "share_nine"}`` of ``n`` samples drawn with noise seed ``seed``.

    fid_test_0to8: digits-FID against the test split's digits 0-8; share_nine: the
    fraction the shipped digits classifier reads as a 9.
    """
    images, labels = load_digits("test")
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    fakes = generator.cpu()(z)
    fake_features = digits_features(fakes)
    classes = load_digits_features().head(fake_features).argmax(1)
    return {
        "fid_test_0to8": round(fid_from_features(digits_features(images[labels != 9]),
                                                 fake_features), 3),
        "share_nine": round((classes == 9).float().mean().item(), 4),
    }


def _state_dict(generator, discriminator) -> dict[str, torch.Tensor]:
    tensors = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    tensors.update({f"discriminator.{k}": v for k, v in discriminator.state_dict().items()})
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def build(folder: str | Path | None = None, verbose: bool = True,
          steps: int | None = None) -> Path:
    """Train, check quality, save ``dcgan_digits_0to8.safetensors`` and record its hash.

    ``folder`` defaults to the installed package (what ``python -m genlab.pretrained
    build dcgan-digits-0to8`` rewrites); tests pass a temporary folder and a few
    ``steps`` (a smoke build: recorded as such, no quality gate). A full build raises
    ``RuntimeError`` if the samples miss the quality gate (:data:`MAX_FID_0TO8`,
    :data:`MAX_SHARE_NINE`).
    """
    folder = Path(folder or store.package_dir())
    folder.mkdir(parents=True, exist_ok=True)
    recipe = dict(RECIPE, steps=RECIPE["steps"] if steps is None else steps)
    generator, discriminator = train_dcgan_0to8(recipe["steps"])
    quality = evaluate(generator)
    full = recipe["steps"] == RECIPE["steps"]
    if full and (quality["fid_test_0to8"] > MAX_FID_0TO8
                 or quality["share_nine"] > MAX_SHARE_NINE):
        raise RuntimeError(
            f"the 0-8 DCGAN reached digits-FID {quality['fid_test_0to8']:.1f} (at most "
            f"{MAX_FID_0TO8} required) with {quality['share_nine']:.0%} of samples read as "
            f"9 (at most {MAX_SHARE_NINE:.0%}); the recipe needs changing"
        )
    path = folder / FILENAME
    store.save_tensors(path, _state_dict(generator, discriminator))
    fields = {**quality, "eval_samples": EVAL_SAMPLES, "recipe": recipe}
    if not full:
        fields["note"] = f"smoke build ({recipe['steps']} steps), not the shipped model"
    entry = store.record(folder, NAME, path, REBUILD, **fields)
    if verbose:
        print(f"wrote {path} ({entry['bytes']:,} bytes), digits-FID to test 0-8 "
              f"{quality['fid_test_0to8']:.1f}, read as 9: {quality['share_nine']:.1%}, "
              f"sha256 {entry['files'][FILENAME]}")
    return path
