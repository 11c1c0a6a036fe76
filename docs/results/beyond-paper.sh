#!/usr/bin/env bash
# Latent terms whose gradient reaches the policy (docs/results.md, "Beyond the paper"): on
# Meta-World, direct, faithful ATE (release preset, lambda 2), each latent term at three
# strengths, rehearsal (co-training on the pre-training demos) and ATE under rehearsal, with
# retention on the pre-training tasks. Run it after
# docs/results/paper-regime.sh, in the setting where that found direct fine-tuning weakest
# (N and lengths below; the paper-regime's own direct and ATE jobs of that setting are reused,
# as the retention list, validation demos and tag match). Every step resumes.
#   N=5 LENGTHS="300 10000" FAMILY=x0 bash docs/results/beyond-paper.sh [OUT]
# FAMILY=x0 runs the release's x0 diffusion policy (paper-regime.sh's step 3, OUT default
# runs/bench-mw-x0), where direct fine-tuning forgot most and scored lowest at 10,000 steps;
# unset, the bench's flow policy (OUT default runs/bench-mw). Reports are kept as
# docs/results/metaworld-beyond[-x0]-<kind>-b<beta>-n<N>.json.
# It ends with the best term (docs/results/best_latent_term.py: the largest paired target
# difference at the longest length, chosen from Meta-World alone) out of sample on robosuite:
# first the end-effector suite (robosuite-eef, where pre-training can transfer; this
# environment), then the joint-space default grid (in the environment whose direct jobs it
# pairs with: .venv, numpy 1.26, as docs/results/release.sh robosuite), each with this
# checkout's code; by hand:
#   KIND=consistency BETA=3 PYTHONPATH=$PWD/src bash docs/results/beyond-paper.sh robosuite-eef
#   KIND=consistency BETA=3 PYTHONPATH=$PWD/src PATH=$PWD/.venv/bin:$PATH \
#     bash docs/results/beyond-paper.sh robosuite [OUT]
set -euo pipefail
if [ "${1:-}" = robosuite ] || [ "${1:-}" = robosuite-eef ]; then
  suite=$1
  default=runs/bench-rs; [ "$suite" = robosuite ] || default=runs/bench-eef
  out=${2:-$default}
  tag="${KIND:?set KIND}-b${BETA:?set BETA}"
  export OMP_NUM_THREADS=1
  ate bench --suite "$suite" --out "$out" --"$suite".arms direct "latent_$KIND" \
    --"$suite".latent-loss.beta "$BETA" --"$suite".tag "$tag"
  cp "$out/results-$tag.json" "docs/results/$suite-beyond-$tag.json"
  cp "$out/results-$tag.md" "docs/results/$suite-beyond-$tag.md"
  exit 0
fi
family=${FAMILY:-}
case "$family" in
  "") policy=(); suffix=""; out=${1:-runs/bench-mw} ;;
  x0) policy=(--metaworld.policy.kind diffusion --metaworld.policy.prediction sample)
      suffix="-x0"; out=${1:-runs/bench-mw-x0} ;;
  *) echo "FAMILY=$family: use x0 or leave it unset" >&2; exit 2 ;;
esac
n=${N:-5}
read -r -a lengths <<< "${LENGTHS:-300 10000}"
# strengths from docs/results/latent_terms_probe.py, so that the consistency term's gradient is
# about a tenth, a third and all of the plain loss's on the pre-trained policy (N = 5, seeds
# 0-2): at beta 1 it is 7-8% of it for the flow policy and 32-34% for the x0 policy
# the manifold term is silent until the implied chunks leave the target's own density band
# (its hinge), so its strengths span further: at beta 1 it is active on 0-3% of the samples
# for the flow policy, and on 4-17% for the x0 policy, with 1-5% of the plain loss's gradient
# (each list starts at its middle strength, which runs first; the bench runs a seed's arms
# side by side, so whatever has run is paired with direct on every seed)
flow_c="3 1 10"; flow_m="10 1 100"; x0_c="1 0.3 3"; x0_m="10 1 30"
if [ "$family" = x0 ]; then betas_c=$x0_c; betas_m=$x0_m; else betas_c=$flow_c; betas_m=$flow_m; fi
read -r -a consistency <<< "${CONSISTENCY_BETAS:-$betas_c}"
read -r -a manifold <<< "${MANIFOLD_BETAS:-$betas_m}"
export OMP_NUM_THREADS=1
retention=(reach-v3 push-v3 pick-place-v3 door-open-v3 drawer-close-v3)
common=(--metaworld.demos "$n" --metaworld.lengths "${lengths[@]}"
        --metaworld.retention-tasks "${retention[@]}" --metaworld.val-demos 10 "${policy[@]}")
