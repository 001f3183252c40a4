"""Small, fast experiments a chapter uses to show one effect, one module per chapter.

- :mod:`genlab.toys.optimizers` (chapter 04_optimizers_schedules): the Dirac GAN under
  Adam's momentum, a clipped critic weight, a denoiser with and without warmup, a noisy
  regression for schedules.

Modules load on first attribute access.
"""

from genlab._lazy import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
