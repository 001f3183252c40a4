"""The course's loss functions, each tested against an independent oracle.

Modules load on first use: ``genlab.losses.<module>`` imports ``<module>`` when accessed.
"""

from genlab._lazy import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
