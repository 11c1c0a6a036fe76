#!/usr/bin/env bash
# The Meta-World evidence for the release form of Steer (docs/results.md, "Steer as the
# authors released it"). Every step resumes: run it again to continue where it stopped.
#   bash docs/results/release.sh [OUT]      (default OUT: runs/bench-mw)
set -euo pipefail
out=${1:-runs/bench-mw}
export OMP_NUM_THREADS=1
mw() { ate bench --suite metaworld --out "$out" "$@"; }
# the unguided arms, shared by every tag below
mw --metaworld.arms direct scratch
# the guided arms of the default grid, at the paper's lambda 2 and the release's 3
for lam in 2 3; do
  mw --metaworld.guidance.preset release --metaworld.guidance.lam "$lam" \
     --metaworld.tag "release-lam$lam"
done
# N = 5: lambdas whose displacement spans about 1% to 50% of the actions' RMS
# (1.3% per unit of lambda, measured by docs/results/measure_shift.py)
for lam in 1 4 12 40; do
  mw --metaworld.demos 5 --metaworld.arms direct ate_paper \
     --metaworld.guidance.preset release --metaworld.guidance.lam "$lam" \
     --metaworld.tag "release-lam$lam"
done
