"""Self-check for quiz answers, without shipping the answers.

Each chapter's bank (``genlab/quiz_bank/<chapter>.json``) stores, per question, a random
salt, the SHA-256 of ``salt + ":" + answer`` and an explanation. :func:`check` tells the
learner right or wrong and, after a wrong try, explains. Graded quizzes do not rely on
this: their hidden nbgrader tests hold the answers, which never reach the student
version.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from functools import lru_cache
from importlib import resources

OPTIONS = ("a", "b", "c", "d")


def answer_hash(salt: str, answer: str) -> str:
    """SHA-256 hex digest of ``salt + ":" + answer`` (answer lower-cased and stripped)."""
    return hashlib.sha256(f"{salt}:{_normalize(answer)}".encode()).hexdigest()


def make_entry(answer: str, explanation: str, salt: str | None = None) -> dict:
    """A bank entry for an author: ``{"salt", "sha256", "explanation"}``."""
    salt = salt or secrets.token_hex(8)
    return {"salt": salt, "sha256": answer_hash(salt, answer), "explanation": explanation}


def _normalize(answer) -> str:
    if not isinstance(answer, str):
        raise TypeError(f"answer must be a string such as 'a', got {type(answer).__name__}")
    return answer.strip().lower()


_CHAPTER_ID = re.compile(r"\d\d_[a-z0-9_]+")


@lru_cache(maxsize=None)
def load_bank(chapter: str) -> dict[str, dict]:
    """The question bank of ``chapter`` (e.g. ``"00_welcome"``): ``{qid: entry}``."""
    # a chapter id, never a path: "../x" must not reach files outside the bank
    if not isinstance(chapter, str) or not _CHAPTER_ID.fullmatch(chapter):
        raise ValueError(f"chapter must be a chapter id such as '00_welcome', got {chapter!r}")
    path = resources.files("genlab.quiz_bank") / f"{chapter}.json"
    if not path.is_file():
        raise ValueError(f"no quiz bank for chapter {chapter!r}")
    return json.loads(path.read_text(encoding="utf-8"))


def is_correct(chapter: str, qid: str, answer: str) -> bool:
    """True if ``answer`` is the right one for question ``qid`` of ``chapter``."""
    bank = load_bank(chapter)
    if qid not in bank:
        raise ValueError(f"chapter {chapter!r} has no question {qid!r}; known: {sorted(bank)}")
    entry = bank[qid]
    return answer_hash(entry["salt"], answer) == entry["sha256"]


def check_all(chapter: str, **answers) -> int:
    """Self-check several answers, e.g. ``check_all("02_vae_elbo", q1=answer_q1, q2=answer_q2)``.

    Prints one line per question (see :func:`check`); returns how many are right.
    """
    return sum(check(chapter, qid, answer) for qid, answer in answers.items())


def assert_letters(**answers) -> None:
    """The visible format check of a quiz test cell: every answer is one of a, b, c, d.

    ``assert_letters(answer_q1=answer_q1)`` raises ``AssertionError`` naming the variable.
    """
    for name, value in answers.items():
        assert value in OPTIONS, f"{name} must be 'a', 'b', 'c' or 'd', got {value!r}"


def check(chapter: str, qid: str, answer) -> bool:
    """Print whether ``answer`` is right; after a wrong try, print the explanation.

    ``answer`` must be one of ``"a"``, ``"b"``, ``"c"``, ``"d"``; ``None`` (not yet
    answered) prints a reminder instead of counting as wrong.
    """
    if answer is None:
        print(f"{qid}: not answered yet - set it to one of {', '.join(OPTIONS)}.")
        return False
    if _normalize(answer) not in OPTIONS:
        raise ValueError(f"answer for {qid} must be one of {OPTIONS}, got {answer!r}")
    ok = is_correct(chapter, qid, answer)
    if ok:
        print(f"{qid}: correct.")
    else:
        print(f"{qid}: not quite. {load_bank(chapter)[qid]['explanation']}")
    return ok


def graded_by_instructor(chapter: str) -> None:
    """The self-check of a class release: the options are shuffled for the class, so the
    public answer bank cannot check them; say so instead."""
    print(f"The quiz of {chapter} is graded by your instructor: the options are shuffled "
          "for your class, so there is no self-check here. Set each answer_q variable to "
          "the letter you choose.")
