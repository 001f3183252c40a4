"""Turn the course's sources into the site's pages: pure functions, no execution.

* :func:`chapter_page`: an executed student notebook -> the notebook the site renders:
  tracebacks of unsolved exercises replaced by a one-line note, dead widgets replaced by
  their kernel-free preview, launch (Binder, Colab) and download links on top;
* :func:`front_page`: the README -> the site's front page (links to chapters kept, links
  to other repository files sent to the repository, remote badge images as text links);
* :func:`repository`, :func:`launch_urls`: the URLs, from ``pyproject.toml``'s one
  ``[project.urls] Repository``, as the README uses them.
"""

from __future__ import annotations

import copy
import html
import importlib.metadata
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_PROGRESS_BAR = re.compile(r"\d+%\|")  # tqdm's text: "GAN:  40%|####      | 400/1000"
MATHJAX_FILE = "tex-svg-full.js"  # one self-contained file: TeX input, SVG output, no fonts
PREVIEW_NOTE = ("A preview: the figures were computed ahead for a grid of the controls. The "
                "live widget runs in JupyterLab (<code>make lab</code>), on Binder or on Colab.")


class BuildError(RuntimeError):
    """The site cannot be built honestly (e.g. a demonstration cell raised)."""


@dataclass(frozen=True)
class Repository:
    url: str    # https://github.com/<owner>/<name>
    owner: str
    name: str

    def blob(self, path: str) -> str:
        return f"{self.url}/blob/main/{path}"

    def tree(self, path: str) -> str:
        return f"{self.url}/tree/main/{path}"


def repository(root: Path = ROOT) -> Repository:
    """The repository, from ``pyproject.toml`` ([project.urls] Repository)."""
    url = tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", url)
    if not match:
        raise BuildError(f"[project.urls] Repository must be https://github.com/<owner>/<name>, got {url!r}")
    return Repository(url.rstrip("/"), match[1], match[2])


def launch_urls(chapter: str, repo: Repository) -> dict[str, str]:
    """Binder, Colab and GitHub URLs of a chapter's student notebook, as the README's."""
    path = f"chapters/{chapter}/{chapter}.ipynb"
    return {
        "binder": f"https://mybinder.org/v2/gh/{repo.owner}/{repo.name}/HEAD?urlpath=lab/tree/{path}",
        "colab": f"https://colab.research.google.com/github/{repo.owner}/{repo.name}/blob/main/{path}",
        "github": repo.blob(path),
    }


def mathjax_bytes() -> bytes:
    """MathJax 3's ``tex-svg-full.js`` from the sphinx-mathjax-offline package (PyPI)."""
    try:
        dist = importlib.metadata.distribution("sphinx-mathjax-offline")
    except importlib.metadata.PackageNotFoundError as error:
        raise BuildError("the 'site' extra is not installed (sphinx-mathjax-offline missing): "
                         "pip install -c constraints.txt -e '.[site]'") from error
    for file in dist.files or []:
        if file.name == MATHJAX_FILE:
            return Path(dist.locate_file(file)).read_bytes()
    raise BuildError(f"sphinx-mathjax-offline ships no {MATHJAX_FILE}")


# ------------------------------------------------------------------ chapter pages

def _launch_cell(chapter: str, repo: Repository):
    import nbformat

    urls = launch_urls(chapter, repo)
    bar = (
        '<div class="genlab-launch">\n'
        f'<a class="genlab-launch-binder" href="{urls["binder"]}">Open in Binder</a>\n'
        f'<a class="genlab-launch-colab" href="{urls["colab"]}">Open in Colab</a>\n'
        f'<a class="genlab-download" href="{chapter}.ipynb" download>Download the notebook</a>\n'
        f'<a class="genlab-source" href="{urls["github"]}">On GitHub</a>\n'
        "</div>\n\n"
        "This page is the student version, run once on a CPU: exercises are left for you, "
        "and their test cells are shown unrun. Open it on Binder or Colab, or download it, "
        "to solve them."
    )
    return nbformat.v4.new_markdown_cell(bar)


def _note(text: str) -> dict:
    import nbformat

    return nbformat.v4.new_output(
        "display_data", data={"text/html": f'<p class="genlab-note">{text}</p>',
                              "text/plain": re.sub("<[^>]+>", "", text)})


def preview_html(spec: dict, static_prefix: str) -> str:
    """The preview's markup: its spec as JSON (frame paths made relative to the page) and
    a first picture, so the figure shows before (and without) the script."""
    spec = copy.deepcopy(spec)
    for frame in spec["frames"].values():
        frame["src"] = f"{static_prefix}widget-previews/{frame['src']}"
    first = spec["frames"]["__".join(c["value"] for c in spec["controls"])]
    # a <script> element's text is not entity-decoded: escape <, > and & the JSON way
    data = (json.dumps(spec).replace("&", "\\u0026").replace("<", "\\u003c")
            .replace(">", "\\u003e"))
    return (
        f'<div class="genlab-preview" data-widget="{spec["widget"]}">\n'
        f'<script type="application/json" class="genlab-preview-spec">{data}</script>\n'
        f'<div class="genlab-preview-controls"></div>\n'
        f'<img class="genlab-preview-frame" src="{first["src"]}" alt="{html.escape(spec["title"])}">\n'
        f'<p class="genlab-preview-caption">{html.escape(first["caption"])}</p>\n'
        f'<p class="genlab-note">{PREVIEW_NOTE}</p>\n'
        "</div>"
    )


