"""Freezing, unfreezing, LoRA, adapters, prompt tuning, DreamBooth, textual inversion.

Modules load on first use: ``genlab.finetune.<module>`` imports ``<module>`` when accessed.
"""

from genlab._lazy import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
