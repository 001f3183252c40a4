"""genlab core: device, seeding, run mode, input checks, History."""

import math
import subprocess
import sys

import pytest
import torch

import genlab
from genlab._checks import check_int, check_positive, check_same_shape, check_tensor
from genlab.train import DivergenceError, History


def test_get_device_defaults_to_an_available_device(monkeypatch):
    monkeypatch.delenv("GENLAB_DEVICE", raising=False)
    device = genlab.get_device()
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert device.type == expected


def test_genlab_device_overrides_the_choice(monkeypatch):
    monkeypatch.setenv("GENLAB_DEVICE", "cpu")
    assert genlab.get_device() == torch.device("cpu")


def test_genlab_device_rejects_unknown_or_missing_devices(monkeypatch):
    monkeypatch.setenv("GENLAB_DEVICE", "tpu")
    with pytest.raises(ValueError, match="GENLAB_DEVICE"):
        genlab.get_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("GENLAB_DEVICE", "cuda")
        with pytest.raises(RuntimeError, match="CUDA"):
            genlab.get_device()


def test_seed_everything_makes_torch_and_numpy_repeatable():
    import numpy as np

    genlab.seed_everything(123)
    a = (torch.randn(5), np.random.rand(3))
    genlab.seed_everything(123)
    b = (torch.randn(5), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all()


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, True, "1"])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises((TypeError, ValueError), match="seed"):
        genlab.seed_everything(bad)


def test_budget_shrinks_only_while_nbgrader_executes(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert genlab.budget(1000, 10) == 1000 and not genlab.is_grading()
    for mode in ("autograde", "validate"):
        monkeypatch.setenv("NBGRADER_EXECUTION", mode)
        assert genlab.budget(1000, 10) == 10 and genlab.is_grading()


def test_import_genlab_loads_no_heavy_library():
    heavy = ["matplotlib", "sklearn", "ipywidgets", "diffusers", "peft", "transformers",
             "torchmetrics", "scipy", "nbgrader"]
    code = ("import sys, genlab; "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_subpackages_load_on_attribute_access():
    assert genlab.data.load_digits is not None
    assert genlab.train.History is History
    with pytest.raises(AttributeError):
        genlab.no_such_module  # noqa: B018


def test_check_tensor_names_the_argument():
    with pytest.raises(TypeError, match="fake_logits"):
        check_tensor("fake_logits", [1.0, 2.0])
    with pytest.raises(ValueError, match="fake_logits.*floating"):
        check_tensor("fake_logits", torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="fake_logits.*NaN"):
        check_tensor("fake_logits", torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        check_tensor("x", torch.zeros(3), ndim=2)
    x = torch.zeros(2, 3)
    assert check_tensor("x", x, ndim=(1, 2)) is x


def test_other_checks_reject_bad_values():
    with pytest.raises(ValueError, match="a and b"):
        check_same_shape("a", torch.zeros(2), "b", torch.zeros(3))
    with pytest.raises(ValueError, match="lr must be > 0"):
        check_positive("lr", 0.0)
    assert check_positive("lr", 0.0, allow_zero=True) == 0.0
    with pytest.raises(ValueError, match="finite"):
        check_positive("lr", math.inf)
    with pytest.raises(TypeError, match="steps must be an int"):
        check_int("steps", 2.0)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        check_int("steps", 0, minimum=1)


def test_history_keeps_series_and_their_steps_apart():
    h = History()
    h.log(0, d_loss=1.0, g_loss=torch.tensor(2.0))
    h.log(1, d_loss=0.5)
    assert h["d_loss"] == [1.0, 0.5] and h.steps["d_loss"] == [0, 1]
    assert h["g_loss"] == [2.0] and h.steps["g_loss"] == [0]
    assert h.last("d_loss") == 0.5 and "g_loss" in h and h.names() == ["d_loss", "g_loss"]
    with pytest.raises(KeyError, match="recorded"):
        h["fid"]


def test_history_check_finite_stops_with_the_record_kept():
    h = History()
    h.log(0, loss=1.0)
    with pytest.raises(DivergenceError, match="loss became nan at step 1") as info:
        h.check_finite(1, loss=float("nan"))
    assert info.value.history is h and h["loss"] == [1.0]


def test_device_offers_the_mixed_precision_recipe_of_stabilize():
    from genlab.device import mixed_precision

    recipe = mixed_precision("bf16", "cpu")
    assert recipe.enabled and recipe.dtype == torch.bfloat16 and not recipe.needs_scaler
    assert not mixed_precision(False, "cpu").enabled
