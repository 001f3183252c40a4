"""Time the course website's build: clean (every chapter executed) and cached (nothing changed).

    python benchmarks/site_build.py

Moves the build cache (.cache/site) aside for the clean build and puts it back afterwards,
builds into a temporary folder twice, and writes benchmarks/results/site_build.{json,md}
with the machine, its load average, both wall times, each job's time and the site's size.
Budgets (issue 26): clean <= 5 minutes on a 2-core CPU, cached <= 30 s, site <= 50 MB.
Run it alone: the build executes two notebooks at a time on the two cores.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "docs" / "site"))

import build  # noqa: E402  (docs/site/build.py)


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    saved = None
    if build.CACHE.exists():
        saved = Path(tempfile.mkdtemp(prefix="site-cache-")) / "site"
        shutil.move(str(build.CACHE), saved)
    try:
        with tempfile.TemporaryDirectory(prefix="site-bench-") as tmp:
            out = Path(tmp) / "site"
            load_before = os.getloadavg()
            start = time.perf_counter()
            clean = build.build(out, jobs=2)
            clean_s = time.perf_counter() - start
            start = time.perf_counter()
            cached = build.build(out, jobs=2)
            cached_s = time.perf_counter() - start
            size = _size_mb(out)
    finally:
        if saved is not None:
            shutil.rmtree(build.CACHE, ignore_errors=True)
            shutil.move(str(saved), build.CACHE)
    data = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_1_5_15_min_before": [round(x, 2) for x in load_before],
                    "load_average_1_5_15_min_after": [round(x, 2) for x in os.getloadavg()]},
        "clean_build_s": round(clean_s, 1), "cached_build_s": round(cached_s, 1),
        "cached_build_jobs_run": len(cached["ran"]), "site_mb": round(size, 1),
        "jobs_s": {what: round(seconds, 1) for what, seconds in clean["ran"]},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "site_build.json").write_text(json.dumps(data, indent=2) + "\n")
    rows = "\n".join(f"| {what} | {seconds} |" for what, seconds in data["jobs_s"].items())
    (RESULTS / "site_build.md").write_text(
        "# Course website build (`make site`)\n\n"
        f"Machine: {data['machine']['platform']}, {data['machine']['cpu_count']} CPUs, load "
        f"average {data['machine']['load_average_1_5_15_min_before']} before and "
        f"{data['machine']['load_average_1_5_15_min_after']} after (1/5/15 min).\n\n"
        f"- clean build (every chapter executed, two at a time, and the widget previews): "
        f"**{data['clean_build_s']} s** (budget 300 s)\n"
        f"- second build, nothing changed: **{data['cached_build_s']} s**, "
        f"{data['cached_build_jobs_run']} jobs executed (budget 30 s)\n"
        f"- site size: **{data['site_mb']} MB** (budget 50 MB)\n\n"
        "| job of the clean build | seconds |\n|---|---:|\n" + rows + "\n")
    print(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
