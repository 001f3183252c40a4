"""Class grading: one submission alone, then a class of N with W workers (genlab autograde).

    python benchmarks/grading_class.py [--chapter 01_gan_losses] [--students 30] [--workers 2]

Builds a private course (nothing touches the repository's gradebook), submits a mix of
solved, blank and half-solved notebooks, and times (wall and CPU, the clean-room processes
included) (a) nbgrader's autograde of one submission through the clean room and (b)
``autograde_class`` of the whole class. Writes benchmarks/results/grading_class.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def submissions(chapter: str, n: int) -> list[dict]:
    solved = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    blank = nbformat.read(ROOT / "chapters" / chapter / f"{chapter}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solved.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    out = []
    for i in range(n):
        nb = nbformat.from_dict(json.loads(json.dumps(blank)))
        for k, cell in enumerate(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")):
            if i % 3 == 0 or (i % 3 == 1 and k % 2 == 0):  # solved, half solved, blank
                cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
        out.append(nb)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chapter", default="01_gan_losses")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from genlab.grading import autograde, submit, temp_course
    from genlab.grading.classgrade import autograde_class

    record = {"chapter": args.chapter, "students": args.students, "workers": args.workers,
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), Python "
                         f"{platform.python_version()}"}
    with temp_course([args.chapter], ROOT) as (api, work_root):
        nbs = submissions(args.chapter, args.students)
        submit(work_root, args.chapter, "alone", nbformat.writes(nbs[0]))
        t, c = time.perf_counter(), cpu()
        report = autograde(api, args.chapter, "alone")
        record["one_submission"] = {"wall_s": round(time.perf_counter() - t, 2),
                                    "cpu_s": round(cpu() - c, 2), "score": report.score,
                                    "max_score": report.max_score}
        for i, nb in enumerate(nbs):
            submit(work_root, args.chapter, f"s{i:03d}", nbformat.writes(nb))
        t, c = time.perf_counter(), cpu()
        cls = autograde_class(args.chapter, workers=args.workers, work_root=work_root,
                              course_root=ROOT, students=[f"s{i:03d}" for i in range(len(nbs))])
        record["class"] = {"wall_s": round(time.perf_counter() - t, 2), "cpu_s": round(cpu() - c, 2),
                           "nbgrader_autograde_wall_s": round(cls.seconds_gradebook, 2),
                           "scores": sorted({v[0] for v in cls.scores.values()})}
    print(json.dumps(record, indent=1))
    out = ROOT / "benchmarks" / "results" / "grading_class.json"
    out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
