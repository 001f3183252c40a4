"""``python -m genlab.finetune lm``: one process, and two CPU processes under torchrun."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
ARGS = ["lm", "--method", "lora", "--steps", "6", "--batch-size", "8", "--cpu",
        "--eval-blocks", "16", "--no-progress"]


def _env():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def test_the_cli_under_two_torchrun_processes_matches_one_process_with_the_same_global_batch(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    one = subprocess.run([sys.executable, "-m", "genlab.finetune", *ARGS, "--json",
                          str(tmp_path / "one.json"), "--out", str(tmp_path / "lora")],
                         env=_env(), capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m",
                          "genlab.finetune", *ARGS, "--json", str(tmp_path / "two.json")],
                         env=_env(), capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    a = json.loads((tmp_path / "one.json").read_text())
    b = json.loads((tmp_path / "two.json").read_text())
    assert a["num_processes"] == 1 and b["num_processes"] == 2
    assert a["trainable_parameters"] == b["trainable_parameters"] == 8192
    assert a["steps"] == b["steps"] == list(range(1, 7))
    assert a["loss"][-1] < a["loss"][0], "six LoRA updates should lower the training loss"
    # float32: two processes average two half-batch gradients (DDP all-reduce) where one
    # process averages 8 rows at once: the same sum in another order, ~1e-7 relative per
    # step; Adam divides by sqrt(v), which can amplify that in tiny gradient entries, so
    # the trajectories agree to ~1e-6 after six steps. 1e-4 leaves room and still fails
    # for a wrong sharding (other rows: differences of 1e-2 and more).
    torch.testing.assert_close(torch.tensor(b["loss"]), torch.tensor(a["loss"]),
                               rtol=1e-4, atol=0)
    for key in ("domain_ppl", "general_ppl"):
        assert b[key] == pytest.approx(a[key], rel=1e-4)
    assert a["checkpoint_bytes"] == (tmp_path / "lora" / "adapter_model.safetensors").stat().st_size
    assert "1 process(es)" in one.stdout and "2 process(es)" in two.stdout


def test_the_cli_rejects_an_unknown_method_with_the_choices():
    result = subprocess.run([sys.executable, "-m", "genlab.finetune", "lm", "--method", "qlora"],
                            env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "invalid choice: 'qlora'" in result.stderr and "lora" in result.stderr
