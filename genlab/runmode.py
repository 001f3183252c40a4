"""Cheap runs while a notebook is graded.

nbgrader sets ``NBGRADER_EXECUTION`` (``"autograde"`` or ``"validate"``) while it
executes a notebook. Demonstration cells ask :func:`budget` how big to be, so an
instructor autogrades a class in seconds per notebook while learners see the full
demonstration. Graded cells never depend on it.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")


def is_grading() -> bool:
    """True while nbgrader executes the notebook (autograde or validate)."""
    return os.environ.get("NBGRADER_EXECUTION", "") in {"autograde", "validate"}


def budget(full: T, grading: T) -> T:
    """Return ``full`` for a learner's run and ``grading`` while nbgrader grades.

    >>> budget(2000, 20)   # training steps: the full demo, or a smoke run
    2000
    """
    return grading if is_grading() else full
