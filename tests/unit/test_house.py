"""Where things live: one package per kind of thing, layers that point down, no import cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

GENLAB = Path(__file__).resolve().parents[2] / "genlab"

# The package's layers, lowest first (DESIGN.md section 4). A module may import modules of
# its own layer and of the layers below it, never above; within a layer the cycle check
# keeps the imports one-way. A name covers the module and everything under it (the longest
# name wins); ``python -m`` entry points (``*.__main__``) sit on top with the CLI, since no
# module imports them.
LAYERS = (
    ("genlab", "genlab._lazy", "genlab._checks", "genlab.runmode", "genlab.device",
     "genlab.history"),                                       # plumbing and the run record
    ("genlab.data", "genlab.losses", "genlab.models"),        # data, formulas, networks
    ("genlab.pretrained",),                                   # checkpoint store and loaders
    ("genlab.optim", "genlab.stabilize", "genlab.metrics"),   # what a loop uses and measures
    ("genlab.train",),                                        # the loop contract and loops
    ("genlab.finetune",),                                     # adapting pretrained models
    ("genlab.recipes",),                                      # builders of the checkpoints
    ("genlab.toys", "genlab.viz", "genlab.widgets", "genlab.quiz", "genlab.quiz_bank",
     "genlab.exercises", "genlab.grading", "genlab.cli", "genlab.__main__"),  # chapters' front
)
# Imports inside a function are for these only: heavy libraries a chapter may never need,
# so that ``import genlab`` (and any genlab module) stays light. (tqdm: ``tqdm.auto`` loads
# ipywidgets inside a notebook.)
HEAVY_OPTIONAL = ("diffusers", "transformers", "peft", "accelerate", "sklearn", "matplotlib",
                  "ipywidgets", "IPython", "tokenizers", "nbformat", "nbgrader", "traitlets",
                  "tqdm")
# What no genlab module may load at import time (the list).
NOT_AT_IMPORT = ("diffusers", "transformers", "peft", "accelerate", "sklearn", "matplotlib",
                 "ipywidgets")


def _modules() -> dict[str, Path]:
    mods = {}
    for path in GENLAB.rglob("*.py"):
        name = ".".join(path.relative_to(GENLAB.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


def _sources() -> dict[str, str]:
    return {name: path.read_text(encoding="utf-8") for name, path in _modules().items()}


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of ``module``; ``KeyError`` for a module without a layer."""
    if module.endswith(".__main__"):
        return len(LAYERS) - 1
    best, found = -1, None
    for index, names in enumerate(LAYERS):
        for name in names:
            covers = module == name or (name != "genlab" and module.startswith(name + "."))
            if covers and len(name) > best:
                best, found = len(name), index
    if found is None:
        raise KeyError(f"{module} has no layer: add it (or its package) to LAYERS")
    return found


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(module: str, source: str, known: set[str]) -> list[tuple[str, bool, int]]:
    """``(imported, inside_a_function, line)`` for every import in ``source``, skipping
    ``if TYPE_CHECKING:`` blocks. A genlab import is resolved to the longest module of
    ``known`` it names (``from genlab.x import y`` is ``genlab.x.y`` when that is a
    module); other imports keep their top-level package name."""
    package = module if f"{module}.__init__" in known else module.rpartition(".")[0]
    found = []

    def resolve(name: str) -> str:
        if not name.startswith("genlab"):
            return name.split(".")[0]
        while name not in known and "." in name:
            name = name.rpartition(".")[0]
        return name

    def visit(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.extend((resolve(a.name), inside, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    found.append((resolve(full if full in known else base), inside, child.lineno))
            visit(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.Lambda)))

    visit(ast.parse(source), False)
    return found


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """``{module: genlab modules it imports}`` (at the top or inside functions)."""
    known = set(sources) | {f"{m}.__init__" for m in sources
                            if any(o.startswith(m + ".") for o in sources)}
    return {name: {m for m, _, _ in imports_of(name, source, known)
                   if m.startswith("genlab") and m in sources and m != name}
            for name, source in sources.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``"a (layer i) imports b (layer j > i)"`` for every import of a higher layer."""
    return sorted(f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
                  for a, targets in graph.items() for b in targets if layer_of(b) > layer_of(a))


def misplaced_local_imports(sources: dict[str, str]) -> list[str]:
    """``"module:line imports x inside a function"`` for every function-local import that
    is not of a :data:`HEAVY_OPTIONAL` library (a genlab module never qualifies)."""
    known = set(sources) | {f"{m}.__init__" for m in sources
                            if any(o.startswith(m + ".") for o in sources)}
    return sorted({f"{name}:{line} imports {imported} inside a function"
                  for name, source in sources.items()
                  for imported, inside, line in imports_of(name, source, known)
                  if inside and (imported.startswith("genlab") or imported not in HEAVY_OPTIONAL)})


def test_every_module_has_a_layer():
    for name in _modules():
        layer_of(name)


def test_the_package_has_no_import_cycle():
    found = cycles(import_graph(_sources()))
    assert not found, f"import cycles (strongly connected components): {found}"


def test_no_module_imports_a_higher_layer():
    found = upward_imports(import_graph(_sources()))
    assert not found, "imports that point up the layers:\n" + "\n".join(found)


def test_imports_inside_functions_are_only_for_heavy_optional_libraries():
    found = misplaced_local_imports(_sources())
    assert not found, ("import these at the top of the module (only heavy optional "
                       f"libraries, {HEAVY_OPTIONAL}, may wait for a function):\n"
                       + "\n".join(found))


def test_the_checks_catch_a_planted_cycle_upward_import_and_local_import():
    sources = {
        "genlab": "",
        "genlab.data": "",
        "genlab.data.a": "from genlab.data import b\n",
        "genlab.data.b": "import genlab.data.c\n",
        "genlab.data.c": "def f():\n    from genlab.data.a import thing\n",  # a 3-cycle
        "genlab.losses": "",
        "genlab.losses.x": ("import json\n"
                            "from typing import TYPE_CHECKING\n"
                            "if TYPE_CHECKING:\n    from genlab.train import loop\n"
                            "def g():\n    import matplotlib.pyplot as plt\n    import os\n"),
        "genlab.train": "",
        "genlab.train.loop": "from genlab.losses import x\n",
        "genlab.models": "",
        "genlab.models.net": "from genlab.train.loop import run\n",   # upward
    }
    graph = import_graph(sources)
    assert cycles(graph) == [["genlab.data.a", "genlab.data.b", "genlab.data.c"]]
    assert upward_imports(graph) == [
        "genlab.models.net (layer 1) imports genlab.train.loop (layer 4)"]
    assert misplaced_local_imports(sources) == [
        "genlab.data.c:2 imports genlab.data.a inside a function",
        "genlab.losses.x:7 imports os inside a function"]
    # the TYPE_CHECKING import is no edge, and pairs alone would miss the 3-cycle
    assert graph["genlab.losses.x"] == set()
    assert not any(a in graph[b] for a in graph for b in graph[a])
    with pytest.raises(KeyError, match="genlab.nowhere.module has no layer"):
        layer_of("genlab.nowhere.module")


def test_no_genlab_module_loads_a_heavy_library_at_import():
    code = (
        "import importlib, pkgutil, sys, genlab\n"
        f"heavy = {NOT_AT_IMPORT!r}\n"
        "bad = {}\n"
        "for info in pkgutil.walk_packages(genlab.__path__, 'genlab.'):\n"
        "    leaf = info.name.rpartition('.')[2]\n"
        "    if leaf == '__main__' or not leaf.isidentifier():\n"
        "        continue\n"
        "    before = {h for h in heavy if h in sys.modules}\n"
        "    importlib.import_module(info.name)\n"
        "    new = sorted({h for h in heavy if h in sys.modules} - before)\n"
        "    if new:\n"
        "        bad[info.name] = new\n"
        "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "{}", f"modules that load heavy libraries when imported: {out}"


def test_no_module_prefixes_at_the_package_root():
    loose = sorted(p.name for p in GENLAB.glob("*.py")
                   if p.stem.startswith(("viz_", "optim_", "toys_")))
    assert not loose, f"put these in their package (genlab/viz/, genlab/toys/): {loose}"


def test_one_optimizer_factory_and_one_preset_table():
    defining = sorted(str(p.relative_to(GENLAB)) for p in GENLAB.rglob("*.py")
                      if "def make_optimizer(" in p.read_text(encoding="utf-8"))
    assert defining == ["optim.py"]
    from genlab.optim import PRESETS as OPTIMIZERS
    from genlab.train.gan import PRESETS as RECIPES

    # every GAN recipe's optimizer numbers are those of an optimizer preset
    for loss, recipe in RECIPES.items():
        kind = {"adam": "Adam", "rmsprop": "RMSprop"}[recipe["optimizer"]]
        assert any(p["optimizer"] == kind and p["lr"] == recipe["lr_g"] == recipe["lr_d"]
                   and tuple(p.get("betas", ())) == tuple(recipe.get("betas", ()))
                   for p in OPTIMIZERS.values()), loss


@pytest.mark.parametrize("name", ["image_grid", "scatter_2d", "plot_series"])
def test_the_shared_figure_helpers_keep_their_genlab_viz_names(name):
    import genlab

    assert callable(getattr(genlab.viz, name))


@pytest.mark.parametrize("module, name", [
    ("gan", "plot_gallery"), ("vae", "kl_heatmap"), ("diffusion", "plot_schedule_curves"),
    ("stabilize", "plot_label_smoothing"),
])
def test_each_chapter_has_its_figure_module(module, name):
    import genlab

    assert callable(getattr(getattr(genlab.viz, module), name))


def test_chapter_toys_live_in_genlab_toys():
    import genlab

    assert callable(genlab.toys.optimizers.dirac_gan_trajectory)


def test_import_genlab_loads_neither_matplotlib_nor_the_figure_modules():
    code = ("import sys, genlab; "
            "print(sorted(m for m in sys.modules if m.startswith(('matplotlib', 'genlab.viz', "
            "'genlab.toys'))))")  # (torch itself imports tqdm)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
