"""Training loops. Each returns a :class:`History`; loop modules load on first use."""

from genlab._lazy import lazy_submodules
from genlab.train.history import DivergenceError, History

__all__ = ["DivergenceError", "History"]
__getattr__ = lazy_submodules(__name__, __path__)
