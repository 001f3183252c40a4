"""The hidden-region calls of a solutions notebook, run inside the notebook's own process.

``genlab.grading.check_here("01_gan_losses", "test_d_loss_minimax")`` runs that exercise's
spec against the notebook's functions, with genlab's reference guarded, and raises
``AssertionError`` listing what differs; ``genlab.grading.quiz_key(answer_q1="c")`` checks
the quiz variables. They let an author run ``solutions/`` end to end and see the hidden
checks pass. Grading never runs them: the clean room grades from the same spec.
"""

from __future__ import annotations

import sys

import torch

from genlab.exercises import forbid
from genlab.grading import plain
from genlab.grading.judge import _cases, _expected, _seed
from genlab.grading.spec import Answers, compare, load_spec, resolve


def _namespace() -> dict:
    return vars(sys.modules["__main__"])


def check_here(chapter: str, test: str, namespace: dict | None = None) -> None:
    """Run the spec of ``test`` in this process against ``namespace`` (default ``__main__``)."""
    spec = load_spec(chapter)
    if spec is None or test not in spec.exercises:
        raise AssertionError(f"no clean-room check {test!r} in genlab/grading/specs/{chapter}.py")
    exercise = spec.exercises[test]
    cases = _cases(exercise, _seed())
    wanted = _expected(exercise, cases)
    answers = Answers(namespace if namespace is not None else _namespace())
    problems = []
    with forbid(*_importable(exercise.forbidden)):
        for i, ((seed, case), want) in enumerate(zip(cases, wanted)):
            torch.manual_seed(seed)
            try:
                got = plain.decode(plain.encode(exercise.run(answers, plain.decode(case))))
            except Exception as exc:  # noqa: BLE001 - reported as the failure it is
                got = plain.Marker("error", f"{type(exc).__name__}: {exc}")
            found = exercise.check(got, want) if exercise.check else compare(
                got, want, rtol=exercise.rtol, atol=exercise.atol,
                check_dtype=exercise.check_dtype, tolerances=exercise.tolerances)
            problems += [f"hidden case {i + 1}: {p}" for p in found]
    if problems:
        hint = f"\nhint: {exercise.hint}" if exercise.hint else ""
        raise AssertionError("\n".join(problems[:8]) + hint)


def _importable(targets) -> list:
    """The forbidden functions reachable here: genlab's, and a library's only once the
    notebook imported that library (importing Transformers or Diffusers for a check would
    cost seconds; an answer that used them has imported them). The grader's clean room
    strips them all."""
    found = []
    for target in targets:
        top = target.partition(":")[0].split(".")[0]
        if top != "genlab" and top not in sys.modules:
            continue
        try:
            found.append(resolve(target))
        except (ImportError, AttributeError):
            continue
    return found


def quiz_key(namespace: dict | None = None, **key) -> None:
    """Check quiz variables against ``key`` (``answer_q1="c"``, ...) in this process."""
    ns = namespace if namespace is not None else _namespace()
    wrong = [name for name, answer in key.items() if ns.get(name) != answer]
    assert not wrong, f"not right: {', '.join(wrong)}"
