"""Execute a notebook headless with the network blocked; measure wall time and peak memory."""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NETBLOCK = ROOT / "tools" / "netblock"
_PEAK_CELL = (
    "import json as _j, resource as _r, sys as _s\n"
    "print('GENLAB_PEAK_KB=' + _j.dumps(_r.getrusage(_r.RUSAGE_SELF).ru_maxrss))"
)


def offline_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for kernels: the network blocker first on PYTHONPATH, offline hub flags."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NETBLOCK), env.get("PYTHONPATH")]))
    env.setdefault("MPLBACKEND", "Agg")
    env.update(extra or {})
    return env


@contextmanager
def offline_environ(extra: dict[str, str] | None = None):
    """Swap ``os.environ`` for :func:`offline_env` while kernels start (they inherit it),
    restoring it afterwards."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(offline_env(extra))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute(path: Path, timeout: int = 300, allow_errors: bool = False,
            env: dict[str, str] | None = None) -> tuple[nbformat.NotebookNode, float, float]:
    """Run every cell of the notebook at ``path`` in its folder.

    Returns ``(executed_notebook, seconds, peak_rss_mb_of_kernel)``. With
    ``allow_errors=False`` the first failing cell raises ``CellExecutionError``.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_PEAK_CELL))
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
        resources={"metadata": {"path": str(Path(path).parent)}},
    )
    with offline_environ(env):
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    peak_kb = 0.0
    for out in nb.cells[-1].get("outputs", []):
        text = out.get("text", "")
        if "GENLAB_PEAK_KB=" in text:
            peak_kb = float(json.loads(text.split("GENLAB_PEAK_KB=")[1].strip()))
    nb.cells.pop()
    return nb, seconds, peak_kb / 1024


def error_cells(nb: nbformat.NotebookNode) -> list[tuple[int, dict, str]]:
    """``(index, nbgrader metadata, error name)`` of every cell that raised."""
    found = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                found.append((index, dict(cell.metadata.get("nbgrader", {})), out.get("ename", "")))
    return found
