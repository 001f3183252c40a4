"""Profile solutions notebooks per cell: CPU seconds of the kernel and share of the whole.

    python benchmarks/profile_chapters.py [--threads N] [--tag NAME] CHAPTER [CHAPTER ...]

Each notebook runs headless and offline (tools/nbrun.offline_env) with torch's math
threads at ``--threads`` (default 1: OMP/MKL and ``torch.set_num_threads``). An IPython
pre/post run-cell hook inside the kernel records ``time.process_time()`` (CPU seconds of
the kernel process, all its threads) and wall time around every cell. On a shared machine
wall time is inflated by contention while CPU seconds are not; with one thread the CPU
seconds of a cell estimate its wall time on a quiet machine.

Results merge into benchmarks/results/chapter_profile.json (key ``<chapter>`` or
``<chapter>@<tag>``) and the whole file is rendered to chapter_profile.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "tools"))

import nbrun  # noqa: E402

_HOOK_CELL = """\
import time as _pt, resource as _pr
_PROFILE, _T0 = [], None
def _pre(info=None):
    global _T0
    _T0 = (_pt.process_time(), _pt.perf_counter())
def _post(result=None):
    if _T0 is not None:  # not for this cell, which registers the hooks
        _PROFILE.append((_pt.process_time() - _T0[0], _pt.perf_counter() - _T0[1]))
get_ipython().events.register('pre_run_cell', _pre)
get_ipython().events.register('post_run_cell', _post)
"""
_DUMP_CELL = """\
import json as _pj
print('GENLAB_PROFILE=' + _pj.dumps({'cells': _PROFILE,
      'peak_kb': _pr.getrusage(_pr.RUSAGE_SELF).ru_maxrss}))
"""


def _label(cell: nbformat.NotebookNode) -> str:
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"[{grade_id}] {first[:60]}" if grade_id else first[:70]


def profile(chapter: str, threads: int, timeout: int = 1800) -> dict:
    """Run solutions/<chapter>/<chapter>.ipynb; per-cell CPU and wall seconds."""
    from nbclient import NotebookClient

    path = ROOT / "solutions" / chapter / f"{chapter}.ipynb"
    nb = nbformat.read(path, as_version=4)
    code_index = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    labels = [_label(nb.cells[i]) for i in code_index]
    nb.cells.insert(0, nbformat.v4.new_code_cell(_HOOK_CELL))
    nb.cells.append(nbformat.v4.new_code_cell(_DUMP_CELL))
    thread_env = {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                            "GENLAB_PROFILE_THREADS")}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    with nbrun.offline_environ(thread_env):
        start = time.perf_counter()
        client.execute()
        wall = time.perf_counter() - start
    dump = next(out["text"] for out in nb.cells[-1].outputs if "GENLAB_PROFILE=" in out.get("text", ""))
    found = json.loads(dump.split("GENLAB_PROFILE=")[1])
    errors = [f"{labels[k]}: {o.get('ename')}: {str(o.get('evalue'))[:200]}"
              for k, i in enumerate(code_index) for o in nb.cells[i + 1].get("outputs", [])
              if o.get("output_type") == "error"]
    total = sum(cpu for cpu, _ in found["cells"])
    cells = [{"cell": k, "label": label, "cpu_s": round(cpu, 2), "wall_s": round(w, 2),
              "share": round(cpu / total, 3) if total else 0.0}
             for k, (label, (cpu, w)) in enumerate(zip(labels, found["cells"]))]
    return {"chapter": chapter, "threads": threads, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average_start": os.getloadavg(), "cpu_s": round(total, 1),
            "wall_s": round(wall, 1), "peak_mb": round(found["peak_kb"] / 1024),
            "errors": errors, "cells": cells}


def render(results: dict) -> str:
    lines = [f"Per-cell CPU seconds of the kernel process (time.process_time), torch threads as "
             f"listed, on {os.cpu_count()} CPU(s) ({platform.machine()}). With 1 thread the CPU "
             "seconds estimate the wall time on a quiet machine; wall times here were measured "
             "on a shared, heavily loaded machine and are inflated.", ""]
    lines += ["| run | threads | CPU (s) | wall, loaded (s) | peak (MB) | errors |",
              "|---|---:|---:|---:|---:|---|"]
    for key, run in results.items():
        lines.append(f"| {key} | {run['threads']} | {run['cpu_s']} | {run['wall_s']} | "
                     f"{run['peak_mb']} | {len(run['errors'])} |")
    for key, run in results.items():
        lines += ["", f"## {key} ({run['date']}, CPU {run['cpu_s']} s)", "",
                  "| cell | CPU (s) | share | first line |", "|---:|---:|---:|---|"]
        for cell in sorted(run["cells"], key=lambda c: -c["cpu_s"])[:12]:
            label = cell["label"].replace("|", "\\|")
            lines.append(f"| {cell['cell']} | {cell['cpu_s']} | {cell['share']:.1%} | `{label}` |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("chapters", nargs="+")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for chapter in args.chapters:
        run = profile(chapter, args.threads)
        out = RESULTS / "chapter_profile.json"
        results = json.loads(out.read_text()) if out.exists() else {}  # re-read: runs go in parallel
        results[chapter + (f"@{args.tag}" if args.tag else "")] = run
        out.write_text(json.dumps(results, indent=1) + "\n")
        (RESULTS / "chapter_profile.md").write_text(render(results))
        print(f"{chapter}: {run['cpu_s']} CPU s, {run['wall_s']} s wall, {run['peak_mb']} MB, "
              f"errors {run['errors']}", flush=True)


if __name__ == "__main__":
    main()
