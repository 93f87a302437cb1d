#!/usr/bin/env bash
# GPU check for a lent GPU machine (falls back to the CPU, where it only proves the script runs).
# Usage: benchmarks/gpu_check.sh [OUT_DIR]   (OUT_DIR defaults to $OUT, else benchmarks/)
# Checks train_teacher and distill on CUDA, Φ_8 CUDA-vs-CPU agreement, then times a teacher
# step, Φ_8 sampling of 2000 seeds and a DMD iteration (fp32 and bf16, UNet channels_last).
# Then the bring-your-own-pair path: tiny diffusers pairs (DDIM UNet + one-step student, SD3
# flow-match transformer with prompt embeddings) on the device in fp32/fp16/bf16 vs the CPU, and the sample cache;
# on CUDA, the SDXL-class cost (benchmarks/gpu_sdxl.py).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-benchmarks}}"
mkdir -p "$out"
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
"$py" - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "visible", torch.cuda.is_available())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(), "bf16", torch.cuda.is_bf16_supported())
PY
HF_HUB_OFFLINE=1 timeout 480 "$py" -m benchmarks.gpu_check "$out/gpu_check.json"
# What an SDXL-class analysis costs: a real-size SDXL UNet, random weights made on the device
# (no download), Φ_1 / Φ_8 / G per 100 seeds in fp16 and bf16, peak memory (CUDA only).
if "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  for dt in fp16 bf16; do
    HF_HUB_OFFLINE=1 timeout 240 "$py" -m benchmarks.gpu_sdxl --dtype "$dt" --json "$out/gpu_sdxl_$dt.json"
  done
fi
