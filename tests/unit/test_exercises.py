"""genlab.exercises: the reference refuses through every alias, because its code does."""

import functools
import importlib

import pytest

import genlab.data.toy2d as toy2d
from genlab.exercises import forbid, functions_of, guard, refusing_code


def test_forbid_catches_aliases_captured_references_and_partials_then_restores():
    alias = toy2d.ring_centers
    registry = {"ring": toy2d.ring_centers}
    partial = functools.partial(toy2d.ring_centers)

    def default_arg(f=toy2d.ring_centers):
        return f()

    def closure():
        captured = toy2d.ring_centers
        return lambda: captured()

    routes = [alias, registry["ring"], partial, default_arg, closure(), toy2d.ring_centers]
    with forbid(toy2d.ring_centers):
        for route in routes:
            with pytest.raises(AssertionError, match="implement the idea yourself"):
                route()
        assert toy2d.grid_centers().shape == (25, 2)  # other functions untouched
    assert all(route().shape == (8, 2) for route in routes)


def test_functions_of_follows_wrapped_chains_and_rejects_non_functions():
    @functools.wraps(toy2d.ring_centers)
    def wrapper(*a, **k):
        return toy2d.ring_centers(*a, **k)

    assert functions_of(wrapper) == [wrapper, toy2d.ring_centers]
    with pytest.raises(TypeError, match="references"):
        functions_of(42)
    with pytest.raises(TypeError, match="class"):
        functions_of(dict)


def test_refusing_code_keeps_the_number_of_free_variables():
    a, b = 1, 2

    def uses_two():
        return a + b

    uses_two.__code__ = refusing_code(2, "no")  # would raise ValueError with another count
    with pytest.raises(AssertionError, match="no"):
        uses_two()


def test_guard_is_permanent_and_needs_no_name(tmp_path, monkeypatch):
    module_file = tmp_path / "victim_mod.py"
    module_file.write_text("def answer(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    victim = importlib.import_module("victim_mod")
    kept = victim.answer
    assert guard(victim.answer) == ["victim_mod.answer"]
    with pytest.raises(AssertionError, match="victim_mod.answer"):
        kept(3)
