"""genlab: the code behind the course on training and optimizing generative models.

``import genlab`` is light: it loads torch and genlab's own small modules only.
matplotlib, scikit-learn, ipywidgets, diffusers, peft and transformers load on first
use of the function that needs them. Sub-packages (``genlab.losses``,
``genlab.train``, ...) are imported on first attribute access.
"""

from __future__ import annotations

import importlib

from genlab.device import get_device, seed_everything
from genlab.runmode import budget, is_grading

__version__ = "0.1.0"

_SUBMODULES = {
    "data", "losses", "models", "train", "metrics", "finetune", "pretrained",
    "widgets", "viz", "quiz", "grading", "optim", "stabilize", "runmode", "device",
    "exercises",
}

__all__ = ["budget", "get_device", "is_grading", "seed_everything", *sorted(_SUBMODULES)]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"genlab.{name}")
    raise AttributeError(f"module 'genlab' has no attribute {name!r}")
