"""The judge: grades a notebook's answers from clean-room results; never runs their code.

For each test cell of a chapter the judge finds what grades it: an :class:`Exercise` of
the chapter's spec (hidden cases, compared with genlab's reference) or a quiz key in the
cell's hidden region. It draws the hidden inputs, runs the clean room
(:func:`genlab.grading.sandbox.run_job`; a crashed or hung process is restarted without the
culprit), compares the plain-data results with the reference and returns the points and
the feedback text per test cell.
"""

from __future__ import annotations

import math
import os
import secrets
import site
import sys
import time
from dataclasses import dataclass, field

import torch

import genlab
from genlab.grading import plain
from genlab.grading.course import find_course_root
from genlab.grading.sandbox import CELL_TIMEOUT, SETUP_TIMEOUT, no_sandbox_note, run_job
from genlab.grading.spec import (
    ALWAYS_FORBIDDEN,
    Spec,
    compare,
    load_spec,
    quiz_key_of,
    reference_answers,
)


@dataclass
class CellResult:
    test: str
    points: float
    max_points: float
    feedback: str
    ok: bool

    @property
    def fraction(self) -> float:
        return self.points / self.max_points if self.max_points else 0.0


@dataclass
class Notebook:
    """What the judge needs from a notebook: answer cells in order, test cells by id."""

    answers: list[tuple[str, str]]  # (grade_id, source) of each answer cell, in order
    tests: dict[str, tuple[str, float]]  # grade_id -> (source, points)
    timings: dict = field(default_factory=dict)

    @classmethod
    def from_nbformat(cls, nb) -> "Notebook":
        """Answer and test cells of ``nb``; a cell whose nbgrader metadata is not a dict
        of the usual types (a learner can edit it into anything) is not graded."""
        answers, tests = [], {}
        cells = nb.get("cells") if isinstance(nb, dict) else None
        for cell in cells if isinstance(cells, list) else []:
            meta = cell.get("metadata") if isinstance(cell, dict) else None
            meta = meta.get("nbgrader") if isinstance(meta, dict) else None
            if not isinstance(meta, dict) or cell.get("cell_type") != "code":
                continue
            gid, source = meta.get("grade_id"), _source_text(cell.get("source"))
            if not isinstance(gid, str) or not gid or source is None:
                continue
            if meta.get("solution") is True and not meta.get("grade"):
                answers.append((gid, source))
            elif meta.get("grade") is True:
                points = meta.get("points", 0)
                points = float(points) if type(points) in (int, float) and math.isfinite(points) else 0.0
                tests[gid] = (source, points)
        return cls(answers, tests)


def _source_text(source) -> str | None:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    return None


FEEDBACK_LINE = 300  # characters of one line of text that came from the answer's process
FEEDBACK_LINES = 12


