#!/usr/bin/env bash
# The GPU check: everything the course must show on a machine with an NVIDIA GPU.
#
#   benchmarks/gpu_check.sh                 # on the GPU machine, from a copy of the repository
#   benchmarks/gpu_check.sh --smoke-cpu     # the same steps, tiny and on the CPU (checks the script)
#   benchmarks/gpu_check.sh --download-wheels DIR   # on a networked machine: the extra wheels
#
# Needs only Python with a CUDA build of PyTorch. genlab is used from this folder
# (PYTHONPATH; nothing installed). The parts that need more than torch find it in
# benchmarks/wheels/ (or $GPU_CHECK_WHEELS), installed offline with pip --no-index when
# present: pytest (for `pytest -m gpu`), scikit-learn (the digits), safetensors (FID's
# feature network). A part whose packages are missing is skipped with a message.
#
# Parts, each under its own time limit (120 + 120 + 210 s: under 8 minutes in all):
#   1. pytest -m gpu on the tests marked gpu           -> benchmarks/results/gpu_pytest.json
#   2. the AMP benchmark (benchmarks/amp.py); target: fp16 + GradScaler makes a U-Net
#      training step >= 1.5x faster than fp32           -> benchmarks/results/gpu_amp.json/.md
#   3. each chapter's training recipes on CUDA, timed  -> benchmarks/results/gpu_recipes.json
# and a summary                                         -> benchmarks/results/gpu_check.json
# Without a CUDA device it says so, skips all three and exits 0 (nothing is written).
# Exit status: 0 all parts passed (or skipped for want of a GPU), 1 otherwise.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
WHEELS=${GPU_CHECK_WHEELS:-$ROOT/benchmarks/wheels}
RESULTS=$ROOT/benchmarks/results
AMP_TARGET=1.5
START=$(date +%s)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg

log() { echo "[gpu_check +$(( $(date +%s) - START ))s] $*"; }

MODE=gpu
case "${1:-}" in
  --smoke-cpu) MODE=smoke ;;
  --download-wheels)
    dir=${2:?usage: gpu_check.sh --download-wheels DIR}
    log "downloading pytest, scikit-learn, safetensors and their dependencies into $dir"
    log "(for this machine's Python $("$PY" -c 'import platform; print(platform.python_version())'): run it with the GPU machine's Python version)"
    exec "$PY" -m pip download --only-binary=:all: -d "$dir" pytest scikit-learn safetensors tqdm ;;
  "") ;;
  *) echo "usage: $0 [--smoke-cpu | --download-wheels DIR]" >&2; exit 2 ;;
esac

# one interpreter start: "<cuda available 0/1> <torch version> <CUDA version torch was built for>"
if ! read -r CUDA TORCH_VERSION TORCH_CUDA < <("$PY" -c \
    "import torch; print(int(torch.cuda.is_available()), torch.__version__, torch.version.cuda)" 2>/dev/null); then
  log "PyTorch is not importable with $PY: install a CUDA build of torch (or set PYTHON=...)"
  exit 1
fi
TORCH_INFO="torch $TORCH_VERSION, built for CUDA $TORCH_CUDA"
if [[ $MODE == gpu && $CUDA != 1 ]]; then
  log "no CUDA device visible to torch ($TORCH_INFO): skipping pytest -m gpu, the AMP"
  log "benchmark and the CUDA recipes; nothing written. Run this on a machine with an"
  log "NVIDIA GPU (nvidia-smi lists it) and a CUDA build of PyTorch."
  exit 0
fi
if ! "$PY" -c "import genlab" 2>/dev/null; then
  log "genlab does not import from $ROOT:"; "$PY" -c "import genlab"; exit 1
fi

