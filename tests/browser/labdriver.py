"""Drive the course as a learner meets it: JupyterLab in headless Chromium.

Three parts, each usable alone:

* :class:`LabServer` starts ``jupyter lab`` from the environment running the tests on a free
  loopback port with a random token, in a throwaway root folder and throwaway Jupyter
  config/settings/workspace folders (so nothing is written into the repository or the user's
  home), and stops it together with its kernels.
* :func:`prepare_chapter` copies a chapter notebook into that root, keeping the cells its
  widgets need (see its docstring for what is dropped and why).
* Page helpers (:func:`open_notebook`, :func:`run_all`, :func:`widget_outputs`,
  :func:`change_a_control`, :func:`save_widget_png`) work on a Playwright ``Page``.

JupyterLab is started with ``expose_app_in_browser`` so the page helpers can read the kernel
status and cell outputs from ``window.jupyterapp``; the widgets themselves are driven with the
mouse and keyboard, as a learner would.
"""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("GENLAB_CHROMIUM", "/usr/bin/chromium"))
# Chromium in a container: no sandbox (root), no GPU, and no background calls to hosts that
# cannot be reached (they slow start-up and spam the log).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-default-apps",
]
WIDGET_MODULE = "genlab.widgets"
# GENLAB_UPDATE_SCREENSHOTS=1: a run that makes the README pictures (and records timings).
UPDATE_SCREENSHOTS = os.environ.get("GENLAB_UPDATE_SCREENSHOTS", "") not in {"", "0"}
# Plugins whose presence proves that a learner sees widgets and an instructor nbgrader.
WIDGETS_LABEXTENSION = "@jupyter-widgets/jupyterlab-manager"
NBGRADER_LABEXTENSION = "@jupyter/nbgrader"


def ci_requires_browser() -> bool:
    """True under CI (``CI`` set to anything but empty/0/false): browser tests must run."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def missing_requirements() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return (f"Chromium not found at {CHROMIUM} "
                "(install Debian's package: apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright)"
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return "JupyterLab is not installed in this environment (install the 'course' extra)"
    return None


def require_browser() -> None:
    """Skip the calling test (with the reason) where the browser stack is missing; fail under CI."""
    import pytest

    reason = missing_requirements()
    if reason is None:
        return
    if ci_requires_browser():
        pytest.fail(f"browser tests are required under CI, but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


# --------------------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jupyter_command(*args: str) -> list[str]:
    """``jupyter ARGS`` of the environment that runs the tests (the project's .venv)."""
    script = Path(sys.executable).with_name("jupyter")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "jupyter", *args]


def lab_command() -> list[str]:
    return jupyter_command("lab")


