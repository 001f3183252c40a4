"""genlab: the code behind the course on training and optimizing generative models.

``import genlab`` is light: it loads torch and genlab's own small modules only.
matplotlib, scikit-learn, ipywidgets, diffusers, peft and transformers load on first
use of the function that needs them. Modules and sub-packages (``genlab.losses``,
``genlab.train``, ``genlab.optim``, ...) are imported on first attribute access.
"""

from __future__ import annotations

from genlab._lazy import lazy_submodules
from genlab.device import get_device, seed_everything
from genlab.runmode import budget, is_grading

__version__ = "0.1.0"

__all__ = ["budget", "get_device", "is_grading", "seed_everything"]
__getattr__ = lazy_submodules(__name__, __path__)