has() { "$PY" -c "import $1" 2>/dev/null; }
missing=()
for module in pytest sklearn safetensors; do has "$module" || missing+=("$module"); done
if ((${#missing[@]})) && compgen -G "$WHEELS/*.whl" >/dev/null; then
  log "installing ${missing[*]} from $WHEELS (offline)"
  "$PY" -m pip install -q --no-index --find-links "$WHEELS" pytest scikit-learn safetensors tqdm \
    || log "offline install from $WHEELS failed; the parts that need them are skipped"
fi

# time limits per part (s); the CPU smoke run has no budget, only a bound
LIMIT_PYTEST=120 LIMIT_AMP=120 LIMIT_RECIPES=210
if [[ $MODE == smoke ]]; then
  LIMIT_PYTEST=600 LIMIT_AMP=900 LIMIT_RECIPES=900
  RESULTS=$(mktemp -d)
  DEVICE=cpu
  log "smoke run on the CPU ($TORCH_INFO): tiny sizes, results in $RESULTS (discarded)"
else
  DEVICE=cuda
  log "$("$PY" -c "import torch; print(torch.cuda.get_device_name(0))"); $TORCH_INFO"
fi
mkdir -p "$RESULTS"
status=0
parts=()

# --- 1. pytest -m gpu ------------------------------------------------------------------------
if has pytest; then
  mapfile -t gpu_tests < <(grep -l "mark.gpu" tests/unit/*.py)
  log "1/3 pytest -m gpu on ${#gpu_tests[@]} test files"
  timeout "$LIMIT_PYTEST" "$PY" -m pytest -m gpu -q -p no:cacheprovider -p no:randomly -o addopts="" \
    --junitxml="$RESULTS/gpu_pytest.xml" "${gpu_tests[@]}"
  rc=$?
  "$PY" - "$RESULTS/gpu_pytest.xml" "$RESULTS/gpu_pytest.json" "$rc" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
xml_path, json_path, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    suite = ET.parse(xml_path).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    cases = [{"test": f"{c.get('classname')}::{c.get('name')}", "seconds": float(c.get("time", 0)),
              "outcome": next((k.tag for k in c if k.tag in ("failure", "error", "skipped")), "passed")}
             for c in suite.iter("testcase")]
except (OSError, ET.ParseError):
    cases = []
summary = {o: sum(c["outcome"] == o for c in cases) for o in ("passed", "failure", "error", "skipped")}
json.dump({"exit_code": rc, "summary": summary, "tests": cases}, open(json_path, "w"), indent=1)
print(f"gpu tests: {summary}")
EOF
  rm -f "$RESULTS/gpu_pytest.xml"
  # 5: no test collected (all skipped on the CPU smoke run is 0)
  if [[ $rc == 0 || ($MODE == smoke && $rc == 5) ]]; then parts+=("pytest:ok"); else parts+=("pytest:failed($rc)"); status=1; fi
else
  log "1/3 skipped: pytest is not installed (put its wheels in $WHEELS)"; parts+=("pytest:skipped")
fi

# --- 2. the AMP benchmark -------------------------------------------------------------------
log "2/3 AMP benchmark (fp32 versus autocast; U-Net and 2-D GAN)"
backup=$(mktemp -d)
cp -p "$ROOT/benchmarks/results/amp.json" "$ROOT/benchmarks/results/amp.md" "$backup/" 2>/dev/null
if [[ $MODE == smoke ]]; then amp_args=(--cpu-only --steps 1 --repeats 1); else amp_args=(--cuda-only --steps 10 --repeats 3); fi
timeout "$LIMIT_AMP" "$PY" benchmarks/amp.py "${amp_args[@]}"
rc=$?
if [[ $rc == 0 ]]; then
  mv "$ROOT/benchmarks/results/amp.json" "$RESULTS/gpu_amp.json"
  mv "$ROOT/benchmarks/results/amp.md" "$RESULTS/gpu_amp.md"
  "$PY" - "$RESULTS/gpu_amp.json" "$AMP_TARGET" "$MODE" <<'EOF'
import json, sys
path, target, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
data = json.load(open(path))
device = "cpu" if mode == "smoke" else "cuda"
rows = [r for r in data["rows"] if r["device"] == device and r["model"] == "unet"
        and ("fp16" in r["amp"] or mode == "smoke")]
best = max((r["speedup"] for r in rows), default=None)
data["target"] = {"what": "U-Net training step, fp16 + GradScaler versus fp32 on CUDA",
                  "speedup_at_least": target, "measured": best,
                  "met": best is not None and best >= target}
json.dump(data, open(path, "w"), indent=1)
print(f"AMP target: U-Net speed-up {best if best is None else round(best, 2)} (want >= {target}):",
      "met" if data["target"]["met"] else "NOT met")
sys.exit(0 if data["target"]["met"] or mode == "smoke" else 3)
EOF
  rc=$?
fi
cp -p "$backup"/* "$ROOT/benchmarks/results/" 2>/dev/null; rm -rf "$backup"
if [[ $rc == 0 ]]; then parts+=("amp:ok"); elif [[ $rc == 3 ]]; then parts+=("amp:target-missed"); status=1; else parts+=("amp:failed($rc)"); status=1; fi

# --- 3. the chapters' recipes on the device --------------------------------------------------
if has sklearn && has safetensors; then
  log "3/3 the chapters' training recipes on $DEVICE"
  if [[ $MODE == smoke ]]; then recipe_args=(--device cpu --quick); else recipe_args=(--device cuda); fi
  timeout "$LIMIT_RECIPES" "$PY" benchmarks/gpu_recipes.py "${recipe_args[@]}" --out "$RESULTS/gpu_recipes.json"
  rc=$?
  if [[ $rc == 0 ]]; then parts+=("recipes:ok"); else parts+=("recipes:failed($rc)"); status=1; fi
else
  log "3/3 skipped: the recipes need scikit-learn and safetensors (put their wheels in $WHEELS)"
  parts+=("recipes:skipped")
fi

# --- summary ---------------------------------------------------------------------------------
elapsed=$(( $(date +%s) - START ))
"$PY" - "$RESULTS/gpu_check.json" "$elapsed" "$MODE" "${parts[@]}" <<'EOF'
import json, platform, sys, time
import torch
path, elapsed, mode, *parts = sys.argv[1:]
info = {"mode": mode, "elapsed_seconds": int(elapsed), "parts": dict(p.split(":", 1) for p in parts),
        "torch": torch.__version__, "torch_cuda": torch.version.cuda, "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
json.dump(info, open(path, "w"), indent=1)
print(json.dumps(info["parts"]))
EOF
log "done in ${elapsed}s: ${parts[*]}; results in $RESULTS"
exit $status