def hermetic_env(home: Path) -> dict[str, str]:
    """Environment for the server and its kernels: private Jupyter folders under ``home``.

    The project's own extensions (installed in the environment's prefix) stay visible; the
    user's personal settings, workspaces and kernels do not, so this is a *fresh* JupyterLab.
    ``MPLBACKEND`` and ``NBGRADER_EXECUTION`` are removed: figures render inline and demos run
    at full size, exactly as a learner sees them. ``OMP_NUM_THREADS`` defaults to 1 (below).
    """
    env = dict(os.environ)
    for name in ("MPLBACKEND", "NBGRADER_EXECUTION", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
        env.pop(name, None)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        IPYTHONDIR=str(home / "ipython"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PYTHONUNBUFFERED="1",
    )
    # The widgets train tiny models: extra threads only add overhead, and on a shared or
    # oversubscribed CI runner two spinning OpenMP threads made them ten times slower here.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def write_lab_settings(home: Path) -> None:
    """Quiet, screenshot-friendly JupyterLab: no news toast, every cell attached to the page."""
    labconfig = home / "config" / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    settings = home / "settings" / "@jupyterlab"
    user_settings = {
        "apputils-extension/notification": {
            "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
        # Windowing would detach off-screen cells; the helpers look at every output.
        "notebook-extension/tracker": {"windowingMode": "none"},
    }
    for name, values in user_settings.items():
        path = settings / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


class PortTaken(RuntimeError):
    """Another process took the port between choosing it and the server binding it."""


@dataclass
class LabServer:
    """A JupyterLab server for one test session. Use :meth:`start` and :meth:`stop`."""

    root_dir: Path
    home: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab", workspace: str | None = None) -> str:
        """URL of a notebook (``path`` relative to the root) in a fresh, named workspace."""
        if workspace:
            return (f"{self.base_url}/lab/workspaces/{workspace}/tree/{path}"
                    f"?reset&token={self.token}")
        return f"{self.base_url}/{path}?token={self.token}"

    def command(self) -> list[str]:
        cmd = lab_command() + [
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if os.geteuid() == 0:
            cmd.append("--allow-root")  # containers and CI often run as root
        return cmd

    def env(self) -> dict[str, str]:
        return hermetic_env(self.home)

    def start(self, timeout: float = 90.0, attempts: int = 3) -> LabServer:
        """Start the server and wait until it answers; a port taken meanwhile gets a new one."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout)
            except PortTaken:
                if attempt == attempts:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> LabServer:
        write_lab_settings(self.home)
        self.log_path = self.home / "jupyterlab.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 (closed by the child's exit)
        # Own process group, so stop() can end the server and whatever it spawned.
        self.process = subprocess.Popen(
            self.command(), cwd=self.root_dir, env=self.env(), stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_text = self.log_tail()
                self.process = None
                error = PortTaken if "already in use" in log_text else RuntimeError
                raise error(f"jupyter lab exited during start-up:\n{log_text}")
            try:
                with urllib.request.urlopen(
                        f"{self.base_url}/api/status?token={self.token}", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n"
                           + self.log_tail())

    def log_tail(self, chars: int = 4000) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-chars:]
        return "(no log)"

    def stop(self, grace: float = 10.0) -> list[int]:
        """Stop the server, then any kernel or child left over. Safe to call twice.

        Returns the ids of processes that were still alive afterwards (should be none).
        """
        if self.process is None:
            return []
        import psutil

        try:
            family = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            family = []
        if self.process.poll() is None:
            # SIGTERM lets the server shut its kernels down cleanly (they run in their own
            # process groups, so killing the server's group alone would orphan them).
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(5)
        _, alive = psutil.wait_procs(family, timeout=3)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(alive, timeout=3)
        self.process = None
        return [proc.pid for proc in alive]


# --------------------------------------------------------------------------- notebooks

@dataclass
class ChapterNotebook:
    """A chapter notebook whose source uses genlab's widgets."""

    chapter: str
    path: Path

    def __str__(self) -> str:
        return self.chapter


def discover_widget_chapters(root: Path = ROOT) -> list[ChapterNotebook]:
    """Chapters whose notebook mentions ``genlab.widgets``, one entry per chapter.

    The source ``solutions/<id>/<id>.ipynb`` is preferred: it is never older than the
    learner's copy in ``chapters/`` (released from it; tests/grading checks they agree), and
    once the exercise cells are dropped (:func:`prepare_chapter`) both run the same cells. A
    chapter found only in ``chapters/`` is taken from there.
    """
    found: dict[str, ChapterNotebook] = {}
    for folder in ("solutions", "chapters"):
        for path in sorted((root / folder).glob("*/*.ipynb")):
            chapter = path.parent.name
            if path.stem != chapter or chapter in found or ".ipynb_checkpoints" in path.parts:
                continue
            if WIDGET_MODULE in path.read_text(encoding="utf-8", errors="replace"):
                found[chapter] = ChapterNotebook(chapter, path)
    return [found[name] for name in sorted(found)]


def widget_names(cells: list) -> set[str]:
    """Names a notebook binds to genlab's widget modules or functions."""
    names: set[str] = set()
    for cell in cells:
        try:
            tree = ast.parse(_strip_magics(cell.source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(WIDGET_MODULE):
                names.update(alias.asname or alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module == "genlab":
                names.update(alias.asname or alias.name for alias in node.names
                             if alias.name == "widgets")
            elif isinstance(node, ast.Import):
                names.update(alias.asname for alias in node.names
                             if alias.asname and alias.name.startswith(WIDGET_MODULE))
    return names


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def uses_widgets(source: str, names: set[str]) -> bool:
    if WIDGET_MODULE in source:
        return True
    return any(re.search(rf"\b{re.escape(name)}\b", source) for name in names)


def is_graded_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade"))


def prepare_chapter(source: Path, dest_dir: Path, mode: str = "slice") -> tuple[Path, int]:
    """Copy a chapter for the browser; return ``(notebook path, number of widget cells)``.

    Always dropped: nbgrader answer and test cells (in the learner's copy an answer cell
    raises ``NotImplementedError`` and JupyterLab's Run All stops at the first error; the
    chapters are written so that nothing else depends on an exercise) and every cell after
    the last one that uses ``genlab.widgets``. Outputs are cleared, so whatever the test sees
    was produced in the browser. Files next to the notebook (assets) are copied.

    ``mode="full"`` keeps every other cell: the chapter as a learner runs it, up to the
    widgets. ``mode="slice"`` keeps only the code cells the widget cells need: the cells that
    define a name they (or the kept cells) read, found by reading the code (:func:`slice_cells`),
    plus cells with magics or ``seed_everything``. That skips the chapter's heavy demos, which
    tests/notebooks already runs; a slice that misses a definition fails with a NameError,
    and the test then retries with ``mode="full"``.
    """
    if mode not in {"slice", "full"}:
        raise ValueError(f"mode must be 'slice' or 'full', got {mode!r}")
    nb = nbformat.read(source, as_version=4)
    names = widget_names(nb.cells)
    kept = [cell for cell in nb.cells if not (cell.cell_type == "code" and is_graded_cell(cell))]
    widget_positions = [i for i, cell in enumerate(kept)
                        if cell.cell_type == "code" and uses_widgets(cell.source, names)]
    if widget_positions:
        kept = kept[: widget_positions[-1] + 1]
        if mode == "slice":
            keep = slice_cells([c.source if c.cell_type == "code" else None for c in kept],
                               set(widget_positions))
            kept = [cell for i, cell in enumerate(kept) if i in keep]
    for cell in kept:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.cells = kept
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    shutil.copytree(source.parent, dest_dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.ipynb", "*.py", ".ipynb_checkpoints",
                                                  "__pycache__"))
    target = dest_dir / f"{source.stem}.{mode}.ipynb"
    nbformat.write(nb, target)
    return target, len(widget_positions)


def slice_cells(sources: list[str | None], targets: set[int]) -> set[int]:
    """Indices of the code cells needed to run the ``targets`` cells (``None``: not code).

    Walks backwards from the last target: a cell is kept when it is a target, defines a name
    a kept later cell reads first, or must run for its side effects on the whole notebook
    (IPython magics, ``seed_everything``). A cell that cannot be parsed is kept.
    """
    import builtins

    known = set(dir(builtins))
    needed: set[str] = set()
    keep: set[int] = set()
    for index in range(max(targets), -1, -1):
        source = sources[index]
        if source is None:
            continue
        try:
            reads, writes = _reads_and_writes(ast.parse(_strip_magics(source)))
        except SyntaxError:
            keep.add(index)
            continue
        always = ("seed_everything" in source
                  or any(line.lstrip().startswith("%") for line in source.splitlines()))
        if index in targets or always or writes & needed:
            keep.add(index)
            needed = (needed - writes) | (reads - known)
    return keep


def _names(node, ctx) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


def _local(stmt) -> set[str]:
    """Names local to a lambda, function or comprehension inside ``stmt`` (not cell-level)."""
    local = {n.arg for n in ast.walk(stmt) if isinstance(n, ast.arg)}
    for node in ast.walk(stmt):
        if isinstance(node, ast.comprehension):
            local |= _names(node.target, ast.Store)
    return local


def _bound(stmt) -> set[str]:
    """Names a top-level statement binds (assignments, imports, def/class, loop targets)."""
    bound = _names(stmt, ast.Store)
    for node in ast.walk(stmt):
        if isinstance(node, ast.comprehension):
            bound -= _names(node.target, ast.Store)
    for node in ast.walk(stmt):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return bound


def _reads_and_writes(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names read before the cell binds them, names the cell binds), statement by statement."""
    reads: set[str] = set()
    writes: set[str] = set()
    for stmt in tree.body:
        loads = _names(stmt, ast.Load) - _local(stmt)
        if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)):
            # The right-hand side runs before the names are bound: ``x = x + 1`` reads x.
            fresh = loads
            if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
                fresh = loads | {stmt.target.id}
        else:
            fresh = loads - _bound(stmt)  # loops, with, def: names bound inside are local
        reads |= fresh - writes
        writes |= _bound(stmt)
    return reads, writes


# --------------------------------------------------------------------------- the page

class Stopwatch:
    """Seconds per phase of a test, printed in its output (``open 9.1, run all 31.0``)."""

    def __init__(self) -> None:
        self.start = self.last = time.monotonic()
        self.laps: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps.append((name, now - self.last))
        self.last = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.1f}" for name, seconds in self.laps)


_NOTEBOOK_STATE_JS = """
() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.content) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    const outputs = cell.model.outputs.toJSON();
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    cells.push({
      index,
      count: cell.model.executionCount,
      running: !!(prompt && prompt.textContent.includes('*')),
      errors: outputs.filter(o => o.output_type === 'error')
                     .map(o => o.ename + ': ' + o.evalue),
      head: cell.model.sharedModel.getSource().split('\\n')[0].slice(0, 80),
    });
  });
  return {kernel: kernel ? kernel.status : null, ready: panel.sessionContext.isReady, cells};
}
"""


def notebook_state(page) -> dict | None:
    return page.evaluate(_NOTEBOOK_STATE_JS)


def open_notebook(page, server: LabServer, relpath: str, workspace: str,
                  timeout: float = 90.0) -> None:
    """Open ``relpath`` in a fresh workspace and wait until its kernel is idle."""
    page.goto(server.url(relpath, workspace), wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook", timeout=timeout * 1000)
    _wait(page, lambda s: s and s["ready"] and s["kernel"] == "idle", timeout,
          "the notebook's kernel did not become idle")


def _wait(page, predicate, timeout: float, what: str, interval: float = 0.25) -> dict:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = notebook_state(page)
        if predicate(state):
            return state
        page.wait_for_timeout(interval * 1000)
    raise AssertionError(f"{what} within {timeout:.0f} s; last state: {state}")


class CellError(AssertionError):
    """A cell raised while JupyterLab ran the notebook."""


def run_all(page, timeout: float = 300.0) -> dict:
    """Run All Cells, as from the Run menu, and wait until the kernel has finished.

    Returns the final notebook state; raises :class:`CellError` naming the cells that
    raised, AssertionError when cells were left unexecuted or the run timed out.
    """
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    def finished(state):
        if not state or state["kernel"] != "idle":
            return False
        if any(cell["running"] for cell in state["cells"]):
            return False
        return (all(cell["count"] is not None for cell in state["cells"])
                or any(cell["errors"] for cell in state["cells"]))

    # The kernel reports idle between cells: require the finished state twice in a row.
    deadline = time.monotonic() + timeout
    while True:
        state = _wait(page, finished, max(1.0, deadline - time.monotonic()),
                      "Run All did not finish")
        page.wait_for_timeout(500)
        if finished(notebook_state(page)) and kernel_round_trip(
                page, max(1.0, deadline - time.monotonic())):
            state = notebook_state(page)
            if finished(state):
                break
    failed = [cell for cell in state["cells"] if cell["errors"]]
    if failed:
        raise CellError("cells raised in JupyterLab: " + "; ".join(
            f"cell {c['index']} ({c['head']!r}): {c['errors']}" for c in failed))
    missing = [c for c in state["cells"] if c["count"] is None]
    assert not missing, f"cells not executed: {missing}"
    return state


def shutdown_kernel(page) -> None:
    """Shut the open notebook's kernel down (frees its memory for the next chapter)."""
    page.evaluate("""async () => {
      const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
      if (panel && panel.sessionContext) { await panel.sessionContext.shutdown(); }
    }""")


WIDGET_SELECTOR = ".jupyter-widgets"
# One output of a cell that rendered at least one widget view.
WIDGET_OUTPUT_SELECTOR = (".jp-Cell-outputArea > .jp-OutputArea-child > "
                          f".jp-OutputArea-output:has({WIDGET_SELECTOR})")
CONTROL_SELECTORS = {
    # Order = order tried: cheap, reversible controls first, buttons (may start work) last.
    "dropdown": ".widget-dropdown select",
    "slider": ".widget-slider .noUi-handle",
    "toggle": ".widget-toggle-buttons button:not(.mod-active)",
    "radio": ".widget-radio-box input[type=radio]:not(:checked)",
    "checkbox": ".widget-checkbox input[type=checkbox]",
    "button": "button.widget-button, .widget-button button",
}


def widget_outputs(page, timeout: float = 60.0):
    """Locator of every cell output holding a rendered widget, once rendering has settled.

    Fails if a widget output only shows its text fallback (``VBox(children=...)``), which is
    what a learner sees when the widgets extension is missing.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(WIDGET_OUTPUT_SELECTOR, timeout=timeout * 1000)
    except PlaywrightTimeout:
        shown = page.locator(".jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output")
        texts = [text.strip()[:200] for text in shown.all_inner_texts() if text.strip()]
        raise AssertionError(f"no widget rendered within {timeout:.0f} s (is the "
                             f"{WIDGETS_LABEXTENSION} extension enabled?); the outputs show: "
                             f"{texts[-5:]}") from None
    page.wait_for_function(
        """() => !Array.from(document.querySelectorAll('.jp-OutputArea-output'))
                 .some(o => /Loading widget|Error displaying widget/.test(o.textContent))""",
        timeout=timeout * 1000)
    return page.locator(WIDGET_OUTPUT_SELECTOR)


_FINGERPRINT_JS = """
(el) => {
  // What the widget shows, minus the controls' own value read-outs: images (figures drawn by
  // matplotlib arrive as data URLs), canvases, and the visible text of labels and outputs.
  const images = Array.from(el.querySelectorAll('img')).map(i => i.src);
  const canvases = Array.from(el.querySelectorAll('canvas')).map(c => {
    try { return c.toDataURL(); } catch (e) { return ''; } });
  const clone = el.cloneNode(true);
  clone.querySelectorAll('.widget-readout, select, input, textarea').forEach(n => n.remove());
  return JSON.stringify({images, canvases, text: clone.innerText});
}
"""


def fingerprint(output) -> str:
    return output.evaluate(_FINGERPRINT_JS)


_KERNEL_ROUND_TRIP_JS = """
async (seconds) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session.kernel;
  const timeout = new Promise(resolve => setTimeout(() => resolve(false), seconds * 1000));
  return await Promise.race([kernel.requestKernelInfo().then(() => true), timeout]);
}
"""


def kernel_round_trip(page, timeout: float) -> bool:
    """True once the kernel answers a request sent now, i.e. has finished its earlier work.

    The status bar is not enough: while a widget callback runs, JupyterLab shows the kernel
    idle as soon as the callback first draws into an ``Output`` (seen with ipywidgets 8.1 and
    ipykernel 7); the kernel handles requests in order, so its answer comes after the callback.
    """
    return page.evaluate(_KERNEL_ROUND_TRIP_JS, timeout)


def settle(page, output, timeout: float = 60.0, quiet: float = 0.8) -> str:
    """Wait until the kernel has finished and the output has not changed for ``quiet`` s."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        state = notebook_state(page)
        current = fingerprint(output)
        if current != last:
            last, since = current, time.monotonic()
        elif state and state["kernel"] == "idle" and time.monotonic() - since >= quiet:
            answered = kernel_round_trip(page, max(1.0, deadline - time.monotonic()))
            page.wait_for_timeout(300)  # messages sent just before the answer get drawn
            if answered and fingerprint(output) == current:
                return current
            continue
        page.wait_for_timeout(200)
    raise AssertionError(f"the widget output kept changing or the kernel stayed busy "
                         f"for {timeout:.0f} s")


