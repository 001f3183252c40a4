"""The ``genlab`` command.

    genlab grade PATH [--chapter ID]   score a notebook with the hidden tests
    genlab info                        versions and the device the course will use
"""

from __future__ import annotations

import argparse
import sys


def _grade(args) -> int:
    from pathlib import Path

    from genlab.grading import grade

    if Path(args.path).is_dir():
        print(f"genlab grade: {args.path} is a folder; give the chapter's notebook file, e.g. "
              "chapters/00_welcome/00_welcome.ipynb", file=sys.stderr)
        return 2
    try:
        report = grade(args.path, chapter=args.chapter)
    except (FileNotFoundError, ValueError) as exc:
        print(f"genlab grade: {exc}", file=sys.stderr)
        return 2
    print(f"chapter {report.chapter}")
    print(report.table())
    return 0 if report.error is None else 1


def _info(_args) -> int:
    import platform

    import torch

    import genlab

    print(f"genlab {genlab.__version__}, torch {torch.__version__}, Python {platform.python_version()}")
    print(f"device: {genlab.get_device()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genlab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_grade = sub.add_parser("grade", help="score a chapter notebook with nbgrader, hidden tests included")
    p_grade.add_argument("path", help="the notebook, e.g. chapters/00_welcome/00_welcome.ipynb")
    p_grade.add_argument("--chapter", help="chapter id (default: the notebook's file name)")
    p_grade.set_defaults(func=_grade)
    p_info = sub.add_parser("info", help="versions and device")
    p_info.set_defaults(func=_info)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
