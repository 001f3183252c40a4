"""Regenerate chapters/ (the student notebooks) from solutions/ with nbgrader.

Builds each solutions/<id>/<id>.ipynb from its text source, releases every chapter in a
private temporary course (the repository's own gradebook is never touched) and copies
the released folders into chapters/. Run as ``make chapters``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import notebooks  # noqa: E402

from genlab.grading import temp_course  # noqa: E402


def release_all(target: Path = ROOT / "chapters") -> list[str]:
    """Release every chapter into ``target``; returns the chapter ids."""
    chapters = notebooks.chapter_ids()
    with temp_course(chapters, ROOT) as (_api, work_root):
        for chapter in chapters:
            dest = target / chapter
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(work_root / "chapters" / chapter, dest)
    return chapters


if __name__ == "__main__":
    notebooks.main(["build"])
    for chapter in release_all():
        print(f"released chapters/{chapter}")
