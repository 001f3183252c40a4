"""One module per chapter (``NN_topic.py``): that chapter's exercises for the clean room.

See docs/grading.md for the contract. Modules are found by chapter id with
``importlib.import_module("genlab.grading.specs." + chapter)``.
"""
