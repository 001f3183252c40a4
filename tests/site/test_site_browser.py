"""The course website in a real browser (headless Chromium, as tests/browser drives it).

Every page is served from a loopback HTTP server; any request to another host is blocked
and reported. Checked: no console error on any page, figures loaded, every formula typeset
by the site's own MathJax, the widget previews answer their controls, search finds LSGAN
in chapter 01, the launch links, pages at 375 px without horizontal overflow, and one
chapter opened from disk (file://). ``GENLAB_UPDATE_SCREENSHOTS=1`` writes the README's
two pictures of the site to docs/img/ (otherwise they go to a temporary folder).

Skipped, with the reason, where Chromium or Playwright is missing; required under CI.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import build
import labdriver
import pages

pytestmark = [pytest.mark.browser, pytest.mark.notebook, pytest.mark.timeout(900),
              pytest.mark.xdist_group("site")]

WIDGET_CHAPTERS = {"01_gan_losses": "mode_collapse", "03_diffusion_losses": "noise_schedule",
                   "04_optimizers_schedules": "schedules", "05_stabilization": "label_smoothing"}
NARROW = {"width": 375, "height": 740}
WIDE = {"width": 1200, "height": 760}
# How long MathJax and the pictures may take on a busy 2-core machine.
SETTLE_MS = 60_000


@pytest.fixture(scope="session")
def server(site):
    """``http://127.0.0.1:<port>/`` serving the built site from a thread."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # one line per request would drown the test output
            pass

    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


# `chromium` is tests/conftest.py's: one Playwright session per test process.


class Tab:
    """A page in a fresh browser context that records console errors, page errors, failed
    requests and any request to another host (which it blocks)."""

    def __init__(self, chromium, viewport: dict):
        self.context = chromium.new_context(viewport=viewport, device_scale_factor=1)
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(SETTLE_MS)
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(
            f"request failed: {r.url} ({r.failure})"))

    def _route(self, route):
        url = urlsplit(route.request.url)
        if url.scheme in ("file", "data", "blob") or url.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort()

    def open(self, url: str):
        self.page.goto(url, wait_until="load")
        # every formula typeset (MathJax 3 resolves startup.promise when it is done)
        self.page.wait_for_function(
            "() => !document.querySelector('.math') || "
            "(window.MathJax && MathJax.startup && MathJax.startup.document && "
            " document.querySelectorAll('mjx-container').length > 0)")
        self.page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
        self.page.wait_for_function(
            "() => Array.from(document.images).every(i => i.complete)")
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture
def tab(chromium, request):
    tabs: list[Tab] = []

    def make(viewport: dict = WIDE) -> Tab:
        tabs.append(Tab(chromium, viewport))
        return tabs[-1]

    yield make
    for t in tabs:
        t.close()


def page_paths() -> list[str]:
    return ["index.html"] + [f"chapters/{c}/{c}.html" for c in build.chapter_ids()]


def staged_images(chapter: str) -> int:
    """Figures (PNG outputs) in the chapter's rendered notebook."""
    nb = json.loads((build.STAGE / "chapters" / chapter / f"{chapter}.ipynb").read_text())
    return sum("image/png" in out.get("data", {}) for cell in nb["cells"]
               for out in cell.get("outputs", []))


def test_every_page_loads_cleanly_with_its_figures_and_math(site, server, tab):
    t = tab()
    with_figures = with_math = 0
    for path in page_paths():
        page = t.open(server + path)
        assert not t.errors, f"{path}: {t.errors}"
        assert not t.elsewhere, f"{path} asked other hosts: {t.elsewhere}"
        state = page.evaluate("""() => ({
            figures: Array.from(document.querySelectorAll('.cell_output img'))
                         .filter(i => !i.closest('.genlab-preview'))
                         .map(i => i.naturalWidth),
            broken: Array.from(document.images).filter(i => i.naturalWidth === 0).map(i => i.src),
            math: document.querySelectorAll('.math').length,
            typeset: Array.from(document.querySelectorAll('.math'))
                         .filter(m => m.querySelector('mjx-container svg')).length,
            mathErrors: document.querySelectorAll('mjx-merror, .MathJax_Error').length,
        })""")
        assert not state["broken"], f"{path}: pictures that did not load: {state['broken']}"
        if path.startswith("chapters/"):
            chapter = Path(path).stem
            assert len(state["figures"]) == staged_images(chapter), path
            with_figures += bool(state["figures"])
            with_math += state["math"] > 0
        assert state["typeset"] == state["math"], f"{path}: {state}"
        assert state["mathErrors"] == 0, f"{path}: MathJax errors"
    assert with_figures >= 8, "most chapters show figures"
    assert with_math >= 7, "most chapters show formulas"


