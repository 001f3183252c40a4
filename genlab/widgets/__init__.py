"""ipywidgets front-ends: thin wrappers over pure functions tested without a browser.

Modules load on first use: ``genlab.widgets.<module>`` imports ``<module>`` when accessed.
"""

from genlab._lazy import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
