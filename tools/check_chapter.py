"""One chapter's full check, the same as the test suite runs, with timings.

    python tools/check_chapter.py 01_gan_losses [--skip-full]

1. builds solutions/<id>/<id>.ipynb from <id>.py and releases chapters/<id>/;
2. executes the solutions notebook as a learner would (full demonstrations), offline;
3. autogrades, in a private course, the untouched student notebook (must score 0, with
   errors only in answer and test cells) and the solutions (must score every point).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import nbformat  # noqa: E402
import nbrun  # noqa: E402
import notebooks  # noqa: E402

from genlab.grading import autograde, submit, temp_course  # noqa: E402


def main(chapter: str, full: bool = True) -> int:
    notebooks.main(["build", chapter])
    failures = []
    with temp_course([chapter], ROOT) as (api, work_root):
        dest = ROOT / "chapters" / chapter
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(work_root / "chapters" / chapter, dest)
        print(f"released chapters/{chapter}")
        for student, source in [("blank", dest / f"{chapter}.ipynb"),
                                ("solution", ROOT / "solutions" / chapter / f"{chapter}.ipynb")]:
            submit(work_root, chapter, student, source)
            start = time.perf_counter()
            report = autograde(api, chapter, student)
            seconds = time.perf_counter() - start
            print(f"autograde {student}: {report.score:g}/{report.max_score:g} in {seconds:.1f} s")
            print(report.table())
            graded = work_root / "autograded" / student / chapter / f"{chapter}.ipynb"
            errors = nbrun.error_cells(nbformat.read(graded, as_version=4))
            if student == "blank":
                if report.score != 0:
                    failures.append("blank submission scored above 0")
                stray = [e for e in errors if not (e[1].get("solution") or e[1].get("grade"))]
                if stray:
                    failures.append(f"student version fails outside exercise cells: {stray}")
            else:
                if report.score != report.max_score or report.error:
                    failures.append(f"solutions scored {report.score}/{report.max_score}: {errors}")
            if seconds > 20:
                failures.append(f"autograde of {student} took {seconds:.1f} s (> 20 s)")
    if full:
        path = ROOT / "solutions" / chapter / f"{chapter}.ipynb"
        _, seconds, peak_mb = nbrun.execute(path, timeout=600)
        print(f"full run of solutions: {seconds:.1f} s, kernel peak RSS {peak_mb:.0f} MB")
        if seconds > 120 or peak_mb > 1500:
            failures.append(f"full run {seconds:.0f} s / {peak_mb:.0f} MB exceeds 120 s / 1500 MB")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(args[0], full="--skip-full" not in sys.argv))
