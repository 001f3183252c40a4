"""The personalization subject of chapter 08: a *style* defined by a known transformation.

A personalization method is only convincing when the new concept transfers to contexts the
reference images never showed. So the subject here is not one object but a **style**, "bold
italic" digits: strokes thickened by one pixel to the right, then the whole digit slanted by a
fixed shear (:data:`SHEAR` pixels of horizontal shift per pixel of height, about 17 degrees).
Because we know the transformation we can apply it to *every* digit class and measure how far
generated samples of classes the references never showed have picked the style up.

Measures (all on ``(n, 1, 8, 8)`` images in [-1, 1], the course's pixel range):

- :func:`image_moments`: ink, stroke width and slant, each in closed form from the ink
  density ``w = (x + 1) / 2``:

  * ink = mean of ``w`` (0 = blank, 1 = all ink);
  * stroke width = ``2 * sum(w) / sum |horizontal differences of w|`` with zero padding:
    for a binary horizontal run of length L the run's mass is L and its edges add 2, so
    this is the mean horizontal run length in pixels;
  * slant = ``-mu11 / mu02`` from the central image moments (x to the right, y down the
    rows): the horizontal shift per row going up, in pixels per pixel; positive leans
    right. A shear ``x -> x + s * (row above the centre)`` adds exactly ``s``.

- :func:`style_score`: where an image's standardized (ink, width, slant) sits on the line
  from plain digits (0) to bold-italic digits (1), calibrated once on the train split;
  real test digits score about 0, their styled versions about 1.
- :func:`feature_distance`: mean nearest-neighbour distance, in the shipped digits
  feature net's 32-d penultimate features, from each image to a reference set (the
  spike in ``shared/reference/finetune.md`` called it "nearest-subject distance").

:func:`reference_set` draws the few styled images a learner would hand to DreamBooth.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from genlab._checks import check_int, check_tensor
from genlab.data import load_digits
from genlab.finetune.dreambooth import class_prompt
from genlab.finetune.guidance import guided_sample
from genlab.metrics.fid import digits_features, fid
from genlab.metrics.prompts import prompt_accuracy, within_class_spread

SHEAR = 0.3  # horizontal pixels per pixel of height: clearly italic, still readable
REFERENCE_CLASSES = (3, 7)  # the digits the references show; the others test transfer
REFERENCES_PER_CLASS = 2


def _check_digits(name: str, images) -> torch.Tensor:
    check_tensor(name, images, ndim=4)
    if tuple(images.shape[1:]) != (1, 8, 8):
        raise ValueError(f"{name} must have shape (n, 1, 8, 8), got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one image")
    return images


def stylize(images: torch.Tensor, shear: float = SHEAR, thicken: bool = True) -> torch.Tensor:
    """Apply the bold-italic style to ``(n, 1, 8, 8)`` digits in [-1, 1]; same shape.

    Thickening: each pixel takes the larger ink of itself and its left neighbour (a
    one-pixel horizontal dilation). Slant: ``torch.nn.functional.grid_sample`` with the
    affine map that shifts row ``y`` (0 = top) right by ``shear * (3.5 - y)`` pixels,
    bilinear, empty background outside the image. Works on ink ``w = (x + 1) / 2`` so the
    background stays exactly -1.
    """
    _check_digits("images", images)
    if isinstance(shear, bool) or not isinstance(shear, (int, float)):
        raise TypeError(f"shear must be a number, got {type(shear).__name__}")
    ink = (images + 1) / 2
    if thicken:
        shifted = F.pad(ink, (1, 0, 0, 0))[..., :, :-1]  # left neighbour (0 at the border)
        ink = torch.maximum(ink, shifted)
    if shear:
        n = ink.shape[0]
        # affine_grid's output -> input map in normalized coords (square image: same scale
        # on both axes). Reading the input at x + shear * y puts the bottom (y > 0) left of
        # where it was and the top right: an italic lean.
        theta = torch.tensor([[1.0, float(shear), 0.0], [0.0, 1.0, 0.0]],
                             dtype=ink.dtype, device=ink.device).expand(n, 2, 3)
        grid = F.affine_grid(theta, list(ink.shape), align_corners=False)
        ink = F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)
    return ink.clamp(0, 1) * 2 - 1


def image_moments(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Ink, stroke width (pixels) and slant (pixels per pixel) of each image; each ``(n,)``.

    See the module docstring for the formulas. Blank images have no moments: they get
    ink 0, width 0 and slant 0 rather than a division by zero (float64 inside).
    """
    _check_digits("images", images)
    ink = ((images.detach().double() + 1) / 2).clamp(0, 1)[:, 0]  # (n, H, W)
    n, height, width = ink.shape
    ys = torch.arange(height, dtype=torch.float64, device=ink.device).view(1, height, 1)
    xs = torch.arange(width, dtype=torch.float64, device=ink.device).view(1, 1, width)
    mass = ink.sum((1, 2))
    safe = mass.clamp_min(1e-12)
    cx = (ink * xs).sum((1, 2)) / safe
    cy = (ink * ys).sum((1, 2)) / safe
    dx = xs - cx.view(-1, 1, 1)
    dy = ys - cy.view(-1, 1, 1)
    mu11 = (ink * dx * dy).sum((1, 2)) / safe
    mu02 = (ink * dy * dy).sum((1, 2)) / safe
    slant = torch.where(mu02 > 1e-12, -mu11 / mu02.clamp_min(1e-12), torch.zeros_like(mu02))
    padded = F.pad(ink, (1, 1))  # zero columns either side: runs at the border have 2 edges
    edges = (padded[:, :, 1:] - padded[:, :, :-1]).abs().sum((1, 2))
    stroke = torch.where(edges > 1e-12, 2 * mass / edges.clamp_min(1e-12), torch.zeros_like(mass))
    return {"ink": ink.mean((1, 2)), "width": stroke, "slant": slant}


