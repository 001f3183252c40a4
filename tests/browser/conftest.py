"""Fixtures for the browser tests: one JupyterLab server and one Chromium per session.

Where Chromium (Debian's package, /usr/bin/chromium) or Playwright is missing the tests skip
and say why; under CI (``CI`` set) they fail instead, because CI must prove the course works in
a browser. ``GENLAB_UPDATE_SCREENSHOTS=1`` writes the widget pictures to docs/img/ (otherwise
they go to a temporary folder); ``GENLAB_RECORD_BROWSER_TIMES=1`` writes the timings of the
run to benchmarks/results/browser.{json,md}.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import pytest

# The helpers module sits next to this file; make it importable under any import mode.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
import labdriver  # noqa: E402

UPDATE = labdriver.UPDATE_SCREENSHOTS
RECORD = os.environ.get("GENLAB_RECORD_BROWSER_TIMES", "") not in {"", "0"}
DOCS_IMG = labdriver.ROOT / "docs" / "img"
RESULTS = labdriver.ROOT / "benchmarks" / "results"

_timings: dict[str, float] = {}
_phases: dict[tuple[str, str], float] = {}
_session_start = [0.0]
_last_end = [0.0]


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory) -> Path:
    """The server's root folder: a temporary folder, never the repository."""
    return tmp_path_factory.mktemp("lab-root")


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory, lab_root):
    labdriver.require_browser()
    server = labdriver.LabServer(root_dir=lab_root, home=tmp_path_factory.mktemp("lab-home"))
    try:
        yield server.start()
    finally:
        leftover = server.stop()
    assert not leftover, f"processes of the JupyterLab server outlived it: {leftover}"


# `chromium` (one Playwright session per test process) is in tests/conftest.py.


@pytest.fixture
def page(chromium, lab_server, request):
    """A fresh browser tab (1280x900, scale 1); its console errors are printed on failure."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900},
                                   device_scale_factor=1)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    console: list[str] = []
    tab.on("console", lambda m: console.append(f"{m.type}: {m.text}")
           if m.type in {"error", "warning"} else None)
    try:
        yield tab
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print("browser console:\n" + "\n".join(console[-30:]))
            print("server log tail:\n" + lab_server.log_tail(3000))
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    """docs/img/ with GENLAB_UPDATE_SCREENSHOTS=1, else a temporary folder."""
    return DOCS_IMG if UPDATE else tmp_path_factory.mktemp("screenshots")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_runtest_logreport(report):
    if "tests/browser/" in report.nodeid.replace(os.sep, "/"):
        if not _session_start[0]:
            _session_start[0] = time.monotonic() - report.duration
        _phases[(report.nodeid, report.when)] = report.duration  # once, even under xdist
        _timings[report.nodeid] = sum(seconds for (nodeid, _), seconds in _phases.items()
                                      if nodeid == report.nodeid)
        _last_end[0] = time.monotonic()


def pytest_terminal_summary(terminalreporter):
    if not _timings:
        return
    wall = _last_end[0] - _session_start[0]
    terminalreporter.write_line(
        f"browser tests: {len(_timings)} tests, {sum(_timings.values()):.1f} s in tests "
        f"(setup, call and teardown), {wall:.1f} s wall")
    if RECORD:
        _record(wall)


def _record(wall: float) -> None:
    import playwright
    import jupyterlab

    machine = {
        "platform": platform.platform(), "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "jupyterlab": jupyterlab.__version__,
        "playwright": getattr(playwright, "__version__", "?"),
        "chromium": str(labdriver.CHROMIUM),
        "load_average_1_5_15_min_at_end": [round(x, 1) for x in os.getloadavg()],
        "note": "shared CPU: other jobs ran at the same time; times vary by tens of percent",
    }
    data = {"machine": machine, "wall_seconds": round(wall, 1),
            "tests": {k: round(v, 1) for k, v in sorted(_timings.items())}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "browser.json").write_text(json.dumps(data, indent=2) + "\n")
    rows = "\n".join(f"| `{k.split('::', 1)[1]}` | {v:.1f} |" for k, v in data["tests"].items())
    (RESULTS / "browser.md").write_text(
        "# Browser tests (JupyterLab + headless Chromium)\n\n"
        f"Machine: {machine['platform']}, {machine['cpu_count']} CPUs (shared; load average "
        f"{machine['load_average_1_5_15_min_at_end']} over 1/5/15 min at the end), "
        f"Python {machine['python']}, JupyterLab {machine['jupyterlab']}, "
        f"Debian Chromium via Playwright.\n\n"
        "| test | seconds (setup + call + teardown) |\n|---|---|\n" + rows +
        f"\n\nWhole browser run: **{wall:.1f} s** wall (one server and one browser for the "
        "session; the first test pays for their start).\n")
