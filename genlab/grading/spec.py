"""What a chapter declares for the clean room: its exercises (see docs/grading.md).

A spec module ``genlab/grading/specs/<chapter>.py`` defines ``EXERCISES`` (a list of
:class:`Exercise`) and optionally ``SETUP`` (code the clean room runs before the answer
cells). Quiz test cells need no entry: their hidden region is the answer key
(:func:`quiz_key` or ``assert answer_q1 == "b"`` lines), read as data by the judge.
"""

from __future__ import annotations

import ast
import importlib
import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from genlab.grading import plain

# Never callable from an answer, whatever the exercise. The quiz self-check answers
# right/wrong: in the grader it would enumerate the answers.
ALWAYS_FORBIDDEN = ("genlab.quiz:is_correct", "genlab.quiz:check", "genlab.quiz:check_all",
                    "genlab.quiz:answer_hash", "genlab.quiz:load_bank")

DEFAULT_SETUP = (
    "import math\n"
    "import torch\n"
    "from torch import nn\n"
    "import torch.nn.functional as F\n"
    "import genlab\n"
    "device = torch.device('cpu')\n"
)
_DTYPE_FLOOR = {"torch.float32": (1e-5, 1e-6), "torch.float16": (1e-2, 1e-3),
                "torch.bfloat16": (2e-2, 1e-2)}
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


@dataclass(frozen=True)
class Exercise:
    """One graded test cell whose points come from running ``run`` on hidden ``cases``.

    test: grade_id of the test cell. names: what the answer cells define. reference:
    ``{name: "module:qualname" or callable}``, genlab's version of each name. forbid:
    ``"module:qualname"`` of every function an answer must not reach (default: the
    reference targets). cases(rng) -> list of dicts of plain values, drawn in the judge.
    run(f, case) -> dict of plain values; ``f.<name>`` is the learner's function in the
    clean room and the reference in the judge. rtol/atol: tensor and float tolerance;
    tolerances: per output key. check_dtype: compare tensor dtypes. check(got, want)
    -> list of messages replaces the default comparison. hint: one line shown on failure.
    """

    test: str
    names: tuple[str, ...]
    reference: dict
    cases: Callable
    run: Callable
    forbid: tuple[str, ...] = ()
    rtol: float = 1e-6
    atol: float = 1e-8
    tolerances: dict = field(default_factory=dict)
    check_dtype: bool = True
    check: Callable | None = None
    hint: str = ""
    group: str = "chapter"
    timeout: float = 60.0

    @property
    def forbidden(self) -> tuple[str, ...]:
        refs = tuple(r for r in self.reference.values() if isinstance(r, str))
        return tuple(dict.fromkeys(self.forbid + refs))


@dataclass
class Spec:
    chapter: str
    setup: str
    exercises: dict[str, Exercise]


def load_spec(chapter: str) -> Spec | None:
    """The spec of ``chapter`` (e.g. ``"01_gan_losses"``), or None if it has none."""
    try:
        module = importlib.import_module(f"genlab.grading.specs.{chapter}")
    except ModuleNotFoundError as exc:
        if exc.name == f"genlab.grading.specs.{chapter}":
            return None
        raise
    exercises = {ex.test: ex for ex in getattr(module, "EXERCISES", [])}
    return Spec(chapter, getattr(module, "SETUP", DEFAULT_SETUP), exercises)


def resolve(target):
    """``"package.module:Qual.name"`` -> the object (callables pass through)."""
    if callable(target):
        return target
    module_name, _, qualname = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class Answers:
    """``f.name`` -> ``namespace[name]``, looked up at call time (a missing name says so)."""

    def __init__(self, namespace: dict):
        object.__setattr__(self, "_ns", namespace)

    def __getattr__(self, name):
        ns = object.__getattribute__(self, "_ns")
        if name not in ns:
            raise NameError(f"the answer cell does not define {name!r}")
        return ns[name]


def reference_answers(exercise: Exercise) -> Answers:
    return Answers({name: resolve(target) for name, target in exercise.reference.items()})


# ---------------------------------------------------------------- quiz keys (as data)

def hidden_region(source: str) -> str:
    if HIDDEN_BEGIN not in source:
        return ""
    return source.split(HIDDEN_BEGIN, 1)[1].split(HIDDEN_END, 1)[0]


def quiz_key_of(source: str) -> dict[str, str] | None:
    """The answer key in a test cell's hidden region, or None if it is not a quiz key.

    Accepted, and nothing else: ``genlab.grading.quiz_key(answer_q1="c", ...)`` calls,
    ``assert answer_q1 == "c", "message"`` statements and ``print(...)`` calls (ignored);
    literals only, never executed.
    """
    region = hidden_region(source)
    if not region.strip():
        return None
    try:
        tree = ast.parse(region)
    except SyntaxError:
        return None
    key: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                and _dotted(node.value.func).endswith("quiz_key") and not node.value.args:
            for kw in node.value.keywords:
                if kw.arg is None:
                    return None
                key[kw.arg] = ast.literal_eval(kw.value)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                and _dotted(node.value.func) == "print":
            continue  # an explanation printed for the feedback
        elif isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) \
                and isinstance(node.test.left, ast.Name) and len(node.test.ops) == 1 \
                and isinstance(node.test.ops[0], ast.Eq) \
                and isinstance(node.test.comparators[0], ast.Constant):
            key[node.test.left.id] = node.test.comparators[0].value
        else:
            return None
    return key or None


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + "." + node.attr
    return ""


