"""The messages a clean room may send its grader, checked before the grader uses them.

Everything on the channel may have been written by the answer (it can find the file
descriptor), so the grader trusts nothing it has not checked here: one JSON object per
line, an event of :data:`SCHEMA` with exactly its fields and their types, strings and lists
of bounded size, plain data (:mod:`genlab.grading.plain`) nested at most :data:`MAX_DEPTH`
deep, tensors whose header (dtype, shape, element count) agrees with their data. A line
that fails is that submission's failure (the sandbox is stopped); it can never raise in
the grader.
"""

from __future__ import annotations

import json
import math

MAX_DEPTH = 24
MAX_TEXT = 20_000  # characters of one string (outputs are cut to 2,000 by the child)
MAX_ITEMS = 10_000  # entries of one list or dict, tensors' data excluded
MAX_ELEMENTS = 2_000_000
MAX_DIMS = 8
DTYPES = {"float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8",
          "uint8", "bool"}

_STR, _OPT_STR, _STRS, _PLAIN, _PLAINS, _PLAIN_DICT = "str", "str?", "[str]", "plain", "[plain]", "{plain}"
SCHEMA = {
    "ready": {"guarded": _STRS},
    "setup_error": {"error": _STR, "stdout": _STR},
    "cell": {"id": _STR},
    "cell_done": {"id": _STR, "defined": _STRS, "stdout": _STR, "error": _OPT_STR},
    "variables": {"values": _PLAIN_DICT},
    "exercise": {"id": _STR},
    "result": {"id": _STR, "outputs": _PLAINS, "stdout": _STR},
    "done": {},
}


class Malformed(ValueError):
    pass


def parse(line: bytes) -> tuple[dict | None, str | None]:
    """``(message, None)`` for a valid line, else ``(None, what is wrong)``; never raises."""
    try:
        text = line.decode("utf-8")
        message = json.loads(text)  # too deep: RecursionError from the C parser, caught
        check(message)
    except (Malformed, ValueError, RecursionError, UnicodeDecodeError) as exc:
        return None, str(exc)[:120] or type(exc).__name__
    return message, None


def check(message) -> None:
    """Raise :class:`Malformed` unless ``message`` is one of :data:`SCHEMA`'s events."""
    if type(message) is not dict or type(message.get("ev")) is not str:
        raise Malformed("not an event")
    fields = SCHEMA.get(message["ev"])
    if fields is None:
        raise Malformed(f"unknown event {message['ev'][:30]!r}")
    if set(message) != {"ev", *fields}:
        raise Malformed(f"fields of {message['ev']!r} are not {sorted(fields)}")
    for name, kind in fields.items():
        value = message[name]
        if kind == _STR or (kind == _OPT_STR and value is not None):
            _text(value)
        elif kind == _STRS:
            _list(value)
            for item in value:
                _text(item)
        elif kind == _PLAINS:
            _list(value)
            for item in value:
                check_plain(item)
        elif kind == _PLAIN_DICT:
            if type(value) is not dict or len(value) > MAX_ITEMS:
                raise Malformed("values is not a bounded dict")
            for key, item in value.items():
                _text(key)
                check_plain(item)


def _text(value) -> None:
    if type(value) is not str or len(value) > MAX_TEXT:
        raise Malformed("a text field is not a bounded string")


def _list(value) -> None:
    if type(value) is not list or len(value) > MAX_ITEMS:
        raise Malformed("a list field is not a bounded list")


def check_plain(value, depth: int = 0) -> None:
    """Raise :class:`Malformed` unless ``value`` is plain data the judge can decode."""
    if depth > MAX_DEPTH:
        raise Malformed("plain data nested too deep")
    if value is None or type(value) in (bool, int, float):
        return
    if type(value) is str:
        _text(value)
        return
    if type(value) is list:
        _list(value)
        for item in value:
            check_plain(item, depth + 1)
        return
    if type(value) is not dict or len(value) != 1:
        raise Malformed("not plain data")
    (tag, body), = value.items()
    if tag in ("tuple",):
        _list(body)
        for item in body:
            check_plain(item, depth + 1)
    elif tag == "dict":
        if type(body) is not dict or len(body) > MAX_ITEMS:
            raise Malformed("a dict is not bounded")
        for key, item in body.items():
            _text(key)
            check_plain(item, depth + 1)
    elif tag in ("error", "other"):
        _text(body)
    elif tag == "tensor":
        _tensor(body)
    else:
        raise Malformed("unknown plain-data tag")


def _tensor(body) -> None:
    if type(body) is not dict or set(body) != {"dtype", "shape", "data", "requires_grad"}:
        raise Malformed("a tensor header lacks or adds fields")
    if body["dtype"] not in DTYPES or type(body["requires_grad"]) is not bool:
        raise Malformed("a tensor's dtype or requires_grad is not valid")
    shape = body["shape"]
    if type(shape) is not list or len(shape) > MAX_DIMS or \
            any(type(s) is not int or not 0 <= s <= MAX_ELEMENTS for s in shape):
        raise Malformed("a tensor's shape is not a short list of sizes")
    data = body["data"]
    if type(data) is not list or len(data) > MAX_ELEMENTS or math.prod(shape) != len(data):
        raise Malformed("a tensor's data does not match its shape")
    for item in data:
        if type(item) not in (float, int, bool):
            raise Malformed("a tensor's data holds something other than numbers")
