"""Make sure an answer does the work itself: genlab's reference refuses to run.

The guard works on the function's *code object*, not on its name: every alias of the
function (another module's import, a registry entry, a default argument, a closure, a
``functools.partial``, a bound method, a ``__wrapped__`` chain) runs the same code object,
so all of them refuse::

    with genlab.exercises.forbid(genlab.losses.gan.d_loss_minimax):
        value = d_loss_minimax(real, fake)     # the learner's function; delegating raises

:func:`forbid` restores the code afterwards (for checks inside a notebook); the clean-room
grader calls :func:`guard`, which never restores and keeps no copy of the original, so
nothing in that process can get it back.
"""

from __future__ import annotations

import functools
import types
from contextlib import contextmanager

MESSAGE = "this exercise asks you to implement the idea yourself, not to call {}"


def refusing_code(n_free: int, message: str) -> types.CodeType:
    """A code object that raises ``AssertionError(message)``, with ``n_free`` free variables
    (a function's ``__code__`` can only be replaced by code with as many)."""
    names = [f"_free{i}" for i in range(n_free)]
    lines = ["def _outer():"] + [f"    {n} = None" for n in names]
    lines += ["    def refused(*args, **kwargs):", f"        raise AssertionError({message!r})"]
    if names:  # unreachable, but makes the names free variables of `refused`
        lines.append(f"        ({', '.join(names)},)")
    lines.append("    return refused")
    namespace: dict = {}
    exec(compile("\n".join(lines), "<refused reference>", "exec"), namespace)
    return namespace["_outer"]().__code__


def functions_of(reference) -> list[types.FunctionType]:
    """The Python functions whose code runs when ``reference`` is called, outermost first."""
    found: list[types.FunctionType] = []
    todo = [reference]
    while todo:
        obj = todo.pop()
        if isinstance(obj, (staticmethod, classmethod, types.MethodType)):
            todo.append(obj.__func__)
        elif isinstance(obj, functools.partial):
            todo.append(obj.func)
        elif isinstance(obj, types.FunctionType):
            if obj not in found:
                found.append(obj)
            if getattr(obj, "__wrapped__", None) is not None:
                todo.append(obj.__wrapped__)
        elif callable(getattr(obj, "__wrapped__", None)):  # lru_cache and similar wrappers
            todo.append(obj.__wrapped__)
        elif isinstance(obj, type):
            raise TypeError(f"forbid a class's methods, not the class {obj.__qualname__}")
        else:
            raise TypeError(f"references must be Python functions, got {type(obj).__name__}")
    return found


def _label(fn) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def guard(*references) -> list[str]:
    """Replace the code of each reference (and what it wraps) by refusing code, for good.

    Returns the labels of the guarded functions. The original code objects are dropped.
    """
    labels = []
    for ref in references:
        for fn in functions_of(ref):
            fn.__code__ = refusing_code(len(fn.__code__.co_freevars), MESSAGE.format(_label(fn)))
            labels.append(_label(fn))
    return labels


@contextmanager
def forbid(*references, namespace: dict | None = None):
    """Inside the block, each reference (through any alias) raises ``AssertionError``.

    ``namespace`` is accepted for compatibility and ignored: the guard needs no names.
    """
    del namespace
    saved: list[tuple[types.FunctionType, types.CodeType]] = []
    try:
        for ref in references:
            for fn in functions_of(ref):
                saved.append((fn, fn.__code__))
                fn.__code__ = refusing_code(len(fn.__code__.co_freevars), MESSAGE.format(_label(fn)))
        yield
    finally:
        for fn, code in reversed(saved):
            fn.__code__ = code
