"""Training loops. Each follows the one contract of :mod:`genlab.train.loop` (Callback,
LoopState, TrainingRun) and returns a :class:`History`; loop modules load on first use."""

from genlab._lazy import lazy_submodules
from genlab.train.history import DivergenceError, History
from genlab.train.loop import Callback, LoopState, TrainingRun

__all__ = ["Callback", "DivergenceError", "History", "LoopState", "TrainingRun"]
__getattr__ = lazy_submodules(__name__, __path__)
