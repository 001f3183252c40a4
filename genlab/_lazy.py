"""Sub-packages import their modules on first attribute access (keeps ``import genlab`` fast)."""

from __future__ import annotations

import importlib
import pkgutil


def lazy_submodules(package_name: str, package_path):
    """Return a module ``__getattr__`` that imports ``package_name.<attr>`` on demand."""
    names = {m.name for m in pkgutil.iter_modules(package_path)}

    def __getattr__(attr: str):
        if attr in names:
            return importlib.import_module(f"{package_name}.{attr}")
        raise AttributeError(f"module {package_name!r} has no attribute {attr!r}")

    return __getattr__
