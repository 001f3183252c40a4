"""The shipped 0-8 digits DCGAN: safetensors, hash-verified, rebuildable, never drew a nine."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys

import pytest
import torch

from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
from genlab.pretrained import dcgan_digits_0to8 as dcgan
from genlab.pretrained import store
from genlab.recipes import dcgan_digits_0to8 as recipe


def test_shipped_checkpoint_is_a_small_safetensors_file_whose_hash_is_recorded():
    entry = store.read_registry()[dcgan.NAME]
    path = store.package_dir() / entry["file"]
    raw = path.read_bytes()
    # safetensors: an 8-byte little-endian header length, then a JSON header (a pickle
    # from torch.save would start with a zip or pickle magic instead).
    header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
    assert header["generator.project.weight"]["dtype"] == "F32"
    assert header["discriminator.body.5.weight"]["shape"] == [1, 256]
    assert len(raw) < 500_000, "the shipped GAN should stay small (about 0.34 MB)"
    assert entry["recipe"]["steps"] == recipe.RECIPE["steps"] and "note" not in entry
    assert entry["files"] == {entry["file"]: store.sha256_of_file(path)}
    assert dcgan.verify() == path


def test_loader_returns_a_fresh_trainable_generator_and_discriminator_with_the_recipe_sizes():
    generator, discriminator = dcgan.load_dcgan_digits_0to8()
    assert isinstance(generator, DigitsGenerator) and isinstance(discriminator, DigitsDiscriminator)
    assert generator.latent_dim == 16 and generator.width == 32
    assert all(p.requires_grad for p in [*generator.parameters(), *discriminator.parameters()])
    images = generator(torch.randn(5, 16))
    assert images.shape == (5, 1, 8, 8) and images.abs().max() <= 1
    assert discriminator(images).shape == (5,)
    with torch.no_grad():  # a later load must not see changes made to an earlier one
        generator.project.weight.zero_()
    assert dcgan.load_dcgan_digits_0to8()[0].project.weight.abs().sum() > 0


def test_shipped_generator_draws_the_old_digits_and_almost_no_nines():
    generator, _ = dcgan.load_dcgan_digits_0to8()
    entry = store.read_registry()[dcgan.NAME]
    quality = recipe.evaluate(generator)
    # Same weights and noise as at build time; only float32 kernel rounding may differ,
    # far below the 3 decimals recorded.
    assert quality["fid_test_0to8"] == pytest.approx(entry["fid_test_0to8"], abs=0.05)
    assert quality["fid_test_0to8"] <= recipe.MAX_FID_0TO8
    assert quality["share_nine"] <= recipe.MAX_SHARE_NINE


def test_pretraining_images_hold_digits_0_to_8_only():
    from genlab.data import load_digits

    images = recipe.pretraining_images()
    train, labels = load_digits("train")
    assert len(images) == int((labels != 9).sum()) and images.shape[1:] == (1, 8, 8)
    assert torch.equal(images, train[labels != 9])


def test_loading_a_tampered_checkpoint_raises_a_checksum_error(tmp_path):
    folder = store.package_dir()
    shutil.copy(folder / store.REGISTRY, tmp_path / store.REGISTRY)
    raw = bytearray((folder / dcgan.FILENAME).read_bytes())
    raw[-1] ^= 0x01  # flip one bit of the last weight
    (tmp_path / dcgan.FILENAME).write_bytes(bytes(raw))
    with pytest.raises(store.ChecksumError, match="corrupted or was replaced"):
        dcgan.load_from(tmp_path)


def test_missing_checkpoint_or_registry_entry_says_how_to_rebuild(tmp_path):
    with pytest.raises(FileNotFoundError, match="build dcgan-digits-0to8"):
        dcgan.load_from(tmp_path)
    shutil.copy(store.package_dir() / store.REGISTRY, tmp_path / store.REGISTRY)
    with pytest.raises(FileNotFoundError, match="missing"):
        dcgan.load_from(tmp_path)


def test_two_smoke_builds_give_the_same_bytes_and_keep_other_registry_entries(tmp_path):
    hashes = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / store.REGISTRY).write_text(json.dumps({"other-model": {"sha256": "x"}}))
        recipe.build(folder, verbose=False, steps=5)
        registry = store.read_registry(folder)
        assert registry["other-model"] == {"sha256": "x"}, "the build rewrote another entry"
        entry = registry[dcgan.NAME]
        assert entry["recipe"]["steps"] == 5 and "smoke build" in entry["note"]
        hashes.append(entry["files"])
        generator, _ = dcgan.load_from(folder)  # the smoke file loads through the hash check
    assert hashes[0] == hashes[1], "two builds by the same recipe gave different bytes"
    assert hashes[0] != store.read_registry()[dcgan.NAME]["files"]


def test_build_rejects_a_bad_step_count(tmp_path):
    with pytest.raises(ValueError, match="steps must be >= 1"):
        recipe.build(tmp_path, verbose=False, steps=0)
    with pytest.raises(TypeError, match="steps must be an int"):
        recipe.build(tmp_path, verbose=False, steps=2.5)


def test_command_line_verifies_the_shipped_checkpoint():
    result = subprocess.run([sys.executable, "-m", "genlab.pretrained", "verify",
                             "dcgan-digits-0to8"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "dcgan-digits-0to8: OK" in result.stdout
