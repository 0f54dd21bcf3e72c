#!/usr/bin/env bash
# The CUDA checks of issue 14 (point 4) in one command, for a short lease on a GPU machine:
# the gpu-marked tests, then bench/gpu.py (batch-4096 sampling, GAN step against a cuDNN
# teacher-forced step, bf16 against fp32, the default recipe's wall time). Under 5 minutes.
#
#   bash bench/gpu.sh          # from a fresh copy of the repository, venv or not
#
# Python: the first of $PYTHON, .venv/bin/python, python3 whose torch sees CUDA (a venv
# carried from a CPU machine holds the CPU build of torch, so it is passed over); with no
# CUDA anywhere, the first that imports torch, and the CUDA parts are skipped with a note
# (bench/gpu.py then runs as `--device cpu --quick`, a smoke test).
# Missing packages (a GPU image has torch but not symusic or mido) are installed from the
# wheels in $WHEELHOUSE (default .whl/, made here by `make gpu-wheels`), else from the index.
# Results: $OUT/gpu_results.json, gpu_results.md and gpu_tests.log when $OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
WHEELHOUSE=${WHEELHOUSE:-.whl}
started=$(date +%s)

sees_cuda() { "$1" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; }
has_torch() { "$1" -c 'import torch' 2>/dev/null; }

candidates=()
for c in "${PYTHON:-}" .venv/bin/python python3; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && candidates+=("$c")
done
PY="" CUDA=0
for c in "${candidates[@]}"; do if sees_cuda "$c"; then PY=$c CUDA=1; break; fi; done
if [ -z "$PY" ]; then for c in "${candidates[@]}"; do if has_torch "$c"; then PY=$c; break; fi; done; fi
if [ -z "$PY" ]; then echo "gpu.sh: no Python with torch found (set PYTHON=...)" >&2; exit 2; fi
echo "gpu.sh: python $PY ($("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)'))"

# What midigan's GPU path imports; music21, pretty_midi and miditok are not needed here.
missing=$("$PY" - <<'EOF'
import importlib.util
need = {"numpy": "numpy", "mido": "mido", "symusic": "symusic", "safetensors": "safetensors",
        "click": "click", "tqdm": "tqdm", "pytest": "pytest", "hypothesis": "hypothesis"}
print(" ".join(pkg for module, pkg in need.items() if importlib.util.find_spec(module) is None))
EOF
)
case " $missing " in *" symusic "*) missing="$missing pySmartDL platformdirs" ;; esac  # symusic's own
if [ -n "$missing" ]; then
    echo "gpu.sh: installing $missing"
    if [ -d "$WHEELHOUSE" ]; then
        "$PY" -m pip install -q --no-index --find-links "$WHEELHOUSE" $missing
    else
        "$PY" -m pip install -q $missing
    fi || { echo "gpu.sh: could not install $missing (without network, carry $WHEELHOUSE/ from make gpu-wheels)" >&2; exit 2; }
fi

status=0
if [ "$CUDA" = 1 ]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
    files=$(grep -l "mark.gpu" tests/test_*.py | tr '\n' ' ')
    echo "gpu.sh: gpu-marked tests: $files"
    timeout 180 "$PY" -m pytest -q -p no:cacheprovider -m gpu $files 2>&1 | tee "${OUT:-/tmp}/gpu_tests.log"
    tests=${PIPESTATUS[0]}
    [ "$tests" = 0 ] || { echo "gpu.sh: the gpu-marked tests FAILED (exit $tests)"; status=1; }
    timeout 240 "$PY" bench/gpu.py --device cuda || { echo "gpu.sh: bench/gpu.py FAILED"; status=1; }
else
    echo "gpu.sh: no CUDA device here: the gpu-marked tests are skipped, and bench/gpu.py runs as a CPU"
    echo "gpu.sh: smoke test (--device cpu --quick); its figures are not GPU figures."
    timeout 240 "$PY" bench/gpu.py --device cpu --quick || { echo "gpu.sh: bench/gpu.py FAILED"; status=1; }
fi
echo "gpu.sh: done in $(( $(date +%s) - started )) s${OUT:+, results in $OUT}"
exit $status
