#!/usr/bin/env bash
# The robosuite evidence for the release form of Steer (docs/results.md). Resumes: run it
# again to continue. robosuite wants its own environment (its mink dependency pins numpy < 2):
#   python -m venv .venv && .venv/bin/pip install torch==2.13.0 \
#     && .venv/bin/pip install -e ".[robosuite]"
#   PATH=$PWD/.venv/bin:$PATH bash docs/results/release-robosuite.sh [OUT]   (runs/bench-rs)
set -euo pipefail
out=${1:-runs/bench-rs}
export OMP_NUM_THREADS=1
rs() { ate bench --suite robosuite --out "$out" "$@"; }
rs --robosuite.arms direct scratch
for lam in 2 3; do
  rs --robosuite.guidance.preset release --robosuite.guidance.lam "$lam" \
     --robosuite.tag "release-lam$lam"
done
