"""Mode coverage on 2-D mixtures, Frechet distance, FID and IS on digits.

Modules load on first use: ``genlab.metrics.<module>`` imports ``<module>`` when accessed.
"""

from genlab._lazy import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
