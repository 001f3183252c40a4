"""``genlab autograde ASSIGNMENT --workers N``: a class's submissions graded in parallel.

nbgrader grades one submission after another (its issue #174) and its gradebook is a
single sqlite file, so the work is split where it can be:

1. in parallel (``workers`` threads, each waiting on its own clean-room processes): every
   submission's answers are graded by the judge (:func:`genlab.grading.judge.grade_notebook`);
2. as each one is judged, in the calling thread, one at a time: nbgrader's own autograde
   (``NbGraderAPI.autograde``: sanitizing, the autograded copy, the scores written into the
   instructor's gradebook). Its clean-room step finds the result of step 1 (same chapter,
   same answer cells) in :data:`genlab.grading.nbgrader_plugin.PRECOMPUTED` instead of
   grading again.

Each submission is isolated exactly as in ``nbgrader autograde``; a submission that hangs
or crashes costs its own exercises, never another student's.
"""

from __future__ import annotations

import os
try:  # Unix only; on Windows there is no OS sandbox and this is never called
    import resource
except ImportError:  # pragma: no cover
    resource = None
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from genlab.grading import nbgrader_plugin
from genlab.grading.course import autograde, find_course_root, make_api
from genlab.grading.judge import Notebook, bounded, grade_notebook, read_policy
from genlab.grading.sandbox import no_sandbox_note
from genlab.grading.spec import load_spec


@dataclass
class ClassReport:
    assignment: str
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)  # student -> (score, max)
    errors: dict[str, str] = field(default_factory=dict)
    seconds_total: float = 0.0
    seconds_gradebook: float = 0.0  # of which in nbgrader's autograde (one at a time)
    cpu_seconds: float = 0.0  # this process and every clean-room process

    def table(self) -> str:
        width = max([len(s) for s in self.scores] + [len("student")])
        lines = [f"{'student':<{width}}  score", f"{'-' * width}  -----"]
        for student, (score, top) in sorted(self.scores.items()):
            note = f"  ({self.errors[student]})" if student in self.errors else ""
            lines.append(f"{student:<{width}}  {score:g} / {top:g}{note}")
        lines.append(f"{len(self.scores)} submissions in {self.seconds_total:.1f} s "
                     f"({self.seconds_gradebook:.1f} s of it in nbgrader's autograde), "
                     f"{self.cpu_seconds:.1f} CPU s")

        if no_sandbox_note():
            lines.append(no_sandbox_note())
        return "\n".join(lines)


def submitted_students(work_root: Path, assignment: str) -> list[str]:
    folder = work_root / "submitted"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())


def _source_tests(work_root: Path, course_root: Path, assignment: str):
    import nbformat

    for root in (work_root, course_root):
        path = root / "solutions" / assignment / f"{assignment}.ipynb"
        if path.is_file():
            return Notebook.from_nbformat(nbformat.read(path, as_version=4)).tests
    raise FileNotFoundError(f"no instructor source solutions/{assignment}/{assignment}.ipynb")


def _record(report, student, graded) -> None:
    report.scores[student] = (graded.score, graded.max_score)
    if graded.error:
        report.errors[student] = graded.error


def _failure(what: str, exc: BaseException) -> str:
    return bounded(f"{what}: {type(exc).__name__}: {exc}", 200)


def _grade_in_gradebook(report, api, assignment, student) -> None:
    """nbgrader's autograde of one submission; if it raises, that submission scores 0."""
    try:
        _record(report, student, autograde(api, assignment, student))
    except Exception as exc:  # noqa: BLE001 - one broken submission never stops the class
        report.errors[student] = _failure("nbgrader could not grade it", exc)
        try:
            top = sum(points for _, points in _source_tests(Path(api.coursedir.root), Path(api.coursedir.root),
                                                             assignment).values())
        except Exception:  # noqa: BLE001
            top = 0.0
        report.scores[student] = (0.0, top)


def _judge_one(chapter: str, path: Path, tests, policy=None):
    """Clean-room results of one submission, or None when it cannot be read."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - nbgrader reports it, the gradebook gets zeros
        return None
    notebook = Notebook.from_nbformat(nb)
    notebook = Notebook(notebook.answers, dict(tests))
    results = grade_notebook(chapter, notebook, class_key=nbgrader_plugin._class_key(chapter),
                             policy=policy)
    nbgrader_plugin.PRECOMPUTED[nbgrader_plugin.fingerprint(chapter, notebook)] = results
    return results


def autograde_class(assignment: str, workers: int = 2, work_root: Path | None = None,
                    course_root: Path | None = None, students: list[str] | None = None
                    ) -> ClassReport:
    """Grade every submission of ``assignment`` in the course at ``work_root`` (default: the
    course root itself) with ``workers`` parallel judges; scores go into its gradebook."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    warnings.filterwarnings("ignore", message=".*not in session.*")
    course_root = find_course_root(course_root)
    work_root = Path(work_root or course_root).resolve()
    students = students or submitted_students(work_root, assignment)
    if not students:
        raise ValueError(f"no submissions of {assignment!r} under {work_root / 'submitted'}")
    report = ClassReport(assignment)
    cpu0 = _cpu_now()
    start = time.perf_counter()
    api = make_api(course_root, work_root)
    paths = {s: work_root / "submitted" / s / assignment / f"{assignment}.ipynb" for s in students}
    cwd = os.getcwd()
    try:
        if load_spec(assignment) is None:  # no clean room for it: nbgrader's kernel, in turn
            for student in students:
                _grade_in_gradebook(report, api, assignment, student)
        else:
            tests = _source_tests(work_root, course_root, assignment)
            policy = read_policy(extra_deny=(work_root, course_root))
            # judges run `workers` at a time; each finished submission goes through nbgrader
            # (gradebook, autograded copy) here while the others are still being judged
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(_judge_one, assignment, paths[s], tests, policy): s
                           for s in students}
                for future in as_completed(futures):
                    student = futures[future]
                    try:
                        future.result()
                    except Exception as exc:  # noqa: BLE001 - this submission fails, the class goes on
                        report.errors[student] = _failure("could not be judged", exc)
                    t0 = time.perf_counter()
                    _grade_in_gradebook(report, api, assignment, student)
                    report.seconds_gradebook += time.perf_counter() - t0
    finally:
        os.chdir(cwd)
    report.seconds_total = time.perf_counter() - start
    report.cpu_seconds = _cpu_now() - cpu0
    return report


def _cpu_now() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
