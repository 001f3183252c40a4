"""Plain data between the clean room and the judge: JSON with exact types, never objects.

Encoding (done in the clean room) keeps only what JSON can say exactly: ``None``, ``bool``,
``int``, ``float`` (NaN and infinities included), ``str``, lists, and these tagged forms::

    {"tensor": {"dtype": "float64", "shape": [2, 3], "data": [...], "requires_grad": false}}
    {"tuple": [...]}     {"dict": {"key": ...}}     {"error": "ValueError: message"}
    {"other": "module.TypeName"}     # anything else, including subclasses of int or str

Only exact types are accepted (``type(x) is int``), so an ``int`` subclass whose ``__eq__``
is always true arrives as ``{"other": ...}`` and compares unequal to everything.
Decoding (done in the judge) rebuilds tensors from the numbers; nothing is unpickled and no
learner-defined class can be reached.
"""

from __future__ import annotations

import json
import math

import torch

MAX_ELEMENTS = 2_000_000  # one message; the largest hidden output of a chapter is ~100k values
_SCALARS = (bool, int, float, str)


def encode(value, _depth: int = 0):
    """``value`` as JSON-ready plain data (see the module docstring)."""
    if _depth > 20:
        return {"other": "nesting too deep"}
    if value is None or type(value) in _SCALARS:
        return value
    kind = type(value)
    if kind.__module__ == "numpy" and kind.__name__ in ("float64", "float32"):
        return float(value)  # numpy floats are floats (isinstance agrees); their __eq__ is numpy's
    if kind is list:
        return [encode(v, _depth + 1) for v in value]
    if kind is tuple:
        return {"tuple": [encode(v, _depth + 1) for v in value]}
    if kind is dict:
        if not all(type(k) is str for k in value):
            return {"other": "dict with non-string keys"}
        return {"dict": {k: encode(v, _depth + 1) for k, v in value.items()}}
    if kind in (torch.Tensor, torch.nn.Parameter):
        t = value.detach()
        if t.numel() > MAX_ELEMENTS:
            return {"other": f"tensor with {t.numel()} elements (too large)"}
        data = t.to("cpu").reshape(-1)
        if t.dtype in (torch.bfloat16, torch.float16):
            data = data.float()
        return {"tensor": {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
                           "data": data.tolist(), "requires_grad": bool(value.requires_grad)}}
    return {"other": f"{kind.__module__}.{kind.__qualname__}"}


def decode(data, *, torch_tensors: bool = True):
    """Plain data back to Python values; tensors are rebuilt (with ``requires_grad``)."""
    if data is None or type(data) in _SCALARS:
        return data
    if type(data) is list:
        return [decode(v, torch_tensors=torch_tensors) for v in data]
    if type(data) is not dict or len(data) != 1:
        raise ValueError(f"not plain data: {str(data)[:80]}")
    (tag, body), = data.items()
    if tag == "tuple":
        return tuple(decode(v, torch_tensors=torch_tensors) for v in body)
    if tag == "dict":
        return {str(k): decode(v, torch_tensors=torch_tensors) for k, v in body.items()}
    if tag == "tensor":
        return Tensor(body["dtype"], tuple(body["shape"]), body["data"], body["requires_grad"]) \
            if not torch_tensors else _to_tensor(body)
    if tag in ("error", "other"):
        return Marker(tag, str(body))
    raise ValueError(f"unknown plain-data tag {tag!r}")


class Marker:
    """An exception raised by the learner's code, or a value of a type plain data cannot hold."""

    def __init__(self, kind: str, text: str):
        self.kind, self.text = kind, text

    def __repr__(self):
        return f"<{self.kind}: {self.text}>"

    def __eq__(self, other):  # the judge's own class: equal only to the same marker
        return type(other) is Marker and (other.kind, other.text) == (self.kind, self.text)

    __hash__ = None


class Tensor:
    """A tensor as the judge sees it when torch tensors are not wanted (dtype, shape, data)."""

    def __init__(self, dtype, shape, data, requires_grad):
        self.dtype, self.shape, self.data, self.requires_grad = dtype, shape, data, requires_grad


def _to_tensor(body):
    dtype = getattr(torch, body["dtype"], None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {body['dtype']!r}")
    shape = [int(s) for s in body["shape"]]
    if math.prod(shape) != len(body["data"]):
        raise ValueError("tensor data does not match its shape")
    t = torch.tensor(body["data"], dtype=dtype if dtype not in (torch.bfloat16, torch.float16)
                     else torch.float32).reshape(shape).to(dtype)
    if body.get("requires_grad") and t.is_floating_point():
        t.requires_grad_(True)
    return t


def dumps(value) -> str:
    """One line of JSON for the already encoded ``value`` (NaN and infinities allowed)."""
    return json.dumps(value, separators=(",", ":"))


def loads(line: str):
    """Parse one line; only JSON (``json.loads``), nothing executable."""
    return json.loads(line)
