"""Helpers for hidden tests: make sure a learner's answer does the work itself.

    with genlab.exercises.forbid(genlab.losses.gan.d_loss_minimax):
        value = d_loss_minimax(real, fake)     # the learner's function

Inside the block, calling the forbidden reference (through its module, or through any
name the notebook bound to it) raises ``AssertionError``, so an answer that merely
delegates to genlab's reference fails while a real implementation passes.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager


def _refuse(name: str):
    def refused(*args, **kwargs):
        raise AssertionError(
            f"this exercise asks you to implement the idea yourself, not to call genlab's {name}"
        )

    return refused


@contextmanager
def forbid(*references, namespace: dict | None = None):
    """Temporarily replace each reference function by one that raises ``AssertionError``.

    ``namespace`` defaults to the notebook's ``__main__`` globals, where learners' imports
    live.
    """
    namespace = namespace if namespace is not None else vars(sys.modules["__main__"])
    patched: list[tuple[dict, str, object]] = []
    try:
        for ref in references:
            if not callable(ref):
                raise TypeError(f"references must be functions, got {type(ref).__name__}")
            stand_in = _refuse(f"{ref.__module__}.{ref.__qualname__}")
            scopes = [vars(sys.modules[ref.__module__]), namespace]
            for scope in scopes:
                for key, value in list(scope.items()):
                    if value is ref:
                        patched.append((scope, key, value))
                        scope[key] = stand_in
        yield
    finally:
        for scope, key, value in reversed(patched):
            scope[key] = value
