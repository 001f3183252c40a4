"""TEMPORARY alias, removed once chapter 08 imports the new path: the style subject and the
personalization measures of chapter 08 moved to :mod:`genlab.finetune.style` (they sample
through fine-tuning code, so they live above ``metrics``)."""

from genlab.finetune.style import *  # noqa: F401,F403