def bounded(text, limit: int = FEEDBACK_LINE) -> str:
    """``text`` (from the clean room: possibly the answer's) on one line, cut to ``limit``."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _seed() -> int:
    fixed = os.environ.get("GENLAB_GRADING_SEED")
    return int(fixed) if fixed else secrets.randbits(48)


def _cases(exercise, seed: int):
    rng = torch.Generator().manual_seed(seed)
    cases = exercise.cases(rng)
    encoded = [(seed + 1 + i, plain.encode(case)) for i, case in enumerate(cases)]
    return encoded


def _expected(exercise, encoded_cases):
    ref = reference_answers(exercise)
    wanted = []
    for seed, case in encoded_cases:
        torch.manual_seed(seed)
        wanted.append(plain.decode(plain.encode(exercise.run(ref, plain.decode(case)))))
    return wanted


def grade_notebook(chapter: str, notebook: Notebook, spec: Spec | None = None,
                   class_key=None, timeout: float | None = None,
                   policy: dict | None = None) -> dict[str, CellResult]:
    """Points and feedback for every test cell of ``notebook`` (chapter ``chapter``).

    ``class_key(variable, letter, right) -> canonical letter`` undoes a class release's
    option shuffle (see :mod:`genlab.grading.classrelease`); None for self-study copies.
    """
    spec = spec or load_spec(chapter)
    if spec is None:
        raise ValueError(f"chapter {chapter!r} has no clean-room spec")
    results: dict[str, CellResult] = {}
    quiz: dict[str, dict] = {}
    groups: dict[str, list] = {}
    for test, (source, points) in notebook.tests.items():
        if test in spec.exercises:
            groups.setdefault(spec.exercises[test].group, []).append(spec.exercises[test])
            continue
        key = quiz_key_of(source)
        if key:
            quiz[test] = key
        else:
            results[test] = CellResult(test, 0.0, points, (
                f"the grader has no clean-room check for {test}: add it to "
                f"genlab/grading/specs/{chapter}.py (docs/grading.md)"), False)
    variables = sorted({v for key in quiz.values() for v in key})
    if not groups and variables:
        groups["chapter"] = []
    base_seed = _seed()
    start = time.perf_counter()
    # one deadline for the whole submission, every restart included; nothing the answer
    # sends moves it
    deadline = time.monotonic() + submission_budget(spec, notebook, timeout)
    cpu = 0.0
    for index, (group, exercises) in enumerate(groups.items()):
        prepared = []
        for k, ex in enumerate(exercises):
            encoded = _cases(ex, base_seed + 1000 * (k + 1))
            prepared.append((ex, encoded, _expected(ex, encoded)))
        outcome_values, per_exercise, cell_notes, used = _run_group(
            spec, notebook, prepared, variables if index == 0 else [], timeout,
            policy or read_policy(), deadline)
        cpu += used
        for ex, encoded, wanted in prepared:
            points = notebook.tests[ex.test][1]
            results[ex.test] = _judge_exercise(ex, points, per_exercise.get(ex.test), wanted,
                                               cell_notes, notebook)
        if index == 0:
            for test, key in quiz.items():
                results[test] = _judge_quiz(test, key, notebook.tests[test][1], outcome_values,
                                            class_key)
    notebook.timings.update(seconds=time.perf_counter() - start, child_cpu_seconds=cpu)
    note = no_sandbox_note()
    if note:
        for result in results.values():
            result.feedback = note + "\n" + result.feedback
    return results


def submission_budget(spec, notebook, timeout=None) -> float:
    """Wall seconds one submission may use in clean rooms, all restarts together."""
    per_exercise = [timeout or ex.timeout for ex in spec.exercises.values()]
    return SETUP_TIMEOUT + CELL_TIMEOUT * len(notebook.answers) + sum(per_exercise)


def read_policy(extra_deny=()) -> dict:
    """Folders the clean room may not read (the course being graded: solutions, gradebook,
    submissions) and the ones it may (Python, site-packages, genlab's own package)."""
    deny = set()
    candidates = [os.getcwd(), *map(str, extra_deny)]
    try:
        candidates.append(str(find_course_root()))
    except FileNotFoundError:
        pass
    for folder in candidates:
        markers = ("nbgrader_config.py", "gradebook.db", "submitted", "solutions")
        if len(os.path.abspath(folder)) > 1 and any(os.path.exists(os.path.join(folder, m)) for m in markers):
            deny.add(os.path.abspath(folder))
    allow = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(genlab.__file__),
             *site.getsitepackages(), os.path.dirname(os.__file__)}
    return {"deny": sorted(deny), "allow": sorted(allow)}


