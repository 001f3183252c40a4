"""Rebuild or verify the course's shipped checkpoints.

    python -m genlab.pretrained build digits-features [--out FOLDER]
    python -m genlab.pretrained verify [digits-features]
    python -m genlab.pretrained list
"""

from __future__ import annotations

import argparse
import sys

BUILDERS = {
    "digits-features": "genlab.pretrained.digits_features",
    "dcgan-digits-0to8": "genlab.pretrained.dcgan_digits_0to8",
    "digits-diffusion": "genlab.pretrained.digits_diffusion",
    "digits-t2i": "genlab.pretrained.digits_t2i",
    "gan2d-grid-islands": "genlab.pretrained.gan2d_islands",
    "tiny-llama-general": "genlab.pretrained.tiny_lm",
}


def _module(name: str):
    import importlib

    return importlib.import_module(BUILDERS[name])


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
        _module(args.name).build(args.out)
        return 0
    if args.command == "verify":
        for name in [args.name] if args.name else sorted(BUILDERS):
            path = _module(name).verify()
            print(f"{name}: OK ({path})")
        return 0
    from genlab.pretrained.digits_features import read_registry

    for name, entry in read_registry().items():
        # A save_pretrained folder records one hash per file ("files").
        digest = entry.get("sha256") or f"{len(entry.get('files', {}))} files hashed"
        size = f"{entry['bytes']:,} bytes" if "bytes" in entry else "a folder"
        print(f"{name}: {entry['file']} ({size}) sha256={digest}; rebuild: {entry['rebuild']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