mw() { ate bench --suite metaworld --out "$out" "${common[@]}" "$@"; }
keep() { cp "$out/results-$1$suffix.json" "docs/results/metaworld-beyond$suffix-$2.json"
         cp "$out/results-$1$suffix.md" "docs/results/metaworld-beyond$suffix-$2.md"; }
term() {  # kind beta
  mw --metaworld.arms direct "latent_$1" --metaworld.latent-loss.kind "$1" \
     --metaworld.latent-loss.beta "$2" --metaworld.tag "$1-b$2$suffix"
  keep "$1-b$2" "$1-b$2-n$n"
}
# every arm at its middle strength before any other strength: a grid cut short by the
# session's end (about four seed chains fit one) then still compares every arm on all seeds
term consistency "${consistency[0]}"
term manifold "${manifold[0]}"
# direct and faithful ATE (shared with the paper's regime when the setting is the same)
mw --metaworld.arms direct ate_paper --metaworld.guidance.preset release \
   --metaworld.guidance.lam 2 --metaworld.tag "release-lam2$suffix"
# for scale, the usual remedy for forgetting: plain fine-tuning co-trained on the
# pre-training demos, half of every epoch
mw --metaworld.arms direct rehearsal --metaworld.rehearsal-share 0.5 \
   --metaworld.tag "rehearsal-s0.5$suffix"
keep rehearsal-s0.5 "rehearsal-s0.5-n$n"
for beta in "${consistency[@]:1}"; do term consistency "$beta"; done
for beta in "${manifold[@]:1}"; do term manifold "$beta"; done
# Steer on the target's rows of the same co-training batches (direct and rehearsal reused):
# does ATE add anything once forgetting is handled by co-training?
mw --metaworld.arms direct rehearsal ate_rehearsal --metaworld.rehearsal-share 0.5 \
   --metaworld.guidance.preset release --metaworld.guidance.lam 2 \
   --metaworld.tag "rehearsal-s0.5$suffix"
keep rehearsal-s0.5 "rehearsal-s0.5-n$n"
choice=$(python docs/results/best_latent_term.py --n "$n" --family "${family:-flow}")
read -r kind beta <<< "$choice"
# the robosuite suites run the flow policy, on which a term at the same beta pulls about a
# quarter as hard: an x0 strength carries over as the flow grid's strength at the same place
# (the grids above were set from the probe to like shares of the plain loss's gradient)
if [ "$family" = x0 ]; then
  if [ "$kind" = consistency ]; then read -r -a a <<< "$x0_c"; read -r -a b <<< "$flow_c"
  else read -r -a a <<< "$x0_m"; read -r -a b <<< "$flow_m"; fi
  for i in "${!a[@]}"; do if [ "${a[$i]}" = "$beta" ]; then beta=${b[$i]}; break; fi; done
  echo "best x0 term: $choice -> flow beta $beta on robosuite" >&2
fi
KIND=$kind BETA=$beta PYTHONPATH=$PWD/src bash "$0" robosuite-eef
KIND=$kind BETA=$beta PYTHONPATH=$PWD/src PATH=$PWD/.venv/bin:$PATH bash "$0" robosuite
