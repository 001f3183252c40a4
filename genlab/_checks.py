"""Input checks shared by every public function: clear errors, no silent coercion."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch

from genlab.history import History


def check_tensor(
    name: str,
    x,
    *,
    ndim: int | Sequence[int] | None = None,
    floating: bool = True,
    finite: bool = True,
    min_ndim: int | None = None,
) -> torch.Tensor:
    """Validate ``x`` and return it unchanged.

    Raises ``TypeError`` if ``x`` is not a tensor and ``ValueError`` (naming the
    argument ``name``) for a wrong dtype, number of dimensions or non-finite values.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if floating and not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimensions, "
                f"got shape {tuple(x.shape)}"
            )
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions, got shape {tuple(x.shape)}"
        )
    if finite and x.is_floating_point() and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_positive(name: str, value, *, allow_zero: bool = False) -> float:
    """Raise ``ValueError`` unless ``value`` is a real number > 0 (or >= 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_int(name: str, value, *, minimum: int | None = None) -> int:
    """Raise unless ``value`` is an int (not a bool) and at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(name: str, value, choices: Sequence) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if not isinstance(value, (str, int, float, tuple, type(None))):
        # an array or tensor would be compared elementwise ("truth value is ambiguous")
        raise ValueError(f"{name} must be one of {list(choices)}, got a {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_bool(name: str, value) -> bool:
    """Raise ``TypeError`` unless ``value`` is ``True`` or ``False`` (a string such as
    ``"no"`` is truthy: accepting it would flip the meaning)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_finite_number(name: str, value) -> float:
    """Raise unless ``value`` is a real, finite number (any sign; NumPy scalars too)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_unit_interval(name: str, value, *, low_open: bool = False,
                        high_open: bool = False) -> float:
    """Raise unless ``value`` is a number in [0, 1] (ends open as asked)."""
    check_finite_number(name, value)
    if (value < 0 or (low_open and value == 0)) or (value > 1 or (high_open and value == 1)):
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def check_range(name: str, x: torch.Tensor, low: float, high: float, *,
                hint: str = "") -> torch.Tensor:
    """Raise ``ValueError`` unless every value of tensor ``x`` lies in ``[low, high]``.

    ``hint`` is appended to the message (e.g. how to rescale 0..16 pixels)."""
    if x.numel() and (float(x.min()) < low or float(x.max()) > high):
        raise ValueError(
            f"{name} must lie in [{low:g}, {high:g}], got values from {float(x.min()):.4g} "
            f"to {float(x.max()):.4g}{hint}"
        )
    return x


IMAGE_RANGE_HINT = ("; scale pixels to [-1, 1] first (the course's digits are "
                    "genlab.data.load_digits(); from 0..16: x / 8 - 1)")


def check_images(name: str, x, *, ndim: int | Sequence[int] = 4) -> torch.Tensor:
    """A floating, finite image tensor with values in [-1, 1] (the course's convention)."""
    check_tensor(name, x, ndim=ndim)
    return check_range(name, x, -1.0, 1.0, hint=IMAGE_RANGE_HINT)


def check_module(name: str, value) -> "torch.nn.Module":
    """Raise ``TypeError`` unless ``value`` is a ``torch.nn.Module``."""
    if not isinstance(value, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def check_parameters(name: str, params) -> list:
    """The tensors or parameter groups of ``params`` as a list; a Module, a single
    non-tensor or a non-iterable raise ``TypeError`` naming ``name``."""
    hint = f"{name} must be parameters, e.g. model.parameters()"
    if isinstance(params, torch.nn.Module):
        raise TypeError(f"{hint}, not the {type(params).__name__} module itself")
    if isinstance(params, torch.Tensor):
        return [params]
    try:
        items = list(params)
    except TypeError:
        raise TypeError(f"{hint}, got {type(params).__name__}") from None
    for item in items:
        if not isinstance(item, (torch.Tensor, dict)):
            raise TypeError(f"{hint} (tensors or parameter-group dicts), "
                            f"got an item of type {type(item).__name__}")
    if not items:
        raise ValueError(f"{name} is empty: the model has no parameters to optimize")
    return items


def check_callable(name: str, value, what: str = "a function") -> None:
    """Raise ``TypeError`` unless ``value`` is callable."""
    if not callable(value):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")


def check_betas(betas, name: str = "betas") -> tuple[float, float]:
    """Adam's ``(beta1, beta2)``: a pair of numbers in [0, 1)."""
    if isinstance(betas, (str, bytes)) or not (isinstance(betas, Sequence) and len(betas) == 2):
        raise ValueError(f"{name} must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta < 1.0:
            raise ValueError(f"{name}[{i}] must be a number in [0, 1), got {beta!r}")
    return tuple(float(b) for b in betas)


def check_device(name: str, device) -> "torch.device":
    """``torch.device(device)``, with torch's parse error turned into one naming ``name``."""
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"{name} must be a torch.device or a string like 'cpu' or 'cuda:0', "
                        f"got {type(device).__name__}")
    try:
        return torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"{name} must be a device such as 'cpu', 'cuda', 'cuda:1' or 'mps', "
                         f"got {device!r}") from None


def check_mapping(name: str, value, what: str = "a dict") -> dict:
    """Raise ``TypeError`` unless ``value`` is a dict (e.g. ``{label: tensor}`` for a figure)."""
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value


def check_history(name: str, value):
    """Raise ``TypeError`` unless ``value`` is a :class:`genlab.train.History`."""
    if not isinstance(value, History):
        raise TypeError(f"{name} must be a genlab.train.History (what a training loop "
                        f"returns), got {type(value).__name__}")
    return value
