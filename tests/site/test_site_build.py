"""The course website as built by `make site`: pages, no secrets, links, launch URLs, size.

The browser checks (rendering, console, widgets, search, narrow screens) are in
test_site_browser.py; these read the built files.
"""

from __future__ import annotations

import re

import pytest

import build
import pages
import sitecheck

pytestmark = [pytest.mark.notebook, pytest.mark.timeout(900), pytest.mark.xdist_group("site")]

ROOT = build.ROOT
SIZE_BUDGET_MB = 50


def test_every_chapter_has_a_page_and_the_front_page_is_the_readme(site):
    chapters = build.chapter_ids()
    assert len(chapters) >= 10
    for chapter in chapters:
        assert (site / "chapters" / chapter / f"{chapter}.html").is_file(), chapter
    front = (site / "index.html").read_text()
    assert "Quick start" in front and "How a chapter works" in front
    for chapter in chapters:  # the README's chapter table links each chapter page
        assert f'href="chapters/{chapter}/{chapter}.html"' in front, chapter


def test_a_second_build_executes_nothing(site, tmp_path):
    report = build.build(tmp_path / "again", jobs=2, log=print)
    assert report["ran"] == [], f"cached chapters were executed again: {report['ran']}"


def test_no_solution_region_or_hidden_test_anywhere_in_the_site(site):
    regions = sitecheck.secret_regions()
    assert len(regions) >= 20, "expected the solution regions and hidden tests of solutions/"
    leaks = sitecheck.leaked_lines(site)
    assert not leaks, "solution or hidden-test lines in the site:\n" + "\n".join(leaks[:20])
    text = sitecheck.site_text(site)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text


def test_the_leak_check_finds_a_planted_solution(tmp_path):
    """The check above can fail: a page holding one solution line is caught."""
    secrets = sitecheck.secret_lines()
    assert len(secrets) >= 20
    where, line = secrets[len(secrets) // 2]
    (tmp_path / "page.html").write_text(f"<pre><span>{line}</span></pre>")
    assert sitecheck.leaked_lines(tmp_path) == [f"{where}: {line}"]


def test_unsolved_exercises_show_a_note_not_a_traceback(site):
    page = (site / "chapters" / "01_gan_losses" / "01_gan_losses.html").read_text()
    assert page.count("This test cell checks the exercise above") >= 5  # five exercises
    for html_page in site.glob("chapters/*/*.html"):
        text = html_page.read_text()
        assert "Traceback (most recent call last)" not in text, html_page.name
        assert 'class="output traceback' not in text, html_page.name


def test_launch_and_download_links_carry_the_readme_urls(site):
    readme = (ROOT / "README.md").read_text()
    binder_readme = re.search(r"\((https://mybinder\.org/v2/gh/[^)]+)\)", readme)[1]
    colab_readme = re.search(r"\((https://colab\.research\.google\.com/github/[^)]+)\)", readme)[1]
    repo = pages.repository()
    for chapter in build.chapter_ids():
        page = (site / "chapters" / chapter / f"{chapter}.html").read_text()
        path = f"chapters/{chapter}/{chapter}.ipynb"
        binder = binder_readme.replace("lab/tree/chapters", f"lab/tree/{path}")
        colab = re.sub(r"chapters/[^/]+/[^/]+\.ipynb$", path, colab_readme)
        assert f'class="genlab-launch-binder" href="{binder}"' in page, chapter
        assert f'class="genlab-launch-colab" href="{colab}"' in page, chapter
        # the theme's own launch menu points at the same notebook
        assert f"colab.research.google.com/github/{repo.owner}/{repo.name}/blob/main/{path}" in page
        assert f"mybinder.org/v2/gh/{repo.owner}/{repo.name}/main?urlpath=lab/tree/{path}" in page
        # the download link gives the student notebook as released, without outputs
        assert f'class="genlab-download" href="{chapter}.ipynb" download' in page
        downloaded = site / "chapters" / chapter / f"{chapter}.ipynb"
        assert downloaded.read_bytes() == (ROOT / path).read_bytes()


def test_every_internal_link_resolves(site):
    broken = sitecheck.broken_internal_links(site)
    assert not broken, "\n".join(broken[:30])


def test_nothing_is_loaded_from_another_host(site):
    """Pages may link out (Binder, Colab, GitHub), but load no script, style or image from
    a CDN: the site works offline and from disk."""
    for page in sitecheck.html_pages(site):
        text = page.read_text()
        remote = re.findall(r'<(?:script|img|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        remote = [url for url in remote if 'rel="' not in url]
        assert not [u for u in remote if not _is_plain_link(text, u)], (page.name, remote)


def _is_plain_link(text: str, url: str) -> bool:
    """A <link> element that is only a relation (e.g. canonical), not a loaded resource."""
    tag = re.search(r'<link[^>]+href="' + re.escape(url) + r'"[^>]*>', text)
    return bool(tag) and not re.search(r'rel="(stylesheet|preload|icon|modulepreload)"', tag[0])


def test_site_fits_its_size_budget(site):
    size_mb = sitecheck.size_bytes(site) / 1e6
    print(f"site size: {size_mb:.1f} MB")
    assert size_mb <= SIZE_BUDGET_MB
