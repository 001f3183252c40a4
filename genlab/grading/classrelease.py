"""Class releases: quiz options shuffled per class from an instructor secret.

A self-study copy (no secret) is released as it is, and ``genlab.quiz`` self-checks it.
With a class secret (``$GENLAB_CLASS_SECRET`` or a file ``.genlab-class-secret`` in the
course root, both kept from students), ``nbgrader generate_assignment`` runs
:class:`ShuffleQuizOptions` first: in every question the options a-d are permuted by
``HMAC-SHA256(secret, chapter:question)``, chosen so that the right option never keeps its
letter; the self-check cell becomes a note that the instructor grades the quiz. The public
salted hashes in ``genlab/quiz_bank`` then point at a wrong letter, and a class's letters say
nothing about another class's. At autograde the judge maps each answer back to the
canonical letter (:func:`judge_key`) and compares it with the key in the test cell.

Not hidden by this: the option *texts*; a student holding the self-study solutions can
still look the right text up. The class copy of the course must not ship solutions/.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import re
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor

from genlab.grading.course import find_course_root
from genlab.grading.spec import quiz_key_of

LETTERS = "abcd"
SECRET_FILE = ".genlab-class-secret"
_QUESTION = re.compile(r"^(?:\*\*Q(\d+)\.\*\*|#+\s*Q(\d+)\b)")
_OPTION = re.compile(r"^- ([a-d])\) ")
_VARIABLE = re.compile(r"^answer_q(\d+)$")


def class_secret(start: Path | None = None) -> str | None:
    """The class secret, or None for a self-study course."""
    secret = os.environ.get("GENLAB_CLASS_SECRET")
    if secret:
        return secret
    folders = [Path(start or Path.cwd())]
    try:
        folders.append(find_course_root(start))
    except FileNotFoundError:
        pass
    for folder in folders:
        path = folder / SECRET_FILE
        if path.is_file():
            return path.read_text(encoding="utf-8").strip() or None
    return None


def permutation(secret: str, chapter: str, question: int, right: str | None) -> dict[str, str]:
    """``{canonical letter: letter shown in this class}``; the right option always moves."""
    digest = hmac.new(secret.encode(), f"{chapter}:q{question}".encode(), hashlib.sha256).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    while True:
        shown = list(LETTERS)
        rng.shuffle(shown)
        mapping = dict(zip(LETTERS, shown))
        if right not in mapping or mapping[right] != right:
            return mapping


def _keys(nb) -> dict[int, str]:
    keys = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            for variable, letter in (quiz_key_of(cell.source) or {}).items():
                match = _VARIABLE.match(variable)
                if match and letter in LETTERS:
                    keys[int(match.group(1))] = letter
    return keys


def shuffle_markdown(source: str, chapter: str, secret: str, keys: dict[int, str]) -> str:
    """``source`` with each question's options a-d permuted for the class."""
    lines = source.split("\n")
    out, question, i = [], None, 0
    while i < len(lines):
        match = _QUESTION.match(lines[i])
        if match:
            question = int(match.group(1) or match.group(2))
        if question is not None and _OPTION.match(lines[i]):
            block = []  # [(letter, [lines])]
            while i < len(lines) and (_OPTION.match(lines[i]) or (block and lines[i].startswith("  "))):
                if _OPTION.match(lines[i]):
                    block.append((_OPTION.match(lines[i]).group(1), [lines[i]]))
                else:
                    block[-1][1].append(lines[i])
                i += 1
            if [letter for letter, _ in block] == list(LETTERS):
                mapping = permutation(secret, chapter, question, keys.get(question))
                by_shown = {mapping[letter]: body for letter, body in block}
                for shown in LETTERS:
                    body = by_shown[shown]
                    out.append(f"- {shown}) " + body[0][len("- a) "):])
                    out.extend(body[1:])
            else:
                out.extend(line for _, body in block for line in body)
            question = None
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


SELF_CHECK = re.compile(r"genlab\.quiz\.check(_all)?\(")


class ShuffleQuizOptions(NbGraderPreprocessor):
    """generate_assignment, class release only: shuffle quiz options, turn off the self-check."""

    def preprocess(self, nb, resources):
        secret = class_secret()
        if not secret:
            return nb, resources
        chapter = resources.get("nbgrader", {}).get("notebook", "")
        keys = _keys(nb)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = shuffle_markdown(cell.source, chapter, secret, keys)
            elif cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("grade") \
                    and SELF_CHECK.search(cell.source):
                cell.source = f'genlab.quiz.graded_by_instructor("{chapter}")'
        nb.metadata.setdefault("genlab", {})["class_release"] = True
        return nb, resources


def judge_key(chapter: str):
    """``(variable, letter, right) -> canonical letter`` for a class, else None."""
    secret = class_secret()
    if not secret:
        return None

    def canonical(variable: str, letter: str, right: str) -> str:
        match = _VARIABLE.match(variable)
        if not match or letter not in LETTERS:
            return letter
        mapping = permutation(secret, chapter, int(match.group(1)), right)
        inverse = {shown: canon for canon, shown in mapping.items()}
        return inverse[letter]

    return canonical
