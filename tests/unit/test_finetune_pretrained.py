"""The shipped tiny Llama: safetensors, hash-checked, rebuilt deterministically, useful."""

from __future__ import annotations

import json
import os
import shutil
import struct

import pytest

from genlab.pretrained import store, tiny_lm
from genlab.recipes import tiny_lm as lm_recipe

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_shipped_folder_is_a_small_save_pretrained_folder_whose_hashes_are_recorded():
    entry = store.read_registry()[tiny_lm.NAME]
    folder = tiny_lm.model_dir()
    assert entry["file"] == tiny_lm.FOLDER
    assert sorted(entry["files"]) == sorted(f"{tiny_lm.FOLDER}/{p.name}" for p in folder.iterdir())
    assert not any(p.suffix in (".bin", ".pt", ".pth", ".pkl") for p in folder.iterdir())
    raw = (folder / "model.safetensors").read_bytes()
    header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
    assert header["model.embed_tokens.weight"]["dtype"] == "F32"
    assert entry["bytes"] < 1_000_000, "the shipped LM should stay under 1 MB"
    for name, digest in entry["files"].items():
        assert store.sha256_of_file(store.package_dir() / name) == digest
    assert tiny_lm.verify() == folder


def test_shipped_model_loads_with_from_pretrained_and_knows_general_better_than_legal_text():
    from genlab.data import text
    from genlab.finetune.lm import perplexity

    model, tokenizer = tiny_lm.load_tiny_lm()
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == store.read_registry()[tiny_lm.NAME]["parameters"]
    general = perplexity(model, text.pack_blocks(text.load_corpus("general", "test"), tokenizer))
    legal = perplexity(model, text.pack_blocks(text.load_corpus("legal", "test"), tokenizer))
    entry = store.read_registry()[tiny_lm.NAME]
    # the registry's numbers are reproduced (float32 model: rounding only)
    assert general == pytest.approx(entry["general_test_ppl"], rel=1e-4)
    assert legal == pytest.approx(entry["legal_test_ppl"], rel=1e-4)
    # the 0.5% legal trace taught it some legal text (about 4.0), but clearly less well
    assert general < lm_recipe.MAX_GENERAL_PPL and legal > 1.3 * general


def test_a_tampered_or_extra_file_raises_and_a_missing_one_says_how_to_rebuild(tmp_path):
    shutil.copy(store.package_dir() / "registry.json", tmp_path / "registry.json")
    shutil.copytree(tiny_lm.model_dir(), tmp_path / tiny_lm.FOLDER)
    assert tiny_lm.verify(tmp_path) == tmp_path / tiny_lm.FOLDER
    weights = tmp_path / tiny_lm.FOLDER / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 0x01
    weights.write_bytes(bytes(raw))
    with pytest.raises(store.ChecksumError, match="corrupted or was replaced"):
        tiny_lm.load_tiny_lm(tmp_path)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="python -m genlab.pretrained build"):
        tiny_lm.verify(tmp_path)
    shutil.copy(tiny_lm.model_dir() / "model.safetensors", weights)
    (tmp_path / tiny_lm.FOLDER / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(store.ChecksumError, match="does not know"):
        tiny_lm.verify(tmp_path)
    with pytest.raises(FileNotFoundError, match="no 'tiny-llama-general' entry"):
        tiny_lm.verify(tmp_path / "empty")


def test_rebuilding_with_a_few_steps_twice_gives_the_same_files(tmp_path):
    recipe = {"steps": 3, "warmup_steps": 1}
    hashes = []
    for run in ("a", "b"):
        lm_recipe.build(tmp_path / run, verbose=False, recipe=recipe)
        hashes.append(store.read_registry(tmp_path / run)[tiny_lm.NAME]["files"])
    assert hashes[0] == hashes[1]
    assert set(hashes[0]) >= {f"{tiny_lm.FOLDER}/{name}" for name in
                              ("config.json", "model.safetensors", "tokenizer.json")}
