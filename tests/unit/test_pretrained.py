"""The shipped digits feature network: safetensors, hash-verified, rebuildable, accurate."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys

import pytest
import torch

from genlab.pretrained import digits_features as df


def test_shipped_checkpoint_is_a_small_safetensors_file_whose_hash_is_recorded():
    entry = df.read_registry()[df.NAME]
    path = df.package_dir() / entry["file"]
    raw = path.read_bytes()
    # safetensors: an 8-byte little-endian header length, then a JSON header. A pickle
    # (torch.save) would start with a zip or pickle magic instead.
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_len])
    assert "hidden.weight" in header and header["hidden.weight"]["dtype"] == "F32"
    assert len(raw) < 100_000, "the feature network should stay tiny (tens of KB)"
    assert df.sha256_of_file(path) == entry["sha256"]
    assert df.verify() == path


def test_shipped_network_classifies_the_test_split_with_at_least_97_percent_accuracy():
    net = df.load_digits_features()
    assert not net.training
    assert all(not p.requires_grad for p in net.parameters())
    assert df.test_accuracy(net) >= 0.97


def test_loading_a_tampered_checkpoint_raises_a_checksum_error(tmp_path):
    folder = df.package_dir()
    shutil.copy(folder / df.REGISTRY, tmp_path / df.REGISTRY)
    raw = bytearray((folder / df.FILENAME).read_bytes())
    raw[-1] ^= 0x01  # flip one bit of the last weight
    (tmp_path / df.FILENAME).write_bytes(bytes(raw))
    with pytest.raises(df.ChecksumError, match="corrupted or was replaced"):
        df.load_from(tmp_path)


def test_missing_checkpoint_or_registry_entry_says_how_to_rebuild(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m genlab.pretrained build"):
        df.load_from(tmp_path)
    shutil.copy(df.package_dir() / df.REGISTRY, tmp_path / df.REGISTRY)
    with pytest.raises(FileNotFoundError, match="missing"):
        df.load_from(tmp_path)


def test_features_have_the_recorded_size_and_reject_wrong_image_shapes():
    net = df.load_digits_features()
    images = torch.zeros(5, 1, 8, 8)
    assert net.features(images).shape == (5, net.num_features)
    assert net(images).shape == (5, 10)
    with pytest.raises(ValueError, match=r"\(n, 1, 8, 8\)"):
        net.features(torch.zeros(5, 64, 1, 1))


def test_build_script_rebuilds_the_shipped_checkpoint_byte_for_byte(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "genlab.pretrained", "build", "digits-features", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rebuilt = df.read_registry(tmp_path)[df.NAME]
    shipped = df.read_registry()[df.NAME]
    assert rebuilt["sha256"] == shipped["sha256"], (
        "the build script no longer reproduces the shipped checkpoint; if the recipe "
        "changed on purpose, rebuild it with `python -m genlab.pretrained build digits-features`"
    )
    assert rebuilt["test_accuracy"] >= df.MIN_TEST_ACCURACY
