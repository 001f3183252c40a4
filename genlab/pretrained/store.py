"""The checkpoint store: the registry, file hashes, one ``verify``, safe saving and loading.

Every shipped checkpoint has one entry in ``registry.json`` (next to the files), all with
one schema::

    "<name>": {
      "file":  "<the checkpoint, relative to the registry's folder: one safetensors
                file, or a save_pretrained folder>",
      "files": {"<every file of it, relative to the registry's folder>": "<SHA-256>"},
      "bytes": <the files' total size>,
      ...      (what the recipe measured: accuracies, FIDs, timings),
      "recipe": {...},
      "rebuild": "python -m genlab.pretrained build <name>"
    }

Loaders (the other modules of :mod:`genlab.pretrained`) call :func:`verify` before they
read a tensor; the builders (:mod:`genlab.recipes`) write their files and :func:`record`
their entry (a read-modify-write of that entry only). This module imports nothing of
genlab: it sits at the bottom of the package's layers with the loaders.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

__all__ = ["REGISTRY", "ChecksumError", "checkpoint_files", "entry", "load_safetensors",
           "load_verified", "package_dir", "read_registry", "rebuild_command", "record",
           "save_tensors", "sha256_of_file", "verify"]

REGISTRY = "registry.json"


class ChecksumError(RuntimeError):
    """A shipped checkpoint does not match the SHA-256 recorded in the registry."""


def package_dir() -> Path:
    """The folder of ``genlab.pretrained`` (where the checkpoints and registry live)."""
    return Path(str(resources.files("genlab.pretrained")))


def rebuild_command(name: str) -> str:
    """The shell command that retrains checkpoint ``name`` and records it."""
    return f"python -m genlab.pretrained build {name}"


def sha256_of_file(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_registry(folder: str | Path | None = None) -> dict:
    """``{name: entry}`` from ``folder``'s ``registry.json`` (default: the package's);
    ``{}`` when there is none. Raises ``ValueError`` for a file that is not a JSON object."""
    path = Path(folder or package_dir()) / REGISTRY
    if not path.is_file():
        return {}
    try:
        registry = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); restore it from the package "
                         "(reinstall genlab) or rebuild with `python -m genlab.pretrained "
                         "build <name>`") from None
    if not isinstance(registry, dict):
        raise ValueError(f"{path} must hold a JSON object {{name: entry}}, got "
                         f"{type(registry).__name__}")
    return registry


def entry(name: str, folder: str | Path | None = None) -> dict:
    """Checkpoint ``name``'s registry entry in ``folder`` (default: the package's);
    ``FileNotFoundError`` saying how to rebuild it when there is none."""
    folder = Path(folder or package_dir())
    found = read_registry(folder).get(name)
    if found is None:
        raise FileNotFoundError(f"no {name!r} entry in {folder / REGISTRY}; run "
                                f"`{rebuild_command(name)}`")
    return found


def checkpoint_files(folder: str | Path, path: str | Path) -> list[str]:
    """The files of checkpoint ``path`` (a file, or every file under a folder), as sorted
    POSIX paths relative to ``folder``."""
    folder, path = Path(folder), Path(path)
    found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sorted(p.relative_to(folder).as_posix() for p in found)


def load_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of the safetensors file ``path``; a truncated or otherwise unreadable
    file raises ``ValueError`` naming it (instead of the library's header error)."""
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError, not an OSError
        raise ValueError(f"{path} is not a readable safetensors file ({exc}); it may be "
                         "truncated: reinstall genlab or rebuild it with "
                         "`python -m genlab.pretrained build <name>`") from None


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write ``tensors`` (moved to the CPU, contiguous) to the safetensors file ``path``."""
    # One metadata key only: safetensors writes metadata in hash-map order, so two keys
    # could swap places between runs and change the file's hash.
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path),
              metadata={"format": "pt"})


def record(folder: str | Path, name: str, path: str | Path, rebuild: str | None = None,
           **fields) -> dict:
    """Enter checkpoint ``path`` (a file or a save_pretrained folder inside ``folder``) as
    ``name`` in ``folder``'s registry: every file's hash, the total size, ``fields`` and how
    to ``rebuild`` it (default :func:`rebuild_command`). Only this entry is rewritten;
    returns it."""
    folder, path = Path(folder), Path(path)
    files = {rel: sha256_of_file(folder / rel) for rel in checkpoint_files(folder, path)}
    new = {"file": path.relative_to(folder).as_posix(), "files": files,
           "bytes": sum((folder / rel).stat().st_size for rel in files),
           **fields, "rebuild": rebuild or rebuild_command(name)}
    registry = read_registry(folder)
    registry[name] = new
    (folder / REGISTRY).write_text(json.dumps(registry, indent=2) + "\n", encoding="utf-8")
    return new


def verify(name: str, folder: str | Path | None = None) -> Path:
    """Check every file of checkpoint ``name`` against ``folder``'s registry (default: the
    package's); return the checkpoint's path (its file or folder).

    Raises ``FileNotFoundError`` (saying how to rebuild) when the entry or a file is
    missing, and :class:`ChecksumError` when a file's bytes differ from what was recorded
    or a checkpoint folder holds files the registry does not know.
    """
    folder = Path(folder or package_dir())
    found = entry(name, folder)
    rebuild = found.get("rebuild") or rebuild_command(name)
    path = folder / found["file"]
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; run `{rebuild}`")
    for rel, expected in found["files"].items():
        file = folder / rel
        if not file.is_file():
            raise FileNotFoundError(f"{file} is missing; run `{rebuild}`")
        actual = sha256_of_file(file)
        if actual != expected:
            raise ChecksumError(
                f"{file} has SHA-256 {actual} but the registry records {expected}: the file "
                f"is corrupted or was replaced. Rebuild it with `{rebuild}`.")
    extra = sorted(set(checkpoint_files(folder, path)) - set(found["files"]))
    if extra:
        raise ChecksumError(f"{path} holds files the registry does not know: {extra}; "
                            f"rebuild it with `{rebuild}`")
    return path


def load_verified(name: str, folder: str | Path | None = None,
                  ) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, registry_entry)`` of the one-file checkpoint ``name`` after :func:`verify`."""
    folder = Path(folder or package_dir())
    return load_safetensors(verify(name, folder)), entry(name, folder)