def _which_preview(source: str, specs: dict) -> str | None:
    """The preview of the widget a cell builds: the genlab.widgets module it names."""
    for name in sorted(specs, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name)}\b", source):
            return name
    return None


def chapter_page(executed, chapter: str, repo: Repository, specs: dict,
                 static_prefix: str = "../../_static/"):
    """The notebook the site shows for an executed student notebook (not modified).

    Raises :class:`BuildError` when a cell that is not part of an exercise raised, or a
    cell shows a widget with no preview.
    """
    nb = copy.deepcopy(executed)
    nb.metadata.pop("widgets", None)
    failures = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        grading = cell.metadata.get("nbgrader", {})
        outputs = []
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                if grading.get("grade"):
                    outputs.append(_note(
                        f"This test cell checks the exercise above. With the exercise not yet "
                        f"solved it fails (<code>{html.escape(out.ename)}</code>); with a "
                        "correct answer it runs without output."))
                elif grading.get("solution"):
                    outputs.append(_note(
                        "Your answer goes here: until you replace "
                        "<code>raise NotImplementedError()</code>, running this cell stops "
                        f"with <code>{html.escape(out.ename)}</code>."))
                else:
                    failures.append(f"cell {index} raised {out.ename}: {out.get('evalue', '')}")
            elif WIDGET_MIME in out.get("data", {}):
                if _PROGRESS_BAR.search(out["data"].get("text/plain", "")):
                    continue  # a tqdm bar: its final state is not saved, and says nothing later
                name = _which_preview(cell.source, specs)
                if name is None:
                    failures.append(f"cell {index} shows a widget that has no preview")
                    continue
                outputs.append(__import__("nbformat").v4.new_output(
                    "display_data", data={"text/html": preview_html(specs[name], static_prefix),
                                          "text/plain": f"[{name} widget preview]"}))
            elif not (out.output_type == "stream" and not out.text.strip()):
                outputs.append(out)
        cell.outputs = outputs
    if failures:
        raise BuildError(f"{chapter}: " + "; ".join(failures))
    # The title first, then the launch links; the Colab-only install cell after them.
    title = next((i for i, c in enumerate(nb.cells)
                  if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), None)
    if title is not None:
        nb.cells.insert(0, nb.cells.pop(title))
    nb.cells.insert(1 if title is not None else 0, _launch_cell(chapter, repo))
    return nb


# ------------------------------------------------------------------ front page

_BADGE = re.compile(r"\[!\[([^\]]*)\]\((https?:[^)\s]+)\)\]\(([^)\s]+)\)")
_MD_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
_HTML_SRC = re.compile(r'(src|href)="([^"]+)"')


def _site_target(target: str, chapters: list[str], repo: Repository, root: Path) -> str:
    """Where a README link points on the site: chapters and images stay relative, other
    repository files go to the repository, URLs and anchors are unchanged."""
    if re.match(r"^[a-z]+:", target) or target.startswith("#"):
        return target
    path, _, anchor = target.partition("#")
    if any(path == f"chapters/{c}/{c}.ipynb" for c in chapters) or path.startswith("docs/img/"):
        return target
    where = root / path
    url = repo.tree(path.rstrip("/")) if where.is_dir() else repo.blob(path)
    return url + (f"#{anchor}" if anchor else "")


def front_page(readme: str, chapters: list[str], repo: Repository, root: Path = ROOT) -> str:
    """The README as the site's front page, with a hidden table of contents of the chapters."""

    def md_link(match):
        bang, text, target = match.groups()
        if bang and re.match(r"^https?:", target):
            return text  # a remote badge image: its alt text, so the page loads offline
        return f"{bang}[{text}]({_site_target(target, chapters, repo, root)})"

    def html_attr(match):
        attr, target = match.groups()
        return f'{attr}="{_site_target(target, chapters, repo, root)}"'

    # a badge (a remote image inside a link) becomes a text link: the page loads offline
    text = _BADGE.sub(lambda m: f"[{m[1]}]({m[3]})", readme)
    text = _MD_LINK.sub(md_link, text)
    text = _HTML_SRC.sub(html_attr, text)
    toc = "\n".join(f"chapters/{c}/{c}" for c in chapters)
    return f"{text.rstrip()}\n\n```{{toctree}}\n:hidden:\n:caption: Chapters\n\n{toc}\n```\n"
