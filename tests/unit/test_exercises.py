"""exercises.forbid: a learner's answer that only delegates to genlab's reference fails."""

import pytest

import genlab.data.toy2d as toy2d
from genlab.exercises import forbid


def test_forbid_catches_module_and_imported_names_then_restores():
    namespace = {"ring": toy2d.ring_centers, "toy2d": toy2d}

    def via_module():
        return namespace["toy2d"].ring_centers()

    def via_name():
        return namespace["ring"]()

    with forbid(toy2d.ring_centers, namespace=namespace):
        for answer in (via_module, via_name):
            with pytest.raises(AssertionError, match="implement the idea yourself"):
                answer()
        assert toy2d.grid_centers().shape == (25, 2)  # other functions untouched
    assert via_module().shape == (8, 2) and via_name().shape == (8, 2)


def test_forbid_rejects_non_functions():
    with pytest.raises(TypeError, match="references"):
        with forbid(42, namespace={}):
            pass
