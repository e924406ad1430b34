#!/usr/bin/env bash
# `vaekit bench` on a CUDA machine: the textbook loop vs the engine on the same card, in one process.
# Writes bench-gpu.json (and sweep-gpu.json, a 4-model sweep; SWEEP=0 skips it) into $OUT (or the current
# folder) and prints the markdown tables.
#
# The machine needs Python with a CUDA build of torch plus numpy, safetensors, tqdm, matplotlib and pillow.
# It may have no network: carry MNIST as the cache file, e.g.
#   mkdir -p .cache && cp ~/.cache/vaekit/mnist.npz .cache/     (run `vaekit data fetch mnist` first)
# Takes about 2-3 minutes on a current data-centre GPU (4 epochs per variant). When pytest is installed it first
# checks that the captured CUDA graph reproduces eager steps in fp32 and bf16 (tests/test_cudagraph.py) and the
# switch resolution (tests/test_switches.py), a few seconds. Then it resumes on the GPU a run started on the CPU
# (RESUME=0 skips it), so the move CPU -> GPU is checked on real hardware, and the bench compares the fused
# step in fp32 and bf16 with and without the graph: `auto` takes fp32 on CUDA until this says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export VAEKIT_CACHE="${VAEKIT_CACHE:-$PWD/.cache}"
PY="${PYTHON:-python3}"
"$PY" - <<'PYCODE'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("error: no CUDA device visible to torch; run this on a GPU machine")
print(f"GPU: {torch.cuda.get_device_name()}  torch {torch.__version__}", file=sys.stderr)
PYCODE
if "$PY" -c "import pytest" 2>/dev/null; then
    "$PY" -m pytest -q -p no:cacheprovider tests/test_cudagraph.py tests/test_switches.py
fi
if [ "${RESUME:-1}" = 1 ]; then  # one epoch on the CPU, the second on the GPU: same run directory
    run="${TMPDIR:-/tmp}/vaekit-moved-run"
    "$PY" -m vaekit train --epochs 1 --device cpu --quiet --overwrite --no-report --out "$run"
    "$PY" -m vaekit train --resume --epochs 2 --out "$run" --device cuda --quiet --no-report
    "$PY" -c "import json,sys; [print(json.loads(l)) for l in open(sys.argv[1])]" "$run/metrics.jsonl" \
        > "${OUT:-.}/moved-run-metrics.jsonl"
fi
"$PY" -m vaekit bench --device cuda --epochs "${EPOCHS:-3}" \
    --variants "${VARIANTS:-naive,fp32-nograph,fp32,bf16,auto}" --json "${OUT:-.}/bench-gpu.json"
# A sweep of four models (one batched computation) on the same card: seconds per epoch for all four.
if [ "${SWEEP:-1}" = 1 ]; then
    "$PY" -m vaekit sweep --betas 0.5,1,2,4 --epochs 2 --device cuda --quiet --overwrite \
        --out "${TMPDIR:-/tmp}/vaekit-gpu-sweep"
    cp "${TMPDIR:-/tmp}/vaekit-gpu-sweep/sweep.json" "${OUT:-.}/sweep-gpu.json"
fi
