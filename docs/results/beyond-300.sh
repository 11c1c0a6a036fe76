#!/usr/bin/env bash
# The latent terms' other strengths, faithful ATE under rehearsal and their controls at 300
# fine-tuning steps, as one block whose every arm grows from one pre-training: for a machine
# that cannot rebuild the weights of docs/results/beyond-paper.sh's grid (its kept jobs are
# then set aside, docs/bench.md) and has hours, not days. The same protocol as that grid
# (x0 family, N = 5, seeds 0-2, 50 episodes per target and seed, the five retention tasks),
# its own direct and rehearsal jobs; reports kept as
# docs/results/metaworld-beyond-x0-300-<tag>-n5.{json,md}, jobs in docs/results/jobs/<OUT's name>.
#   bash docs/results/beyond-300.sh [OUT]        # OUT default runs/bench-mw-x0-300; resumes
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/bench-mw-x0-300}
export OMP_NUM_THREADS=1 ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
bash docs/results/job_records.sh restore "$out"
common=(--metaworld.demos 5 --metaworld.lengths 300 --metaworld.val-demos 10
        --metaworld.retention-tasks reach-v3 push-v3 pick-place-v3 door-open-v3 drawer-close-v3
        --metaworld.policy.kind diffusion --metaworld.policy.prediction sample)
mw() {  # tag, then arms and flags
  local tag=$1; shift
  ate bench --suite metaworld --out "$out" "${common[@]}" --metaworld.tag "$tag-x0" "$@"
  cp "$out/results-$tag-x0.json" "docs/results/metaworld-beyond-x0-300-$tag-n5.json"
  cp "$out/results-$tag-x0.md" "docs/results/metaworld-beyond-x0-300-$tag-n5.md"
}
term() { mw "$1-b$2" --metaworld.arms direct "latent_$1" --metaworld.latent-loss.kind "$1" \
           --metaworld.latent-loss.beta "$2"; }
# the strengths the grid has not reached first, then its middle ones for a within-block reference
term consistency 3
term manifold 30
term consistency 0.3
term manifold 1
mw rehearsal-s0.5 --metaworld.arms direct rehearsal ate_rehearsal --metaworld.rehearsal-share 0.5 \
   --metaworld.guidance.preset release --metaworld.guidance.lam 2
term consistency 1
term manifold 10
mw release-lam2 --metaworld.arms direct ate_paper --metaworld.guidance.preset release \
   --metaworld.guidance.lam 2
