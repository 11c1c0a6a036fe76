#!/usr/bin/env bash
# The latent terms' other strengths, faithful ATE under rehearsal and their controls at 300
# fine-tuning steps, as one block whose every arm grows from one pre-training: for a machine
# that cannot rebuild the weights of docs/results/beyond-paper.sh's grid (its kept jobs are
# then set aside, docs/bench.md) and has hours, not days. The same protocol as that grid
# (x0 family, N = 5, seeds 0-2, 50 episodes per target and seed, the five retention tasks),
# its own direct and rehearsal jobs; reports kept as
# docs/results/metaworld-beyond-x0-300-<tag>-n5.{json,md}, jobs in docs/results/jobs/<OUT's name>.
#   bash docs/results/beyond-300.sh [OUT [STEP...]]   # OUT default runs/bench-mw-x0-300; resumes
# LENGTHS="300 10000" adds the 10,000-step column to the same block (its 300-step jobs are
# reused; a 10,000-step job trains 45-50 min there, two at a time), reports then named
# metaworld-beyond-x0-300-10000-<tag>-n5; STEPs (e.g. consistency-b3 rehearsal-s0.5) pick
# which of the block's steps run, in the order given (default: all, in the order below).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/bench-mw-x0-300}
shift $(( $# > 0 ? 1 : 0 ))
lengths=${LENGTHS:-300}
prefix="x0-${lengths// /-}"
export OMP_NUM_THREADS=1 ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
bash docs/results/job_records.sh restore "$out"
common=(--metaworld.demos 5 --metaworld.lengths $lengths --metaworld.val-demos 10
        --metaworld.retention-tasks reach-v3 push-v3 pick-place-v3 door-open-v3 drawer-close-v3
        --metaworld.policy.kind diffusion --metaworld.policy.prediction sample)
mw() {  # tag, then arms and flags
  local tag=$1; shift
  ate bench --suite metaworld --out "$out" "${common[@]}" --metaworld.tag "$tag-x0" "$@"
  cp "$out/results-$tag-x0.json" "docs/results/metaworld-beyond-$prefix-$tag-n5.json"
  cp "$out/results-$tag-x0.md" "docs/results/metaworld-beyond-$prefix-$tag-n5.md"
}
term() { mw "$1-b$2" --metaworld.arms direct "latent_$1" --metaworld.latent-loss.kind "$1" \
           --metaworld.latent-loss.beta "$2"; }
step() {
  case $1 in
    consistency-b*|manifold-b*) term "${1%-b*}" "${1##*-b}" ;;
    rehearsal-s0.5) mw rehearsal-s0.5 --metaworld.arms direct rehearsal ate_rehearsal \
      --metaworld.rehearsal-share 0.5 --metaworld.guidance.preset release --metaworld.guidance.lam 2 ;;
    release-lam2) mw release-lam2 --metaworld.arms direct ate_paper --metaworld.guidance.preset release \
      --metaworld.guidance.lam 2 ;;
    *) echo "beyond-300: no step $1 (consistency-b<beta>, manifold-b<beta>, rehearsal-s0.5," \
            "release-lam2)" >&2; exit 2 ;;
  esac
}
# the strengths the grid has not reached first, then its middle ones for a within-block reference
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(consistency-b3 manifold-b30 consistency-b0.3 manifold-b1
                                 rehearsal-s0.5 consistency-b1 manifold-b10 release-lam2)
for s in "${steps[@]}"; do step "$s"; done