def _moment_matrix(images: torch.Tensor) -> torch.Tensor:
    m = image_moments(images)
    return torch.stack([m["ink"], m["width"], m["slant"]], dim=1)  # (n, 3)


@lru_cache(maxsize=1)
def _calibration() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Plain mean, plain std and the standardized plain -> styled direction (train split)."""
    images, _ = load_digits("train")
    plain = _moment_matrix(images)
    styled = _moment_matrix(stylize(images))
    mean, std = plain.mean(0), plain.std(0)
    direction = (styled.mean(0) - mean) / std
    return mean, std, direction


def style_score(images: torch.Tensor) -> torch.Tensor:
    """Per-image style score ``(n,)``: 0 = like plain digits, 1 = like bold-italic digits.

    ``z = (moments - plain_mean) / plain_std`` with (ink, width, slant) standardized by the
    train split's plain digits, projected on the standardized direction ``d`` from plain to
    styled train digits: ``score = z . d / |d|^2``. A closed form of three moments, no
    network; values outside [0, 1] mean "even plainer" or "more than the style". Report the
    mean over a sample.
    """
    mean, std, direction = _calibration()
    z = (_moment_matrix(images) - mean.to(images.device)) / std.to(images.device)
    d = direction.to(images.device)
    return (z @ d / d.dot(d)).float()


def feature_distance(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean over ``images`` of the Euclidean distance to the nearest ``reference`` image.

    Both ``(n, 1, 8, 8)`` in [-1, 1]; distances between the shipped digits feature net's
    32-d penultimate features (``genlab.metrics.fid.digits_features``). 0 means every image
    has an exact feature twin in the reference set; real test digits sit about 4-8 from
    the nearest training digit of their class.
    """
    _check_digits("images", images)
    _check_digits("reference", reference)
    a = digits_features(images).double()
    b = digits_features(reference).double()
    return float(torch.cdist(a, b).min(dim=1).values.mean())


