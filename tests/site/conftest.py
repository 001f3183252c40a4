"""Fixtures for the course-website tests: the site is built once per session.

The build (docs/site/build.py, what `make site` runs) reuses the executed chapters cached in
.cache/site, so after `make site` it only renders; from a fresh clone it executes every
chapter once (two at a time). It runs inside the test process's network blocker
(tests/conftest.py): the build is offline. All site tests share one xdist group, so one
worker builds it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE_SOURCES = ROOT / "docs" / "site"
for folder in (SITE_SOURCES, Path(__file__).parent, ROOT / "tests" / "browser"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


@pytest.fixture(scope="session")
def site_build(tmp_path_factory):
    """``(folder, report)``: the site built into a temporary folder, and the build's
    report (``ran``: the jobs it executed)."""
    pytest.importorskip("myst_nb", reason="the 'site' extra is not installed (pip install -e '.[site]')")
    import build

    out = tmp_path_factory.mktemp("site")
    report = build.build(out, jobs=2, log=print)
    return out, report


@pytest.fixture(scope="session")
def site(site_build) -> Path:
    return site_build[0]