def spec_check_of(source: str) -> tuple[str, str] | None:
    """``(chapter, test)`` of a ``genlab.grading.check_here(chapter, test)`` hidden region."""
    region = hidden_region(source)
    try:
        tree = ast.parse(region)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                and _dotted(node.value.func).endswith("check_here") and len(node.value.args) == 2:
            return tuple(ast.literal_eval(a) for a in node.value.args)
    return None


# ---------------------------------------------------------------- comparison (judge side)

def compare(got, want, *, rtol: float, atol: float, check_dtype: bool = True,
            tolerances: dict | None = None, path: str = "") -> list[str]:
    """Messages describing how decoded ``got`` differs from ``want`` (empty: the same)."""
    where = path or "the result"
    if isinstance(want, plain.Marker):
        if want.kind == "error":
            wanted = want.text.split(":", 1)[0]
            if isinstance(got, plain.Marker) and got.kind == "error" \
                    and got.text.split(":", 1)[0] == wanted:
                return []
            return [f"{where}: expected {wanted} to be raised"]
        return [f"{where}: the reference gave {want!r}"]  # a spec bug, reported plainly
    if isinstance(got, plain.Marker):
        if got.kind == "error":
            return [f"{where}: raised {got.text}"]
        return [f"{where}: returned a {got.text}, expected a {_kind(want)}"]
    if type(want) in (dict, list, tuple):
        if type(got) is not type(want):
            return [f"{where}: expected a {_kind(want)}, got a {_kind(got)}"]
        if type(want) is dict:
            if set(got) != set(want):
                return [f"{where}: keys {sorted(got)} differ from {sorted(want)}"]
            items = [(k, got[k], want[k]) for k in want]
        else:
            if len(got) != len(want):
                return [f"{where}: expected {len(want)} items, got {len(got)}"]
            items = [(f"[{i}]", g, w) for i, (g, w) in enumerate(zip(got, want))]
        problems = []
        for key, g, w in items:
            tol = (tolerances or {}).get(key.strip("[]"), (rtol, atol))
            sub = f"{path}.{key}" if path and type(want) is dict else (f"{path}{key}" if path else key)
            problems += compare(g, w, rtol=tol[0], atol=tol[1], check_dtype=check_dtype,
                                tolerances=tolerances, path=sub)
        return problems
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return [f"{where}: expected a tensor, got a {_kind(got)}"]
        if tuple(got.shape) != tuple(want.shape):
            return [f"{where}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"]
        if check_dtype and got.dtype != want.dtype:
            return [f"{where}: dtype {got.dtype}, expected {want.dtype}"]
        # a tolerance never tighter than the dtype's rounding: float32 results of two
        # correct formulas differ by a few ulp (1.2e-7 each), reductions by ~1e-6
        floor = _DTYPE_FLOOR.get(str(want.dtype), (0.0, 0.0))
        rtol, atol = max(rtol, floor[0]), max(atol, floor[1])
        g, w = got.detach().double(), want.detach().double()
        same_nan = torch.isnan(g) == torch.isnan(w)
        close = torch.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
        if not bool(same_nan.all() and close.all()):
            bad = int((~close).sum())
            err = float((g - w).abs().nan_to_num(nan=math.inf).max())
            return [f"{where}: {bad} of {w.numel()} values differ (largest error {err:.3g})"]
        return []
    if type(want) is float:
        if type(got) is not float:
            return [f"{where}: expected a Python float, got a {_kind(got)}"]
        if math.isnan(want) and math.isnan(got):
            return []
        if not math.isclose(got, want, rel_tol=rtol, abs_tol=atol):
            return [f"{where}: {got!r}, expected {want!r}"]
        return []
    if type(got) is not type(want) or got != want:
        if type(got) is not type(want):
            return [f"{where}: expected a {_kind(want)}, got a {_kind(got)}"]
        return [f"{where}: {got!r}, expected {want!r}"]
    return []


def _kind(value) -> str:
    if isinstance(value, torch.Tensor):
        return "tensor"
    if isinstance(value, plain.Marker):
        return value.text
    return type(value).__name__


# ---------------------------------------------------------------- helpers for spec authors

def randn(rng, *shape, dtype=None, grad: bool = False, scale: float = 1.0):
    """``scale * N(0, 1)`` of ``shape`` from ``rng`` (float64 by default), optionally a leaf
    that requires grad."""
    x = scale * torch.randn(*shape, generator=rng, dtype=dtype or torch.float64)
    return x.requires_grad_(grad)


def value_and_grads(value, inputs: dict) -> dict:
    """``{"value": value, "grad_<name>": d value.sum() / d input}`` for each input that
    requires grad (``None`` where the value does not depend on it)."""
    out = {"value": value}
    names = [k for k, v in inputs.items() if isinstance(v, torch.Tensor) and v.requires_grad]
    if not names:
        return out
    if not isinstance(value, torch.Tensor) or not value.requires_grad:
        return {**out, **{f"grad_{k}": None for k in names}}
    grads = torch.autograd.grad(value.sum(), [inputs[k] for k in names], allow_unused=True)
    out.update({f"grad_{k}": g for k, g in zip(names, grads)})
    return out