def _run_group(spec, notebook, prepared, variables, timeout=None, policy=None, deadline=None):
    """Clean-room runs until every exercise has a result; restarts skip what crashed."""
    forbid = sorted({t for ex, _, _ in prepared for t in ex.forbidden} | set(ALWAYS_FORBIDDEN))
    skip: set[str] = set()
    per_exercise: dict[str, object] = {}
    cell_notes: dict[str, str] = {}
    values = None
    cpu = 0.0
    timeout = timeout or max([ex.timeout for ex, _, _ in prepared] + [30.0])
    for _attempt in range(len(notebook.answers) + len(prepared) + 2):
        pending = [(ex, enc) for ex, enc, _ in prepared if ex.test not in per_exercise]
        if not pending and values is not None:
            break
        job = {"chapter": spec.chapter, "setup": spec.setup, "forbid": forbid,
               "read_policy": policy or read_policy(),
               "cells": [(gid, src) for gid, src in notebook.answers if gid not in skip],
               "exercises": [ex.test for ex, _ in pending],
               "group_tests": sorted(ex.test for ex, _, _ in prepared),
               "cases": [enc for _, enc in pending],
               "variables": variables if values is None else []}
        if deadline is not None and time.monotonic() >= deadline:
            for ex, _ in pending:
                per_exercise.setdefault(ex.test, ("crash", "the submission used up its grading time"))
            values = values or {}
            break
        outcome = run_job(job, exercise_timeout=timeout, deadline=deadline)
        cpu += outcome.cpu_seconds
        current = None
        cells = [gid for gid, _ in job["cells"]]
        done_cells: list[str] = []
        seen_exercises: set[str] = set()
        got_variables = False
        for message in outcome.events:
            # the order of work is fixed; a message out of it was written by the answer
            # (it can find the descriptor): that ends the run as the current step's failure
            kind, ident = message["ev"], str(message.get("id", ""))
            in_order = {
                "cell": current is None and not got_variables and len(done_cells) < len(cells)
                and ident == cells[len(done_cells)],
                "cell_done": current == ("cell", ident),
                "variables": current is None and len(done_cells) == len(cells)
                and not got_variables and bool(job["variables"]),
                "exercise": current is None and ident in {ex.test for ex, _ in pending}
                and ident not in seen_exercises,
                "result": current == ("exercise", ident),
                "ready": current is None and not done_cells,
                "done": current is None,
                "setup_error": current is None and not done_cells,
            }.get(kind, False)
            if not in_order:
                outcome.ended, outcome.detail = "died", "it sent the grader messages of its own"
                break
            if kind == "setup_error":
                reason = "the chapter's setup failed in the grader: " + bounded(message.get("error"))
                for ex, _ in pending:
                    per_exercise[ex.test] = ("crash", reason)
                values = values or {}
            elif kind == "cell":
                current = ("cell", ident)
            elif kind == "cell_done":
                current = None
                done_cells.append(ident)
                if message.get("error"):
                    cell_notes[ident] = bounded(message["error"])
            elif kind == "variables":
                values, got_variables = message["values"], True
            elif kind == "exercise":
                current = ("exercise", ident)
                seen_exercises.add(ident)
            elif kind == "result":
                if ident not in per_exercise:
                    per_exercise[ident] = ("outputs", message["outputs"])
                current = None
        if outcome.ended in ("done", "setup_error"):
            if values is None:
                values = {}
            continue
        reason = outcome.detail if outcome.ended == "died" else \
            f"it did not finish in time ({outcome.detail})"
        if current is None:  # died before or between steps: nothing to blame
            for ex, _ in pending:
                per_exercise.setdefault(ex.test, ("crash", f"the grading process stopped: {reason}"))
            values = values or {}
        elif current[0] == "cell":
            skip.add(current[1])
            cell_notes[current[1]] = f"running this answer cell stopped the grader: {reason}; " \
                                     "it was skipped"
        else:
            per_exercise[current[1]] = ("crash", f"your code stopped the grader: {reason}")
    for ex, _, _ in prepared:
        per_exercise.setdefault(ex.test, ("crash", "the grader could not finish this exercise"))
    return values or {}, per_exercise, cell_notes, cpu


def _judge_exercise(ex, points, result, wanted, cell_notes, notebook) -> CellResult:
    notes = [bounded(f"answer cell {gid}: {text}") for gid, text in cell_notes.items()
             if gid in ex.names or any(name in src for name in ex.names
                                        for g, src in notebook.answers if g == gid)][:4]
    if result is None or result[0] == "crash":
        text = bounded(result[1]) if result else "no result"
        return CellResult(ex.test, 0.0, points, "\n".join([text] + notes), False)
    outputs = result[1]
    problems = []
    if len(outputs) != len(wanted):
        problems.append("the grader got a different number of results than cases")
    for i, (raw, want) in enumerate(zip(outputs, wanted)):
        try:
            got = plain.decode(raw)
            if ex.check is not None:
                found = list(ex.check(got, want))
            else:
                found = compare(got, want, rtol=ex.rtol, atol=ex.atol,
                                check_dtype=ex.check_dtype, tolerances=ex.tolerances)
        except Exception as exc:  # noqa: BLE001 - whatever the result holds, it fails alone
            found = [f"unreadable result ({type(exc).__name__})"]
        problems += [bounded(f"hidden case {i + 1}: {p}") for p in found[:3]]
    bodies = {p.split(": ", 1)[1] for p in problems}
    if len(problems) > 1 and len(bodies) == 1:
        problems = [f"every hidden case: {bodies.pop()}"]
    if not problems:
        return CellResult(ex.test, points, points,
                          f"hidden tests passed ({len(wanted)} cases)", True)
    lines = [f"hidden tests failed ({len(problems)} problem(s)):"] + problems[:FEEDBACK_LINES - 4]
    if ex.hint:
        lines.append("hint: " + ex.hint)
    return CellResult(ex.test, 0.0, points, "\n".join(lines + notes), False)


def _judge_quiz(test, key, points, values, class_key) -> CellResult:
    right, lines = 0, []
    for variable, answer in key.items():
        raw = values.get(variable, {"other": "not defined"})
        given = raw if type(raw) is str else None
        if given is not None and class_key is not None:
            given = class_key(variable, given, answer)
        if given == answer:
            right += 1
            lines.append(f"{variable}: right")
        else:
            shown = bounded(repr(raw), 40) if type(raw) in (str, type(None)) \
                else "not a one-letter string"
            lines.append(f"{variable}: not right (you answered {shown})")
    score = round(points * right / len(key), 6)
    return CellResult(test, score, points, f"{right} of {len(key)} right\n" + "\n".join(lines),
                      right == len(key))
