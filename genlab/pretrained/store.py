"""What every shipped checkpoint does the same way: save, record its hash, verify, load.

A checkpoint is one safetensors file in the package folder with an entry in
``registry.json`` (``file``, ``sha256``, ``bytes``, the ``recipe`` and how to ``rebuild``).
Builders write their own entry only; loaders check the hash before reading a tensor.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from genlab.pretrained.digits_features import (
    REGISTRY,
    ChecksumError,
    load_safetensors,
    package_dir,
    read_registry,
    sha256_of_file,
)

__all__ = ["ChecksumError", "load_verified", "record", "save_tensors", "verify"]


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write ``tensors`` (moved to the CPU, contiguous) to the safetensors file ``path``."""
    from safetensors.torch import save_file

    # One metadata key only: safetensors writes metadata in hash-map order, so two keys
    # could swap places between runs and change the file's hash.
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path),
              metadata={"format": "pt"})


def record(folder: str | Path, name: str, path: str | Path, rebuild: str, **fields) -> dict:
    """Enter ``path``'s hash, size, ``fields`` and ``rebuild`` as ``name`` in ``folder``'s
    registry (a read-modify-write of that entry only); return the entry."""
    path = Path(path)
    entry = {"file": path.name, "sha256": sha256_of_file(path), "bytes": path.stat().st_size,
             **fields, "rebuild": rebuild}
    registry = read_registry(folder)
    registry[name] = entry
    (Path(folder) / REGISTRY).write_text(json.dumps(registry, indent=2) + "\n",
                                         encoding="utf-8")
    return entry


def _verified_entry(name: str, rebuild: str, folder: Path) -> tuple[Path, dict]:
    entry = read_registry(folder).get(name)
    if entry is None:
        raise FileNotFoundError(f"no {name!r} entry in {folder / REGISTRY}; run `{rebuild}`")
    path = folder / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; run `{rebuild}`")
    actual = sha256_of_file(path)
    if actual != entry["sha256"]:
        raise ChecksumError(
            f"{path} has SHA-256 {actual} but the registry records {entry['sha256']}: "
            f"the file is corrupted or was replaced. Rebuild it with `{rebuild}`."
        )
    return path, entry


def verify(name: str, rebuild: str, folder: str | Path | None = None) -> Path:
    """Check checkpoint ``name``'s SHA-256 against ``folder``'s registry; return its path.

    Raises ``FileNotFoundError`` (saying how to ``rebuild``) when the file or its entry is
    missing and :class:`ChecksumError` when the bytes differ from what was recorded.
    """
    return _verified_entry(name, rebuild, Path(folder or package_dir()))[0]


def load_verified(name: str, rebuild: str, folder: str | Path | None = None,
                  ) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, registry_entry)`` of checkpoint ``name`` after :func:`verify`."""
    path, entry = _verified_entry(name, rebuild, Path(folder or package_dir()))
    return load_safetensors(path), entry
