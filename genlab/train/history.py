"""``genlab.train.history`` keeps its names: the record lives in :mod:`genlab.history`.

(It sits at the bottom of the package so that checkpoint loaders in
:mod:`genlab.pretrained` can rebuild a run's History without importing a training loop.)
"""

from genlab.history import DivergenceError, GANRun, History

__all__ = ["DivergenceError", "GANRun", "History"]
