"""Packaging stays consistent: conda lists what pip lists, URLs come from one place."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONDA_NAMES = {"torch": "pytorch", "matplotlib": "matplotlib-base"}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(requirements):
    return {re.split(r"[<>=!\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_environment_yml_lists_every_pyproject_dependency():
    project = _pyproject()["project"]
    wanted = _names(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted |= _names(extra)
    listed = set(re.findall(r"^\s+- ([A-Za-z0-9_.-]+)", (ROOT / "environment.yml").read_text(), re.M))
    missing = {n for n in wanted if CONDA_NAMES.get(n, n) not in listed}
    assert not missing, f"environment.yml lacks {sorted(missing)}"


def test_constraints_pin_the_tested_torch():
    pins = (ROOT / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in pins
    assert any(p.startswith("nbgrader==0.9.6") for p in pins)


def test_readme_links_use_the_one_repository_url():
    url = _pyproject()["project"]["urls"]["Repository"]
    slug = url.removeprefix("https://github.com/")
    readme = (ROOT / "README.md").read_text()
    github_slugs = set(re.findall(r"(?:github\.com|/gh|/github)/([\w.-]+/[\w.-]+)", readme))
    assert github_slugs, "README has no repository links"
    assert github_slugs == {slug}, f"README links to {github_slugs}, pyproject says {slug}"
