"""The clean room's own copy of genlab: the graded references are not in it.

:func:`cleanroom_tree` writes (once per chapter and content, cached under the temp folder)
a copy of the ``genlab`` package in which every function an answer of that chapter must
not reach has a body that only raises (``AssertionError`` with
:data:`genlab.exercises.MESSAGE`), the quiz bank is absent and no ``__pycache__`` exists.
The sandbox (:mod:`genlab.grading.sandbox`) mounts it read-only where genlab lives, so no
route inside the sandbox (a path alias, a second import, ``inspect.getsource``, a cached
``.pyc``, ``importlib.reload``) finds the reference: its code is not on the file system the
answer sees.

Functions of other libraries in a forbidden set (PEFT, Diffusers, Transformers) are
stripped the same way, file by file (:func:`library_overlays`): the sandbox mounts the
stripped file over the library's own and an empty file over its cached bytecode.
"""

from __future__ import annotations

import ast
import compileall
import hashlib
import importlib.util
import inspect
import os
import shutil
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import genlab
from genlab.exercises import MESSAGE
from genlab.grading.spec import ALWAYS_FORBIDDEN, load_spec, resolve

# never in the clean room's copy: the quiz answers (salted hashes are answers: four tries)
EXCLUDED = ("__pycache__", "*.pyc", "quiz_bank")


def targets_of(chapter: str, tests=None) -> list[str]:
    """``"module:qualname"`` of every function stripped for the exercises ``tests`` (all of
    ``chapter``'s when None): their forbidden sets, every callable reference of the chapter
    (reference code in its spec module) and the quiz's self-check
    (:data:`genlab.grading.spec.ALWAYS_FORBIDDEN`). A chapter's exercises are graded in
    groups (``Exercise.group``): one group may use what another must write."""
    spec = load_spec(chapter)
    found = list(ALWAYS_FORBIDDEN)
    for exercise in (spec.exercises.values() if spec else ()):
        if tests is None or exercise.test in tests:
            found += exercise.forbidden
        for ref in exercise.reference.values():
            if callable(ref):
                found.append(f"{ref.__module__}:{ref.__qualname__}")
    return sorted(set(found))


