"""Checks on a built course website that need no browser: links, leaks, size."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".html", ".js", ".json", ".ipynb", ".txt", ".css", ".inv", ".md", ".svg"}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name"):
            if attrs.get(name):
                self.ids.add(attrs[name])
        for name in ("href", "src"):
            if attrs.get(name) and not (tag == "a" and name == "src"):
                self.links.append(attrs[name])


def parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def html_pages(site: Path) -> list[Path]:
    """The site's pages (the theme's Jinja macro files copied into _static are not pages)."""
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)


def broken_internal_links(site: Path) -> list[str]:
    """``"page -> target (why)"`` for each relative link or source of every HTML page
    that names a missing file, or an anchor missing from its target page."""
    broken, ids = [], {}
    for page in html_pages(site):
        for link in parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site)} -> {link}"
            if not target.is_file() or site.resolve() not in target.parents:
                broken.append(f"{where} (no such file)")
                continue
            if parts.fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = parse(target).ids
                if unquote(parts.fragment) not in ids[target]:
                    broken.append(f"{where} (no anchor)")
    return broken


def external_urls(site: Path) -> set[str]:
    """Every absolute http(s) link or source of the HTML pages."""
    found = set()
    for page in html_pages(site):
        found |= {link for link in parse(page).links if re.match(r"^https?://", link)}
    return found


def site_text(site: Path) -> str:
    """All text files of the site, tags removed, entities decoded, whitespace collapsed."""
    chunks = []
    for path in sorted(site.rglob("*")):
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            raw = path.read_text(encoding="utf-8", errors="replace")
            if path.suffix == ".html":
                raw = re.sub(r"<[^>]+>", "", raw)
            chunks.append(html.unescape(raw))
    return normalize("\n".join(chunks))


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text)


REGION = re.compile(
    r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(?P<body>.*?)### END (SOLUTION|HIDDEN TESTS)", re.S)


def secret_regions(solutions: Path = ROOT / "solutions") -> list[tuple[str, str]]:
    """``(where, text)`` of every solution region and hidden-test block of the sources."""
    regions = []
    for source in sorted(solutions.glob("*/*.py")):
        for match in REGION.finditer(source.read_text()):
            regions.append((f"{source.relative_to(ROOT)} {match[1].lower()}", match["body"]))
    return regions


def student_text(chapters: Path = ROOT / "chapters") -> str:
    """Every cell source of the student notebooks, whitespace collapsed: what learners get
    anyway (a solution line that also appears there, e.g. as an example in prose, is public)."""
    sources = []
    for nb in sorted(chapters.glob("*/*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            source = cell["source"]
            sources.append("".join(source) if isinstance(source, list) else source)
    return normalize("\n".join(sources))


def secret_lines(min_chars: int = 12) -> list[tuple[str, str]]:
    """``(where, line)``: lines of solution regions and hidden tests, of at least
    ``min_chars`` characters, that no student notebook contains."""
    public = student_text()
    found = []
    for where, body in secret_regions():
        for line in body.splitlines():
            line = normalize(line).strip()
            if len(line) >= min_chars and line not in public:
                found.append((where, line))
    return found


def leaked_lines(site: Path, min_chars: int = 12) -> list[str]:
    """The :func:`secret_lines` that appear anywhere in the site's text."""
    text = site_text(site)
    return [f"{where}: {line}" for where, line in secret_lines(min_chars) if line in text]


def size_bytes(site: Path) -> int:
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