@pytest.mark.parametrize("chapter", sorted(WIDGET_CHAPTERS))
def test_widget_preview_answers_its_slider(server, tab, chapter):
    t = tab()
    page = t.open(server + f"chapters/{chapter}/{chapter}.html")
    preview = page.locator(f'.genlab-preview[data-widget="{WIDGET_CHAPTERS[chapter]}"]')
    assert preview.count() == 1
    assert "live widget runs in JupyterLab" in preview.inner_text()
    img = preview.locator("img.genlab-preview-frame")
    before_src, before_caption = img.get_attribute("src"), preview.locator(
        ".genlab-preview-caption").inner_text()
    slider = preview.locator('input[type="range"]').first
    slider.focus()
    page.keyboard.press("ArrowRight" if chapter != "01_gan_losses" else "ArrowLeft")
    page.wait_for_function(
        "([el, src]) => el.getAttribute('src') !== src && el.complete && el.naturalWidth > 0",
        arg=[img.element_handle(), before_src])
    caption = preview.locator(".genlab-preview-caption").inner_text()
    assert caption != before_caption
    assert "&lt;" not in caption and "&amp;" not in caption, caption  # text, not markup
    select = preview.locator("select")
    if select.count():
        values = select.locator("option").evaluate_all("options => options.map(o => o.value)")
        other = next(v for v in values if v != select.input_value())
        current = img.get_attribute("src")
        select.select_option(other)
        page.wait_for_function(
            "([el, src]) => el.getAttribute('src') !== src && el.complete && el.naturalWidth > 0",
            arg=[img.element_handle(), current])
    assert not t.errors, t.errors


def test_search_finds_lsgan_in_chapter_01(server, tab):
    t = tab()
    page = t.open(server + "search.html?q=LSGAN")
    page.wait_for_function(
        "() => document.querySelectorAll('#search-results li a, ul.search li a').length > 0")
    hrefs = page.eval_on_selector_all("#search-results li a, ul.search li a",
                                      "links => links.map(a => a.getAttribute('href'))")
    assert any("chapters/01_gan_losses/01_gan_losses.html" in h for h in hrefs), hrefs
    assert not t.errors, t.errors


def test_launch_links_and_table_of_contents(server, tab):
    t = tab()
    repo = pages.repository()
    page = t.open(server + "chapters/01_gan_losses/01_gan_losses.html")
    urls = pages.launch_urls("01_gan_losses", repo)
    assert page.get_attribute(".genlab-launch-binder", "href") == urls["binder"]
    assert page.get_attribute(".genlab-launch-colab", "href") == urls["colab"]
    assert urls["binder"].startswith(f"https://mybinder.org/v2/gh/{repo.owner}/{repo.name}/")
    assert page.locator(".genlab-launch-binder").is_visible()
    # the sidebar's table of contents lists every chapter
    toc = page.eval_on_selector_all(".bd-sidenav a", "links => links.map(a => a.textContent)")
    assert sum(text.strip()[:2].isdigit() for text in toc) == len(build.chapter_ids()), toc
    # the download link fetches the student notebook
    with page.expect_download() as download:
        page.click(".genlab-download")
    saved = Path(download.value.path())
    assert saved.read_bytes() == (build.CHAPTERS / "01_gan_losses" / "01_gan_losses.ipynb").read_bytes()


def test_pages_fit_a_375_pixel_screen(server, tab):
    t = tab(NARROW)
    for path in page_paths():
        page = t.open(server + path)
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] + 1, f"{path} overflows a 375 px screen: {widths}"


def test_a_chapter_opened_from_disk_renders_math_its_preview_and_search(site, tab):
    t = tab()
    page = t.open((site / "chapters" / "03_diffusion_losses" / "03_diffusion_losses.html").as_uri())
    assert page.locator("mjx-container").count() > 0
    img = page.locator(".genlab-preview img.genlab-preview-frame")
    before = img.get_attribute("src")
    page.locator('.genlab-preview input[type="range"]').first.focus()
    page.keyboard.press("End")
    page.wait_for_function("([el, src]) => el.getAttribute('src') !== src && el.naturalWidth > 0",
                           arg=[img.element_handle(), before])
    # search from disk: the index is a local script, and no excerpt is fetched
    page = t.open((site / "search.html").as_uri() + "?q=LSGAN")
    page.wait_for_function("() => document.querySelectorAll('ul.search li a').length > 0")
    assert not t.errors, t.errors


def test_screenshots_of_the_site(server, tab, tmp_path_factory):
    folder = (labdriver.ROOT / "docs" / "img" if labdriver.UPDATE_SCREENSHOTS
              else tmp_path_factory.mktemp("site-shots"))
    t = tab({"width": 1100, "height": 700})
    for path, name in [("index.html", "site_front.png"),
                       ("chapters/03_diffusion_losses/03_diffusion_losses.html", "site_chapter.png")]:
        page = t.open(server + path)
        if "chapters/" in path:
            page.locator(".genlab-preview").scroll_into_view_if_needed()
            page.evaluate("() => window.scrollBy(0, -160)")
        _save_small_png(page.screenshot(), folder / name)
        assert (folder / name).stat().st_size < 250_000


def _save_small_png(png: bytes, path: Path) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