def strip_source(source: str, qualnames, label_module: str) -> str:
    """``source`` with the body of each function ``qualnames`` (``"Class.method"`` or
    ``"function"``) replaced by ``raise AssertionError(...)``; signatures and decorators
    stay, so the module still imports and other code that names them still loads.

    Raises ``LookupError`` naming a qualname the source does not define.
    """
    tree = ast.parse(source)
    wanted = set(qualnames)
    done = set()

    def visit(body, prefix):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + node.name
                if name in wanted:
                    message = MESSAGE.format(f"{label_module}.{name}")
                    node.body = [ast.Raise(exc=ast.Call(
                        func=ast.Name("AssertionError", ast.Load()),
                        args=[ast.Constant(message)], keywords=[]), cause=None)]
                    done.add(name)
                else:
                    visit(node.body, name + ".<locals>.")
            elif isinstance(node, ast.ClassDef):
                visit(node.body, prefix + node.name + ".")
            elif isinstance(node, (ast.If, ast.Try)):  # definitions under `if TYPE_CHECKING`, try/except
                visit(node.body, prefix)
                visit(getattr(node, "orelse", []), prefix)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body, prefix)
    visit(tree.body, "")
    missing = wanted - done
    if missing:
        raise LookupError(f"{label_module} defines no function {sorted(missing)}")
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _module_file(module: str) -> Path | None:
    """The source file of ``module``, found without importing it or its packages (importing
    Diffusers alone takes seconds)."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        base = Path(folder, *rest)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if rest and candidate.is_file():
                return candidate
    return None


def _by_module(targets):
    grouped: dict[str, set[str]] = {}
    for target in targets:
        module, _, qualname = target.partition(":")
        grouped.setdefault(module, set()).add(qualname)
    return grouped


def _genlab_dir() -> Path:
    return Path(genlab.__file__).resolve().parent


def _digest(genlab_dir: Path, targets, extra: list[Path]) -> str:
    h = hashlib.sha256(repr(sorted(targets)).encode())
    files = sorted(p for p in genlab_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files + extra:
        st = path.stat()
        h.update(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def _cache_root() -> Path:
    return Path(os.environ.get("GENLAB_CLEANROOM_CACHE") or
                Path(tempfile.gettempdir()) / f"genlab-cleanroom-{os.getuid()}")


def _defines(path: Path, qualname: str) -> bool:
    try:
        strip_source(path.read_text(encoding="utf-8"), [qualname], "")
    except (LookupError, SyntaxError, OSError):
        return False
    return True


def _library_files(grouped: dict[str, set[str]]) -> dict[Path, set[str]]:
    """``{library source file: qualnames to strip}``: where each forbidden function of a
    library is *defined* (a name re-exported by another module is followed by importing it)."""
    files: dict[Path, set[str]] = {}
    for module, qualnames in grouped.items():
        if module.split(".")[0] == "genlab":
            continue
        path = _module_file(module)
        for qualname in qualnames:
            if path is not None and _defines(path, qualname):
                files.setdefault(path, set()).add(qualname)
                continue
            try:
                obj = resolve(f"{module}:{qualname}")
                obj = inspect.unwrap(getattr(obj, "__func__", obj))
                source = Path(inspect.getsourcefile(obj))
            except (ImportError, AttributeError, TypeError):
                continue  # not installed here: nothing to reach
            if _defines(source, obj.__qualname__):
                files.setdefault(source, set()).add(obj.__qualname__)
    return files


@lru_cache(maxsize=None)
def cleanroom_tree(chapter: str, tests: tuple[str, ...] | None = None
                   ) -> tuple[Path, tuple[tuple[Path, Path], ...]]:
    """``(folder holding the stripped genlab package, ((stripped file, library file), ...))``.

    The package folder replaces genlab's own in the sandbox; each pair is a library file
    and its stripped copy (mounted over it).
    """
    targets = targets_of(chapter, tests)
    grouped = _by_module(targets)
    genlab_dir = _genlab_dir()
    library = _library_files(grouped)
    digest = _digest(genlab_dir, targets, sorted(library))
    root = _cache_root()
    final = root / f"{chapter}-{digest}"
    overlays = tuple((final / "lib" / f"{i}" / path.name, path) for i, path in enumerate(sorted(library)))
    if (final / "genlab" / "__init__.py").is_file():
        return final / "genlab", overlays
    root.mkdir(parents=True, exist_ok=True, mode=0o755)
    work = Path(tempfile.mkdtemp(prefix=f".{chapter}-", dir=root))
    try:
        shutil.copytree(genlab_dir, work / "genlab", ignore=shutil.ignore_patterns(*EXCLUDED))
        for module, qualnames in grouped.items():
            if module.split(".")[0] != "genlab":
                continue
            relative = module.split(".")[1:]
            path = work / "genlab" / Path(*relative).with_suffix(".py") if relative else \
                work / "genlab" / "__init__.py"
            if not path.is_file():
                path = work / "genlab" / Path(*relative) / "__init__.py"
            if not path.is_file():
                continue  # renamed or removed: nothing to strip, nothing to reach
            path.write_text(strip_source(path.read_text(encoding="utf-8"), qualnames, module),
                            encoding="utf-8")
        for i, path in enumerate(sorted(library)):
            target = work / "lib" / f"{i}" / path.name
            target.parent.mkdir(parents=True)
            target.write_text(strip_source(path.read_text(encoding="utf-8"), library[path],
                                           _module_name(path)), encoding="utf-8")
        (work / "empty").write_bytes(b"")
        # bytecode of the stripped copy, written here (read-only in the sandbox): without it
        # every clean room compiles genlab again (~1.5 s)
        compileall.compile_dir(str(work / "genlab"), quiet=2, workers=1)
        for i, path in enumerate(sorted(library)):
            compileall.compile_file(str(work / "lib" / f"{i}" / path.name), quiet=2)
        for folder, _, files in os.walk(work):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        try:
            work.rename(final)
        except OSError:  # another grader built it meanwhile
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final / "genlab", overlays


def _module_name(path: Path) -> str:
    """``torch.optim.adam`` for ``.../site-packages/torch/optim/adam.py`` (for messages)."""
    parts = list(path.with_suffix("").parts)
    if "site-packages" in parts:
        parts = parts[len(parts) - parts[::-1].index("site-packages"):]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts[-4:])


def bytecode_of(path: Path) -> list[Path]:
    """The cached bytecode files Python may hold for the source file ``path``."""
    tag = sys.implementation.cache_tag
    folder = path.parent / "__pycache__"
    return [folder / f"{path.stem}.{tag}{opt}.pyc" for opt in ("", ".opt-1", ".opt-2")
            if (folder / f"{path.stem}.{tag}{opt}.pyc").exists()]