@dataclass
class Change:
    """What :func:`change_a_control` did and whether the shown output changed."""

    control: str
    description: str
    changed: bool
    tried: list[str]


def _operate(page, kind: str, control) -> str:
    """Change one control as a learner would; return a short description of what was done."""
    if kind == "dropdown":
        options = control.evaluate("s => Array.from(s.options).map(o => o.value)")
        current = control.evaluate("s => s.value")
        other = next(v for v in options if v != current)
        control.select_option(other)
        return f"dropdown {current!r} -> {other!r}"
    if kind == "slider":
        slider = control.locator("xpath=ancestor::*[contains(@class,'widget-slider')][1]")
        readout = slider.locator(".widget-readout")
        before = readout.inner_text() if readout.count() else ""
        control.focus()
        for key in ("ArrowRight", "ArrowLeft"):  # a slider at its maximum moves left
            control.press(key)
            page.wait_for_timeout(150)
            after = readout.inner_text() if readout.count() else ""
            if after != before:
                return f"slider {before} -> {after}"
        return f"slider stuck at {before}"
    text = (control.inner_text() or control.get_attribute("title") or "").strip()
    control.click()
    return f"{kind} {text!r}"


def change_a_control(page, output, timeout: float = 120.0, recipe=None) -> Change:
    """Change the widget's controls until the shown output changes.

    ``recipe(page, output) -> str``, when given, is tried first (a chapter's own way to drive
    its widget, e.g. "steps to the minimum, then Train"); then every control in the order of
    ``CONTROL_SELECTORS``. Returns a :class:`Change`; ``changed`` is False when nothing that was
    tried changed what the widget shows (its figures and text, not the controls' read-outs).
    """
    baseline = settle(page, output, timeout)
    candidates = [("recipe", recipe)] if recipe else []
    for kind, selector in CONTROL_SELECTORS.items():
        candidates += [(kind, c) for c in output.locator(selector).all()
                       if c.is_visible() and c.is_enabled()]
    tried = []
    for kind, control in candidates:
        try:
            description = (control(page, output) if kind == "recipe"
                           else _operate(page, kind, control))
        except Exception as error:  # a control we cannot operate: try the next one
            tried.append(f"{kind}: {error.__class__.__name__}: {str(error)[:120]}")
            continue
        tried.append(description)
        after = settle(page, output, timeout)
        if after != baseline:
            return Change(kind, description, True, tried)
    return Change("", "", False, tried)