def reference_set(classes=REFERENCE_CLASSES, per_class: int = REFERENCES_PER_CLASS,
                  seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The few styled images given to a personalization method, and their digit labels.

    ``per_class`` train digits of each of ``classes``, drawn with ``seed``, then
    :func:`stylize`\\ d. Default: two threes and two sevens (4 images, as DreamBooth's
    3-5 subject photos). Returns ``(images (k, 1, 8, 8), labels (k,))``.
    """
    classes = tuple(classes)
    if not classes or any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 9
                          for c in classes):
        raise ValueError(f"classes must be digits 0..9, got {classes!r}")
    check_int("per_class", per_class, minimum=1)
    images, labels = load_digits("train")
    generator = torch.Generator().manual_seed(seed)
    picked = []
    for c in classes:
        idx = (labels == c).nonzero().flatten()
        picked.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    idx = torch.cat(picked)
    return stylize(images[idx]), labels[idx]


def styled_digits(digits, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """All real digits of ``split`` whose label is in ``digits``, stylized: the ideal
    subject for those classes (what a perfect style transfer would draw). Returns
    ``(images, labels)``."""
    images, labels = load_digits(split)
    keep = torch.isin(labels, torch.as_tensor(list(digits)))
    if not keep.any():
        raise ValueError(f"no digits of classes {list(digits)} in the {split!r} split")
    return stylize(images[keep]), labels[keep]


# --------------------------------------------------------------------------- all measures at once

def _paired_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean feature distance between ``a[i]`` and ``b[i]`` (same noise, two models)."""
    return float((digits_features(a).double() - digits_features(b).double()).norm(dim=1).mean())


@torch.no_grad()
def personalization_measures(parts, subject_prompt, *, baseline: dict | None = None,
                             n_per_digit: int = 10, seed: int = 0, guidance_scale: float = 3.0,
                             num_inference_steps: int = 20,
                             reference_classes=REFERENCE_CLASSES) -> tuple[dict, dict]:
    """Sample a personalized model on every digit and measure what chapter 08 compares.

    parts: the model (``T2IParts``; adapters and learned tokens as they are now);
    subject_prompt: ``digit -> prompt`` naming the subject (e.g.
    ``genlab.finetune.dreambooth.instance_prompt``); plain prompts are
    ``dreambooth.class_prompt``. Both sets use the same seed, so image i of either set
    starts from the same noise. baseline: the ``samples`` returned for the model before
    fine-tuning, to measure how far the class prompts moved.

    Returns ``(measures, samples)``. measures (floats):

    - fidelity: ``style_seen`` / ``style_unseen`` (mean :func:`style_score` of subject
      samples of the reference classes / of the other classes), ``dist_seen`` /
      ``dist_unseen`` (:func:`feature_distance` of each class's subject samples to the
      styled real digits of that class, averaged over classes), ``dist_reference``
      (reference-class samples to the few reference images themselves), ``subject_accuracy``
      (the classifier still reads "sks digit k" as k);
    - prior preservation and language drift: ``plain_accuracy`` (plain prompts, all ten
      digits), ``plain_style`` / ``plain_style_seen`` (style score of plain samples, all /
      reference classes: 0 = no drift), and with ``baseline``: ``class_drift`` (paired
      feature distance of the reference classes' plain samples to the baseline's) and
      ``plain_drift`` (the same over all digits);
    - diversity: ``spread_subject``, ``spread_plain`` (within-class spread),
      ``fid_subject`` (digits-FID of subject samples against the styled test digits),
      ``fid_plain`` (plain samples against the real test digits).

    samples: ``{"subject": images, "plain": images, "digits": labels}``, images
    ``(10 * n_per_digit, 1, 8, 8)`` clamped to [-1, 1] (as the pipeline's output) on the CPU.
    """
    check_int("n_per_digit", n_per_digit, minimum=2)
    if not callable(subject_prompt):
        raise TypeError("subject_prompt must be a function digit -> prompt")
    digits = torch.arange(10).repeat_interleave(n_per_digit)

    def draw(prompt_of):
        prompts = [prompt_of(int(d)) for d in digits]
        return guided_sample(parts, prompts, guidance_scale, num_inference_steps,
                             torch.Generator().manual_seed(seed)).detach().float().cpu().clamp(-1, 1)

    subject, plain = draw(subject_prompt), draw(class_prompt)
    seen = torch.isin(digits, torch.tensor(list(reference_classes)))
    reference, _ = reference_set(reference_classes)
    score_subject, score_plain = style_score(subject), style_score(plain)

    def per_class_distance(mask):
        values = [feature_distance(subject[digits == k], styled_digits([int(k)], "train")[0])
                  for k in digits[mask].unique()]
        return float(sum(values) / len(values))

    test_images, _ = load_digits("test")
    measures = {
        "style_seen": float(score_subject[seen].mean()),
        "style_unseen": float(score_subject[~seen].mean()),
        "dist_seen": per_class_distance(seen),
        "dist_unseen": per_class_distance(~seen),
        "dist_reference": feature_distance(subject[seen], reference),
        "subject_accuracy": prompt_accuracy(subject, digits),
        "plain_accuracy": prompt_accuracy(plain, digits),
        "plain_style": float(score_plain.mean()),
        "plain_style_seen": float(score_plain[seen].mean()),
        "spread_subject": within_class_spread(subject, digits),
        "spread_plain": within_class_spread(plain, digits),
        "fid_subject": fid(stylize(test_images), subject),
        "fid_plain": fid("test", plain),
    }
    if baseline is not None:
        before = baseline["plain"]
        if before.shape != plain.shape:
            raise ValueError("baseline was sampled with another n_per_digit: "
                             f"{tuple(before.shape)} vs {tuple(plain.shape)}")
        measures["class_drift"] = _paired_distance(plain[seen], before[seen])
        measures["plain_drift"] = _paired_distance(plain, before)
    return measures, {"subject": subject, "plain": plain, "digits": digits}
