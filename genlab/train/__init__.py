"""Training loops. Each returns a :class:`History`."""

from genlab.train.history import DivergenceError, History

__all__ = ["DivergenceError", "History"]
