"""Small checkpoints the course trains and ships as safetensors.

Modules load on first use: ``genlab.pretrained.<module>`` imports ``<module>`` when accessed.
"""

from genlab._lazy import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
