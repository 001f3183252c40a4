"""The ``genlab`` command.

    genlab grade PATH [PATH ...] [--chapter ID]   score notebooks with the hidden tests
    genlab autograde ASSIGNMENT [--workers N]     grade a class's submissions into the gradebook
    genlab info                                   versions and the device the course will use
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch

import genlab
from genlab.grading import grade_many
from genlab.grading.classgrade import autograde_class


def _grade(args) -> int:
    for path in args.path:
        if Path(path).is_dir():
            print(f"genlab grade: {path} is a folder; give the chapter's notebook file, e.g. "
                  "chapters/00_welcome/00_welcome.ipynb", file=sys.stderr)
            return 2
    try:
        reports = grade_many(args.path, chapter=args.chapter)
    except (FileNotFoundError, ValueError) as exc:
        print(f"genlab grade: {exc}", file=sys.stderr)
        return 2
    for path, report in zip(args.path, reports):
        if len(args.path) > 1:
            print(f"== {path}")
        print(f"chapter {report.chapter}")
        print(report.table())
    return 0 if all(r.error is None for r in reports) else 1


def _autograde(args) -> int:
    try:
        report = autograde_class(args.assignment, workers=args.workers, work_root=args.course)
    except (FileNotFoundError, ValueError) as exc:
        print(f"genlab autograde: {exc}", file=sys.stderr)
        return 2
    print(f"assignment {report.assignment}")
    print(report.table())
    return 0


def _info(_args) -> int:
    print(f"genlab {genlab.__version__}, torch {torch.__version__}, Python {platform.python_version()}")
    print(f"device: {genlab.get_device()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genlab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_grade = sub.add_parser("grade", help="score chapter notebooks with nbgrader, hidden tests included")
    p_grade.add_argument("path", nargs="+",
                         help="the notebook(s), e.g. chapters/00_welcome/00_welcome.ipynb")
    p_grade.add_argument("--chapter", help="chapter id (default: each notebook's file name)")
    p_grade.set_defaults(func=_grade)
    p_auto = sub.add_parser("autograde", help="grade every submission of an assignment in parallel "
                            "into the course's gradebook")
    p_auto.add_argument("assignment", help="assignment (chapter) id, e.g. 01_gan_losses")
    p_auto.add_argument("--workers", type=int, default=max(1, (__import__("os").cpu_count() or 2)),
                        help="submissions judged at once (default: the number of CPUs)")
    p_auto.add_argument("--course", help="the course folder with submitted/ and gradebook.db "
                        "(default: the course root, the folder holding nbgrader_config.py)")
    p_auto.set_defaults(func=_autograde)
    p_info = sub.add_parser("info", help="versions and device")
    p_info.set_defaults(func=_info)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
