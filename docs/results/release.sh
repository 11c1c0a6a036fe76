#!/usr/bin/env bash
# The evidence for the release form of Steer (docs/results.md, "Steer as the authors
# released it"). Every step resumes: run it again to continue where it stopped.
#   bash docs/results/release.sh [metaworld|robosuite] [OUT]
# OUT defaults to runs/bench-mw (Meta-World) or runs/bench-rs (robosuite). robosuite wants
# its own environment (its mink dependency pins numpy < 2):
#   python -m venv .venv && .venv/bin/pip install torch==2.13.0 \
#     && .venv/bin/pip install -e ".[robosuite]"
#   PATH=$PWD/.venv/bin:$PATH bash docs/results/release.sh robosuite
set -euo pipefail
suite=${1:-metaworld}
short=$([ "$suite" = robosuite ] && echo rs || echo mw)
out=${2:-runs/bench-$short}
export OMP_NUM_THREADS=1
bench() { ate bench --suite "$suite" --out "$out" "$@"; }
# the unguided arms, shared by every tag below
bench "--$suite.arms" direct scratch
# the guided arms of the default grid, at the paper's lambda 2 and the release's 3
for lam in 2 3; do
  bench "--$suite.guidance.preset" release "--$suite.guidance.lam" "$lam" \
        "--$suite.tag" "release-lam$lam"
done
[ "$suite" = metaworld ] || exit 0
# N = 5: lambdas whose displacement spans about 1% to 50% of the actions' RMS
# (1.3% per unit of lambda, measured by docs/results/measure_shift.py)
for lam in 1 4 12 40; do
  bench --metaworld.demos 5 --metaworld.arms direct ate_paper \
        --metaworld.guidance.preset release --metaworld.guidance.lam "$lam" \
        --metaworld.tag "release-lam$lam"
done
