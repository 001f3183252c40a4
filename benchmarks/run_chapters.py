"""Run every solutions notebook as a learner would; record wall time and peak memory.

    python benchmarks/run_chapters.py [--from-tests] [CHAPTER ...]

Writes benchmarks/results/chapters.json and chapters.md (with the machine it ran on, its
load average, and a speed probe: a fixed piece of training, so that tables taken on
different machines can be compared), rewrites the run-time column of the README's chapter
table (between its ``chapter-table`` markers) when every chapter was run, and measures
``import genlab`` against ``import torch`` in fresh interpreters. Autograde
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


README = ROOT / "README.md"
# The speed probe: 40 steps of chapter 03's U-Net training on one thread, CPU seconds
# (median of 3 fresh interpreters). 1.8 s on the machine of the 2026-12-02 table.
PROBE = ("import time, torch; torch.set_num_threads(1); "
         "from genlab.train.diffusion import train_digits_diffusion as t; "
         "t('epsilon', steps=5, device='cpu', progress=False); c = time.process_time(); "
         "t('epsilon', steps=40, device='cpu', progress=False); print(time.process_time() - c)")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def speed_probe(repeats: int = 3) -> float:
    """Median CPU seconds of :data:`PROBE` in fresh interpreters."""
    runs = [float(subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                                 check=True, env=nbrun.offline_env()).stdout.split()[-1])
            for _ in range(repeats)]
    return round(statistics.median(runs), 2)


def update_readme(rows: list[dict], path: Path = README) -> None:
    """Write each row's seconds into the run-time column of the README's chapter table."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index("<!-- chapter-table -->"), text.index("<!-- /chapter-table -->")
    lines = text[start:end].split("\n")
    for row in rows:
        prefix = f"| [{row['chapter']}]("
        for i, line in enumerate(lines):
            if line.startswith(prefix):
                cells = line.split(" | ")
                cells[2] = f"{round(row['seconds'])} s"  # chapter | covers | run time | widget
                lines[i] = " | ".join(cells)
    path.write_text(text[:start] + "\n".join(lines) + text[end:], encoding="utf-8")


def machine() -> dict:
    import torch

    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
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
    load_at_start = [round(x, 2) for x in os.getloadavg()]
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
    autograde_source = "the last test run (.cache/grading_runs)"
    if not grading and (RESULTS / "chapters.json").is_file():
        # no test run here yet: keep the previous table's autograde times, saying so
        previous = json.loads((RESULTS / "chapters.json").read_text())
        grading = previous.get("autograde_s", {})
        autograde_source = previous.get("autograde_source", f"the table of {previous['date']}")
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "load_average_at_start": load_at_start,
        "speed_probe_cpu_s": speed_probe(),
        "chapters": rows,
        "source": "make test (2 workers)" if from_tests else "serial runs",
        "import_torch_s": round(torch_s, 3),
        "import_torch_and_genlab_s": round(genlab_s, 3),
        "autograde_s": grading,
        "autograde_source": autograde_source,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "chapters.json").write_text(json.dumps(result, indent=1) + "\n")
    m = result["machine"]
    lines = [
        f"Measured {result['date']} on {m['cpu_count']} CPU(s) ({m['cpu']}), {m['platform']}, "
        f"Python {m['python']}, torch {m['torch']}, GPU: {m['cuda'] or 'none'}. "
        f"Full runs: {result['source']}; load average at the start "
        f"{result['load_average_at_start'][0]}. Speed probe (40 U-Net training steps on one "
        f"thread): {result['speed_probe_cpu_s']} CPU s; a machine twice as slow takes twice "
        "as long for every chapter.",
        "",
        "| chapter | full run (s) | kernel peak memory (MB) | autograde blank / solutions (s) |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        g = grading.get(row["chapter"], {})
        ag = f"{g.get('blank', '-')} / {g.get('solution', '-')}"
        lines.append(f"| {row['chapter']} | {row['seconds']} | {row['peak_mb']} | {ag} |")
    lines += ["", f"`import torch`: {torch_s:.2f} s; `import torch, genlab`: {genlab_s:.2f} s "
              f"(genlab adds {genlab_s - torch_s:+.3f} s, timed after torch in the same interpreter; medians of 7 fresh interpreters).",
              f"Autograde times: {autograde_source}."]
    (RESULTS / "chapters.md").write_text("\n".join(lines) + "\n")
    if {row["chapter"] for row in rows} == set(notebooks.chapter_ids()):
        update_readme(rows)
    print("\n".join(lines))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--from-tests"]
    main(args or notebooks.chapter_ids(), from_tests="--from-tests" in sys.argv)
