"""Every solutions notebook runs end to end as a learner runs it: full demonstrations, offline.

Each run's wall time and the kernel's peak memory go to .cache/notebook_runs/, which
benchmarks/run_chapters.py reads.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

import nbrun
import notebooks

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / ".cache" / "notebook_runs"


@pytest.mark.notebook
@pytest.mark.parametrize("chapter", notebooks.chapter_ids())
def test_solutions_notebook_runs_without_error(chapter):
    path = ROOT / "solutions" / chapter / f"{chapter}.ipynb"
    _, seconds, peak_mb = nbrun.execute(path, timeout=600)
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / f"{chapter}.json").write_text(json.dumps({
        "chapter": chapter, "seconds": round(seconds, 1), "peak_mb": round(peak_mb),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }))
