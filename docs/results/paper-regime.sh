#!/usr/bin/env bash
# The paper's regime on Meta-World (docs/results.md, "The paper's regime"): long fine-tuning
# on few demos, retention of pre-training tasks, the release's x0 diffusion policy and the
# release's Align. Every step resumes (a killed 10,000-step job continues from its last
# checkpoint): run it again to continue. Each invocation's report is archived at once, as
# later invocations with the same tag rewrite results-<tag>.md.
#   bash docs/results/paper-regime.sh [OUT]     (default OUT: runs/bench-mw, shared with
#                                                docs/results/release.sh: its 300-step jobs
#                                                are the first 300 steps of these)
set -euo pipefail
out=${1:-runs/bench-mw}
x0=${out}-x0
export OMP_NUM_THREADS=1
keep() { cp "$1/results-$2.json" "docs/results/metaworld-$3.json"; cp "$1/results-$2.md" "docs/results/metaworld-$3.md"; }
retention=(reach-v3 push-v3 pick-place-v3 door-open-v3 drawer-close-v3)
common=(--metaworld.guidance.preset release --metaworld.guidance.lam 2
        --metaworld.retention-tasks "${retention[@]}" --metaworld.val-demos 10)
arms=(--metaworld.arms direct ate_paper single_stage)
mw() { ate bench --suite metaworld "$@"; }
# 1-2: fine-tuning length and forgetting (flow policy, the bench's default Align)
mw --out "$out" --metaworld.demos 5 --metaworld.lengths 300 3000 10000 "${arms[@]}" \
   "${common[@]}" --metaworld.tag release-lam2
keep "$out" release-lam2 regime-n5
mw --out "$out" --metaworld.demos 25 --metaworld.lengths 300 3000 "${arms[@]}" \
   "${common[@]}" --metaworld.tag release-lam2
keep "$out" release-lam2 regime-n25
# 3: the release's policy family: x0 prediction, 100-step DDPM, uniform timesteps
mkdir -p "$x0/metaworld" && [ -d "$x0/metaworld/data" ] || cp -r "$out/metaworld/data" "$x0/metaworld/"
x0_policy=(--metaworld.policy.kind diffusion --metaworld.policy.prediction sample)
mw --out "$x0" --metaworld.demos 5 --metaworld.lengths 300 10000 "${arms[@]}" "${common[@]}" \
   "${x0_policy[@]}" --metaworld.tag release-lam2-x0
keep "$x0" release-lam2-x0 regime-x0-n5
# 4: the release's Align (its prior estimator on lightly noised chunks, its KL direction and
# weight, MMD against N(0, I), a wider VAE trained longer), at the longest length
mw --out "$out" --metaworld.demos 5 --metaworld.lengths 300 10000 \
   --metaworld.arms direct ate_paper "${common[@]}" \
   --metaworld.prior.kind release --metaworld.prior.noise \
   --metaworld.adapt.kl-direction release --metaworld.adapt.kl-weight 7.5e-5 \
   --metaworld.adapt.mmd-reference standard --metaworld.vae.latent-dim 128 \
   --metaworld.vae.hidden-dim 128 --metaworld.vae-pretrain-steps 4500 \
   --metaworld.vae-adapt-steps 900 --metaworld.tag release-lam2-release-align
keep "$out" release-lam2-release-align regime-release-align-n5
# 5: the x0 family's 10,000-step gain (the only interval off zero in steps 1-3) on two more
# seeds, i.e. two more demo subsets (seeds 0-2 are the jobs of step 3, reused), beside the
# tilted arm (g's sign flipped: the same displacement of the clean-action target pointed past
# the demo instead of back toward the noisy sample), which tells a gain from the paper's sign
# apart from one of any displacement
mw --out "$x0" --metaworld.demos 5 --metaworld.lengths 300 10000 "${arms[@]}" ate_tilted \
   "${common[@]}" \
   "${x0_policy[@]}" --metaworld.seeds 0 1 2 3 4 --metaworld.tag release-lam2-x0
keep "$x0" release-lam2-x0 regime-x0-n5-seeds5
