"""Small networks that train on a CPU: 2-D MLPs, digit conv nets, a VAE, a U-Net.

Modules load on first use: ``genlab.models.<module>`` imports ``<module>`` when accessed.
"""

from genlab._lazy import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
