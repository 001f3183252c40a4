"""The builders of the shipped checkpoints: one module per checkpoint of :mod:`genlab.pretrained`.

Each module holds its checkpoint's ``RECIPE``, the training and evaluation it runs and a
``build(folder=None, verbose=True, ...)`` that writes the files and records them in the
registry (:func:`genlab.pretrained.store.record`). Builders train with ``genlab.train`` and
``genlab.finetune``, so this package sits above both; the loaders in ``genlab.pretrained``
sit below ``metrics`` and never import a builder. ``python -m genlab.pretrained build
<name>`` runs :data:`BUILDERS`; modules load on first use.
"""

from genlab._lazy import lazy_submodules

# registry name -> the module whose build() makes it
BUILDERS = {
    "digits-features": "genlab.recipes.digits_features",
    "dcgan-digits-0to8": "genlab.recipes.dcgan_digits_0to8",
    "digits-diffusion": "genlab.recipes.digits_diffusion",
    "digits-t2i": "genlab.recipes.digits_t2i",
    "gan2d-grid-islands": "genlab.recipes.gan2d_islands",
    "tiny-llama-general": "genlab.recipes.tiny_lm",
}

__getattr__ = lazy_submodules(__name__, __path__)
