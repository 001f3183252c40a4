"""Per-submission grading time through the clean room, chapter by chapter, and a small
class graded with one and with two workers.

    python benchmarks/grading_sandbox.py [--chapters 00_welcome 01_gan_losses ...]
        [--repeats 3] [--label bwrap] [--class-chapter 01_gan_losses --students 4]

(a) For each chapter, the solutions' answer cells are graded by the judge
(``genlab.grading.judge.grade_notebook``: hidden cases, clean room(s), comparison), ``repeats``
times; the median wall seconds is what one submission costs (nbgrader's bookkeeping, ~1 s,
not included). (b) ``autograde_class`` of ``--students`` submissions (solved and blank
mixed) with ``--workers`` 1 and 2, nbgrader's gradebook included. ``GENLAB_SANDBOX=off``
measures the unsandboxed fallback. Results are appended to
benchmarks/results/grading_sandbox.json under ``--label``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["00_welcome", "01_gan_losses", "02_vae_elbo", "03_diffusion_losses",
            "04_optimizers_schedules", "05_stabilization", "06_monitoring", "07_finetuning",
            "08_personalization"]


def per_submission(chapter: str, repeats: int) -> dict:
    import nbformat

    from genlab.grading.judge import Notebook, grade_notebook

    nb = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    notebook = Notebook.from_nbformat(nb)
    seconds, scores = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        results = grade_notebook(chapter, Notebook(notebook.answers, dict(notebook.tests)))
        seconds.append(time.perf_counter() - start)
        scores.append(sum(r.points for r in results.values()))
    top = sum(points for _, points in notebook.tests.values())
    return {"median_s": round(statistics.median(seconds), 2), "all_s": [round(s, 2) for s in seconds],
            "score": scores[-1], "max_score": top}


def class_run(chapter: str, students: int) -> dict:
    import nbformat

    from genlab.grading import submit, temp_course
    from genlab.grading.classgrade import autograde_class

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from grading_class import submissions

    out = {}
    for workers in (1, 2):
        with temp_course([chapter], ROOT) as (_api, work_root):
            for i, nb in enumerate(submissions(chapter, students)):
                submit(work_root, chapter, f"s{i:02d}", nbformat.writes(nb))
            start = time.perf_counter()
            report = autograde_class(chapter, workers=workers, work_root=work_root, course_root=ROOT)
            out[f"workers_{workers}_s"] = round(time.perf_counter() - start, 2)
            out[f"workers_{workers}_scores"] = {s: v[0] for s, v in sorted(report.scores.items())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chapters", nargs="*", default=CHAPTERS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="current")
    parser.add_argument("--class-chapter", default="")
    parser.add_argument("--students", type=int, default=4)
    args = parser.parse_args()
    try:
        from genlab.grading.sandbox import availability

        sandbox = availability()[1] if availability()[0] else "none: " + availability()[1]
    except ImportError:  # the grader before the OS sandbox
        sandbox = "none (audit hooks only)"
    record = {"label": args.label, "sandbox": sandbox,
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), Python "
                         f"{platform.python_version()}",
              "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "chapters": {}}
    for chapter in args.chapters:
        record["chapters"][chapter] = per_submission(chapter, args.repeats)
        print(chapter, record["chapters"][chapter], flush=True)
    if args.class_chapter:
        record["class"] = {"chapter": args.class_chapter, "students": args.students,
                           **class_run(args.class_chapter, args.students)}
        print(record["class"], flush=True)
    path = ROOT / "benchmarks" / "results" / "grading_sandbox.json"
    runs = json.loads(path.read_text()) if path.is_file() else []
    runs.append(record)
    path.write_text(json.dumps(runs, indent=1) + "\n")


if __name__ == "__main__":
    main()
