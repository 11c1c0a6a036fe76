#!/usr/bin/env bash
# On a CUDA machine, in one go: the CUDA parity tests (tests/test_cuda.py, skipped elsewhere),
# the whole suite with the GPU visible (trainers pick it: device "auto"), `ate demo --quick`,
# then the policy training benchmark on CPU and GPU side by side. Logs go to OUTDIR.
#   bash benchmarks/cuda_check.sh [OUTDIR]    (WORKERS=12 pytest-xdist workers)
set -uo pipefail
out=${1:-logs/cuda-check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
torch.cuda.is_available())" | tee -a "$out/gpu.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py > "$out/cuda-tests.log" 2>&1
tail -5 "$out/cuda-tests.log"
timeout "${SUITE_SECONDS:-300}" python3 -m pytest -q -p no:cacheprovider -rfE --tb=short \
  -n "${WORKERS:-12}" tests > "$out/suite.log" 2>&1
grep -E "^(FAILED|ERROR)|passed|failed" "$out/suite.log" | tail -40
timeout 120 python3 -m ate demo --quick --out "$(mktemp -d)/demo" > "$out/demo.log" 2>&1
tail -15 "$out/demo.log"
env -u OMP_NUM_THREADS timeout 120 python3 benchmarks/policy_train.py --steps 20 \
  --devices cpu cuda 2>&1 | tee "$out/policy_train.txt"
