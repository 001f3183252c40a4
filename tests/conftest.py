"""Shared test set-up: offline, headless, tools on PATH, GPU tests skipped without CUDA."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
sys.path.insert(0, str(TOOLS))

# Kernels started by nbclient/nbgrader inherit this environment: the network blocker
# (tools/netblock/sitecustomize.py) comes first on their path, plots go to Agg.
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(TOOLS / "netblock"), os.environ.get("PYTHONPATH")])
)
os.environ.setdefault("MPLBACKEND", "Agg")
# Two test workers share two cores; one math thread per process avoids oversubscription,
# which slows the course's tiny models by an order of magnitude. GENLAB_TEST_THREADS=N runs
# the suite (and the kernels it starts) with N threads instead: results must not depend on it.
if os.environ.get("GENLAB_TEST_THREADS"):
    os.environ["OMP_NUM_THREADS"] = os.environ["GENLAB_TEST_THREADS"]
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
# The test process itself is offline as well.
import netblock_activate  # noqa: E402,F401  (tools/netblock_activate.py)


def pytest_report_header(config):
    import torch

    return (f"genlab: torch {torch.__version__}, {torch.get_num_threads()} math thread(s) "
            f"(OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}), "
            f"CPU capability {torch.backends.cpu.get_cpu_capability()}")


@pytest.fixture(autouse=True)
def _same_random_state_in_every_test():
    """Each test starts from the same global RNG state, whichever worker runs it and
    whatever ran before it there: a rerun sees the same numbers as the first run."""
    import random

    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium, shared by every browser test of this process (tests/browser and
    tests/site): the sync Playwright API allows one session per thread, and an xdist worker
    runs tests of both folders."""
    browser_tests = str(Path(__file__).resolve().parent / "browser")
    if browser_tests not in sys.path:
        sys.path.insert(0, browser_tests)
    import labdriver

    labdriver.require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(labdriver.CHROMIUM),
                                             headless=True, args=labdriver.CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
