"""The long runs chapters 01, 03 and 06 ship beside their short live ones.

Each is a safetensors file with a recorded SHA-256, rebuilt byte for byte by its builder,
and was trained by the very call the chapter shows: its first recorded losses are those
of a fresh run of that call.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys

import pytest
import torch

from genlab.pretrained import digits_diffusion, gan2d_islands, store
from genlab.pretrained.store import package_dir, read_registry
from genlab.recipes import digits_diffusion as diffusion_recipe
from genlab.recipes import gan2d_islands as islands_recipe

MODULES = [digits_diffusion, gan2d_islands]
RECIPES = {digits_diffusion: diffusion_recipe, gan2d_islands: islands_recipe}


def _header(path):
    raw = path.read_bytes()
    return raw, json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_shipped_file_is_small_safetensors_with_its_hash_and_full_recipe(module):
    entry = read_registry()[module.NAME]
    path = package_dir() / entry["file"]
    raw, header = _header(path)
    assert all(v["dtype"] == "F32" for k, v in header.items() if k != "__metadata__")
    assert len(raw) < 1_200_000 and entry["bytes"] == len(raw)
    assert entry["recipe"] == RECIPES[module].RECIPE and "note" not in entry
    assert entry["files"] == {entry["file"]: store.sha256_of_file(path)}
    assert module.verify() == path


def test_diffusion_loader_gives_fresh_models_and_the_build_history():
    model, history = digits_diffusion.load_digits_diffusion("v")
    assert not model.training and all(p.requires_grad for p in model.parameters())
    assert len(history["loss"]) == diffusion_recipe.RECIPE["steps"]
    assert history.meta["prediction"] == "v" and history.meta["alphas_cumprod"].shape == (1000,)
    x = torch.randn(3, 1, 8, 8)
    assert model(x, torch.tensor([0, 500, 999])).shape == (3, 1, 8, 8)
    with torch.no_grad():
        next(model.parameters()).zero_()
    again, _ = digits_diffusion.load_digits_diffusion("v")
    assert next(again.parameters()).abs().sum() > 0, "a later load saw an earlier one's edit"
    eps, _ = digits_diffusion.load_digits_diffusion("epsilon")
    assert not torch.equal(next(eps.parameters()), next(again.parameters()))


def test_islands_loader_gives_a_run_shaped_like_train_gan_2d():
    from genlab.models.latent import MixturePrior

    run = gan2d_islands.load_gan2d_grid_islands()
    assert run.centers.shape == (25, 2) and run.std == pytest.approx(0.05)
    assert isinstance(run.latent_prior, MixturePrior)
    # the stored means, which a recomputed prior matches to float rounding on any CPU
    torch.testing.assert_close(run.latent_prior.means, MixturePrior(8, 128, 0.05, seed=0).means,
                               rtol=0, atol=1e-5)
    stored = store.load_verified(gan2d_islands.NAME)[0]["prior.means"]
    assert torch.equal(run.latent_prior.means, stored)
    assert run.generator(run.latent_prior.sample(4)).shape == (4, 2)
    assert len(run.history["g_loss"]) == len(run.history["d_loss"]) == 4000


def test_shipped_diffusion_models_score_what_the_registry_records():
    entry = read_registry()[digits_diffusion.NAME]
    for prediction in digits_diffusion.PREDICTIONS:
        model, history = digits_diffusion.load_digits_diffusion(prediction)
        got = diffusion_recipe.evaluate(model, prediction, history.meta["alphas_cumprod"])
        # the same weights and noise as at build time; a 50-step DDIM chain in float32 on
        # another kernel path moves the FID of 360 samples by far less than 0.2
        assert got["fid"] == pytest.approx(entry["quality"][prediction]["fid"], abs=0.2)
        assert got["fid_over_floor"] <= diffusion_recipe.MAX_FID_OVER_FLOOR
        assert got["confident"] == pytest.approx(entry["quality"][prediction]["confident"],
                                                 abs=0.02)


def test_shipped_islands_run_covers_the_grid_as_recorded():
    entry = read_registry()[gan2d_islands.NAME]
    got = islands_recipe.evaluate(gan2d_islands.load_gan2d_grid_islands())
    for temperature, recorded in entry["quality"].items():
        assert got[temperature]["modes"] == recorded["modes"] == 25
        assert got[temperature]["high_quality"] == pytest.approx(recorded["high_quality"],
                                                                 abs=0.005)
    assert got["T=0.5"]["high_quality"] >= islands_recipe.MIN_HIGH_QUALITY


def _first_steps(train, k=4):
    """The history of ``train(callback=...)`` stopped by Ctrl-C after ``k`` steps."""
    def stop(step, history):
        if step == k:  # steps count from 1 in every loop
            raise KeyboardInterrupt
    return train(stop)


def test_shipped_diffusion_was_trained_by_the_chapter_call():
    from genlab.train.diffusion import train_digits_diffusion

    _, shipped = digits_diffusion.load_digits_diffusion("epsilon")
    # the chapter's call, with only steps changed; stopped after 4 of the 1,500 steps
    _, fresh = _first_steps(lambda cb: train_digits_diffusion(
        "epsilon", steps=1500, seed=0, device="cpu", progress=False, callback=cb))
    assert fresh.meta["interrupted"] and len(fresh["loss"]) == 4
    torch.testing.assert_close(torch.tensor(fresh["loss"]), torch.tensor(shipped["loss"][:4]),
                               rtol=1e-4, atol=1e-5)


def test_shipped_islands_were_trained_by_the_chapter_call():
    from genlab.train.gan import train_gan_2d

    shipped = gan2d_islands.load_gan2d_grid_islands()
    fresh = _first_steps(lambda cb: train_gan_2d(
        "grid", "nonsaturating", latent="mixture", latent_dim=8, n_components=128,
        component_std=0.05, steps=4000, g_lr=5e-3, d_lr=5e-3, betas=(0.0, 0.9),
        lr_decay=True, device="cpu", progress=False, callback=cb)).history
    for name in ("d_loss", "g_loss"):
        got = torch.tensor(fresh[name])  # the steps logged before the interrupt
        assert len(got) >= 3
        torch.testing.assert_close(got, torch.tensor(shipped.history[name][:len(got)]),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_tampered_or_missing_files_refuse_to_load(module, tmp_path):
    with pytest.raises(FileNotFoundError, match=f"build {module.NAME}"):
        module.load_from(tmp_path)
    shutil.copy(package_dir() / "registry.json", tmp_path / "registry.json")
    with pytest.raises(FileNotFoundError, match="missing"):
        module.load_from(tmp_path)
    raw = bytearray((package_dir() / module.FILENAME).read_bytes())
    raw[-1] ^= 0x01  # one bit of the last tensor
    (tmp_path / module.FILENAME).write_bytes(bytes(raw))
    with pytest.raises(store.ChecksumError, match="corrupted or was replaced"):
        module.load_from(tmp_path)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_two_smoke_builds_give_the_same_bytes_and_keep_other_entries(module, tmp_path):
    hashes = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "registry.json").write_text(json.dumps({"other-model": {"sha256": "x"}}))
        RECIPES[module].build(folder, verbose=False, steps=3)
        registry = read_registry(folder)
        assert registry["other-model"] == {"sha256": "x"}, "the build rewrote another entry"
        assert registry[module.NAME]["recipe"]["steps"] == 3
        assert "smoke build" in registry[module.NAME]["note"]
        hashes.append(registry[module.NAME]["files"])
        module.load_from(folder)  # the smoke file loads through the hash check
    assert hashes[0] == hashes[1], "two builds by the same recipe gave different bytes"
    assert hashes[0] != read_registry()[module.NAME]["files"]


def test_bad_arguments_name_what_was_expected(tmp_path):
    with pytest.raises(ValueError, match="prediction"):
        digits_diffusion.load_digits_diffusion("x0")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        diffusion_recipe.build(tmp_path, verbose=False, steps=0)
    with pytest.raises(TypeError, match="steps must be an int"):
        islands_recipe.build(tmp_path, verbose=False, steps=2.5)


def test_command_line_verifies_both():
    for name in (digits_diffusion.NAME, gan2d_islands.NAME):
        result = subprocess.run([sys.executable, "-m", "genlab.pretrained", "verify", name],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert f"{name}: OK" in result.stdout


def test_islands_file_with_other_means_than_its_recipe_is_refused(tmp_path):
    tensors, entry = store.load_verified(gan2d_islands.NAME)
    tensors["prior.means"] = tensors["prior.means"] + 0.01  # islands the recipe never drew
    path = tmp_path / gan2d_islands.FILENAME
    store.save_tensors(path, tensors)
    fields = {k: v for k, v in entry.items() if k not in ("file", "files", "bytes", "rebuild")}
    store.record(tmp_path, gan2d_islands.NAME, path, gan2d_islands.REBUILD, **fields)
    with pytest.raises(ValueError, match="island means are not those of MixturePrior"):
        gan2d_islands.load_from(tmp_path)
