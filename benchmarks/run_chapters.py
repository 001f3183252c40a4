"""Run every solutions notebook as a learner would; record wall time and peak memory.

    python benchmarks/run_chapters.py [--from-tests] [CHAPTER ...]

Writes benchmarks/results/chapters.json and chapters.md (with the machine it ran on) and
measures ``import genlab`` against ``import torch`` in fresh interpreters. Autograde
times come from the last test run (.cache/grading_runs/, written by tests/grading);
``--from-tests`` also takes the full-run times from it (.cache/notebook_runs/, written by
tests/notebooks, two notebooks at a time) instead of executing the notebooks again.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "tools"))

import nbrun  # noqa: E402
import notebooks  # noqa: E402


def machine() -> dict:
    import torch

    return {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def import_seconds(statement: str, repeats: int = 7, after: str = "pass") -> float:
    """Median wall time of ``statement`` in a fresh interpreter, timed after ``after`` has
    run (so ``after="import torch"`` times only what ``statement`` adds)."""
    code = (f"import time; {after}; t = time.perf_counter(); {statement}; "
            "print(time.perf_counter() - t)")
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(repeats)]
    return statistics.median(runs)


def autograde_seconds() -> dict:
    found = {}
    for path in sorted((ROOT / ".cache" / "grading_runs").glob("*.json")):
        run = json.loads(path.read_text())
        found.setdefault(run["chapter"], {})[run["student"]] = run["seconds"]
    return found


def main(chapters: list[str], from_tests: bool = False) -> None:
    rows = []
    for chapter in chapters if not from_tests else []:
        path = ROOT / "solutions" / chapter / f"{chapter}.ipynb"
        _, seconds, peak_mb = nbrun.execute(path, timeout=600)
        rows.append({"chapter": chapter, "seconds": round(seconds, 1), "peak_mb": round(peak_mb)})
        print(f"{chapter}: {seconds:.1f} s, {peak_mb:.0f} MB", flush=True)
    if from_tests:
        for chapter in chapters:
            run = json.loads((ROOT / ".cache" / "notebook_runs" / f"{chapter}.json").read_text())
            rows.append({k: run[k] for k in ("chapter", "seconds", "peak_mb")})
    import_seconds("import torch", repeats=2)  # warm the file cache first
    torch_s = import_seconds("import torch")
    # what genlab adds on top of torch, timed in the same interpreter (robust to the
    # run-to-run noise of torch's own import, which is larger than genlab's share)
    genlab_s = torch_s + import_seconds("import genlab", after="import torch")
    grading = autograde_seconds()
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "chapters": rows,
        "source": "make test (2 workers)" if from_tests else "serial runs",
        "import_torch_s": round(torch_s, 3),
        "import_torch_and_genlab_s": round(genlab_s, 3),
        "autograde_s": grading,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "chapters.json").write_text(json.dumps(result, indent=1) + "\n")
    m = result["machine"]
    lines = [
        f"Measured {result['date']} on {m['cpu_count']} CPU(s) ({m['cpu']}), {m['platform']}, "
        f"Python {m['python']}, torch {m['torch']}, GPU: {m['cuda'] or 'none'}. "
        f"Full runs: {result['source']}.",
        "",
        "| chapter | full run (s) | kernel peak memory (MB) | autograde blank / solutions (s) |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        g = grading.get(row["chapter"], {})
        ag = f"{g.get('blank', '-')} / {g.get('solution', '-')}"
        lines.append(f"| {row['chapter']} | {row['seconds']} | {row['peak_mb']} | {ag} |")
    lines += ["", f"`import torch`: {torch_s:.2f} s; `import torch, genlab`: {genlab_s:.2f} s "
              f"(genlab adds {genlab_s - torch_s:+.3f} s, timed after torch in the same interpreter; medians of 7 fresh interpreters)."]
    (RESULTS / "chapters.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--from-tests"]
    main(args or notebooks.chapter_ids(), from_tests="--from-tests" in sys.argv)
