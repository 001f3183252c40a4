"""The run time each chapter states comes from the measured table, within a stated factor.

Each chapter's introduction says ``**Run time:** about N s on a 2-core CPU`` (or a phrase
such as "a few seconds", "about a minute"). benchmarks/results/chapters.json holds the
full-run times measured by ``python benchmarks/run_chapters.py`` (one notebook at a time;
``--from-tests`` takes them from the last ``make test`` instead), which also writes them
into the README's chapter table. A claim more than FACTOR away from the measurement fails:
re-measure and update the chapter's sentence.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the timings come from a shared 2-core machine running two notebooks at a time: runs of
# the same chapter vary by about 20%, so a claim within 1.5x of the table is "right"
FACTOR = 1.5
PHRASES = {"instant": 1.0, "a few seconds": 5.0, "about a minute and a half": 90.0,
           "about a minute": 60.0, "about two minutes": 120.0}


def claimed_seconds(text: str) -> float:
    """Seconds stated after ``**Run time:**`` in a chapter's source text."""
    match = re.search(r"\*\*Run time:\*\*\s+(.*)", text.replace("\n# ", " "))
    if match is None:
        raise ValueError("no '**Run time:**' sentence")
    sentence = match.group(1)
    number = re.match(r"about (\d+(?:\.\d+)?) s\b", sentence)
    if number:
        return float(number.group(1))
    for phrase in sorted(PHRASES, key=len, reverse=True):
        if sentence.startswith(phrase):
            return PHRASES[phrase]
    raise ValueError(f"cannot read a run time from {sentence[:60]!r}")


def _measured() -> dict[str, float]:
    table = json.loads((ROOT / "benchmarks/results/chapters.json").read_text())
    return {row["chapter"]: row["seconds"] for row in table["chapters"]}


CHAPTERS = sorted(p.name for p in (ROOT / "solutions").iterdir()
                  if (p / f"{p.name}.py").is_file())


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_stated_run_time_matches_the_measured_table(chapter):
    claim = claimed_seconds((ROOT / "solutions" / chapter / f"{chapter}.py").read_text())
    measured = _measured().get(chapter)
    if measured is None:
        pytest.skip(f"{chapter} is not in benchmarks/results/chapters.json yet")
    assert measured / FACTOR <= claim <= measured * FACTOR, (
        f"{chapter} says about {claim:g} s; the table measured {measured:g} s "
        f"(allowed: within {FACTOR}x). Update its '**Run time:**' sentence.")


def test_readme_chapter_table_holds_the_measured_times():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("<!-- chapter-table -->"):readme.index("<!-- /chapter-table -->")]
    stated = dict(re.findall(r"^\| \[(\w+)\]\(.*? \| (\d+) s \|", table, flags=re.M))
    assert sorted(stated) == CHAPTERS, "every chapter needs a row with its run time"
    for chapter, seconds in _measured().items():
        assert int(stated[chapter]) == round(seconds), (
            f"README says {chapter} runs {stated[chapter]} s, chapters.json {seconds} s: "
            "rerun python benchmarks/run_chapters.py (it rewrites the table)")


@pytest.mark.parametrize("text, seconds", [
    ("# **Run time:** about 25 s on a 2-core CPU", 25.0),
    ("# x. **Run time:** about a minute and a half on a CPU", 90.0),
    ("# **Run time:** about a minute on a CPU", 60.0),
    ("# **Run time:** a few seconds on a CPU.", 5.0),
])
def test_run_time_sentences_are_read(text, seconds):
    assert claimed_seconds(text) == seconds


def test_an_unreadable_sentence_is_an_error():
    with pytest.raises(ValueError, match="cannot read"):
        claimed_seconds("**Run time:** it depends")
