"""Rebuild, verify or list the course's shipped checkpoints.

    python -m genlab.pretrained build digits-features [--out FOLDER]
    python -m genlab.pretrained verify [digits-features]
    python -m genlab.pretrained list

``verify`` and ``list`` read the registry through :mod:`genlab.pretrained.store`;
``build`` runs the checkpoint's builder in :mod:`genlab.recipes` (this command-line entry
point sits on top of the package's layers, like ``genlab.cli``; no library module imports it).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from genlab.pretrained import store
from genlab.recipes import BUILDERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genlab.pretrained", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="train a checkpoint and record its SHA-256")
    build.add_argument("name", choices=sorted(BUILDERS))
    build.add_argument("--out", default=None, help="folder to write to (default: the package)")
    verify = sub.add_parser("verify", help="check shipped checkpoints against their hashes")
    verify.add_argument("name", nargs="?", choices=sorted(BUILDERS))
    sub.add_parser("list", help="list the registry")
    args = parser.parse_args(argv)

    if args.command == "build":
        importlib.import_module(BUILDERS[args.name]).build(args.out)
        return 0
    if args.command == "verify":
        for name in [args.name] if args.name else sorted(BUILDERS):
            print(f"{name}: OK ({store.verify(name)})")
        return 0
    for name, entry in store.read_registry().items():
        files = entry["files"]
        digest = (f"sha256={files[entry['file']]}" if list(files) == [entry["file"]]
                  else f"{len(files)} files hashed")
        print(f"{name}: {entry['file']} ({entry['bytes']:,} bytes) {digest}; "
              f"rebuild: {entry['rebuild']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
