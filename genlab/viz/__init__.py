"""Matplotlib figures: shared helpers, one module per chapter's figures, the live loss plot.

- shared helpers (:mod:`genlab.viz.base`), importable from here: :func:`image_grid`,
  :func:`scatter_2d`, :func:`plot_series`, :func:`moving_average`;
- one module per chapter, loaded on first attribute access: :mod:`genlab.viz.gan`
  (01_gan_losses), :mod:`genlab.viz.vae` (02_vae_elbo), :mod:`genlab.viz.diffusion`
  (03_diffusion_losses), :mod:`genlab.viz.stabilize` (05_stabilization);
- :class:`LiveLossPlot` (:mod:`genlab.viz.live`): a loss plot any training loop feeds
  through its ``callback``, redrawn while it trains, series in panels apart.

matplotlib itself loads on the first drawing, so ``import genlab.viz`` stays light.
"""

from genlab._lazy import lazy_submodules
from genlab.viz.base import _plt, image_grid, moving_average, plot_series, scatter_2d
from genlab.viz.live import LiveLossPlot

__all__ = ["LiveLossPlot", "image_grid", "moving_average", "plot_series", "scatter_2d"]
__getattr__ = lazy_submodules(__name__, __path__)