def slider_handle(output, description: str):
    """The handle of the slider labelled exactly ``description`` inside ``output``."""
    label = output.page.get_by_text(description, exact=True)
    return output.locator(".widget-slider", has=label).locator(".noUi-handle")


def button(output, text: str):
    """The button reading exactly ``text`` inside ``output``."""
    return output.get_by_role("button", name=text, exact=True)


def save_widget_png(output, path: Path, max_width: int = 820) -> Path:
    """Screenshot one widget output, shrink it to ``max_width`` and save a small palette PNG."""
    import io

    from PIL import Image

    output.scroll_into_view_if_needed()
    raw = output.screenshot(animations="disabled", caret="hide")
    image = _trim(Image.open(io.BytesIO(raw)).convert("RGB"))
    if image.width > max_width:
        image = image.resize((max_width, round(image.height * max_width / image.width)),
                             Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


def _trim(image, pad: int = 10):
    """Cut the empty margin (the colour of the top-left pixel) around the content."""
    from PIL import Image, ImageChops

    background = Image.new(image.mode, image.size, image.getpixel((0, 0)))
    box = ImageChops.difference(image, background).getbbox()
    if box is None:
        return image
    left, top, right, bottom = box
    return image.crop((max(0, left - pad), max(0, top - pad),
                       min(image.width, right + pad), min(image.height, bottom + pad)))
