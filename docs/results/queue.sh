#!/usr/bin/env bash
# Every evidence run that docs/results.md still lacks, one after the other. Each resumes
# where it stopped, so after an interruption run this again. Environments (once):
#   python -m venv .venv && .venv/bin/pip install torch==2.13.0 \
#     && .venv/bin/pip install -e ".[robosuite]"             # robosuite pins numpy < 2
#   bash plugins/lerobot_policy_ate/run_tests.sh             # creates .venv-lerobot
#   pip install torch==2.13.0 && pip install -e ".[metaworld]"
#   pip install --no-deps robosuite==1.5.2                   # robosuite-eef runs here
#   bash docs/results/queue.sh >> logs/queue.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
# the same numbers on every machine of this pool: torch, MKL and oneDNN otherwise pick their
# kernels by the CPU found (AVX2 on some machines, AVX-512 on others), and a bench rebuilt on
# another machine then starts from other weights and its kept jobs are set aside (each of the
# three settings alone changes a short training's weights; docs/results/numerics_print.py
# prints its hash, to compare machines)
export ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
# Done, their reports kept in docs/results (not rerun: a fresh machine has none of their
# runs): Steer as released on robosuite (release.sh robosuite), LeRobot's Diffusion Policy
# (lerobot_metaworld.py), the paper's regime (paper-regime.sh, all five steps).
# Sessions here do not keep runs/: every bench below first puts back the finished jobs kept
# in git (docs/results/job_records.sh; save them and commit while it runs), so it resumes.
# the runs below import ate from this checkout, not from wherever `pip install -e` points, so a
# frozen worktree (git worktree add) keeps later commits out of a running measurement
export PYTHONPATH=$PWD/src:$PWD/plugins/lerobot_policy_ate/src
restore() { bash docs/results/job_records.sh restore "$1"; }
# the end-effector suite, UR5e and Kinova3: done 2026-12-01 (docs/results/robosuite-eef-*;
# jobs kept in docs/results/jobs/bench-eef*)
# beyond the paper: the latent terms where the paper's regime found direct fine-tuning weakest
# (the x0 family, N = 5, 10,000 steps: lowest target success and most forgetting; docs/
# results.md, "The paper's regime"), 300 steps beside it
restore runs/bench-eef
restore runs/bench-rs
restore runs/bench-mw-x0
# its last step runs joint-space robosuite in .venv (numpy < 2), which a fresh machine lacks
[ -x .venv/bin/ate ] || { python -m venv .venv && .venv/bin/pip install -q torch==2.13.0 \
  && .venv/bin/pip install -q -e ".[robosuite]"; }
FAMILY=x0 N=5 LENGTHS="300 10000" bash docs/results/beyond-paper.sh
# Steer with no VAE (the action_space arm: J in action space; after the beyond grid, which
# issue 19 asks for and which reruns step 5's seeds 0-2), the control that the x0
# family's 5-seed run leaves open (docs/results.md, "Not done"): seeds 0-4 beside that run's
# jobs (direct is shared). Lambda 1.85 gives ATE's displacement: measured before training
# (`python docs/results/job_shift.py runs/bench-mw-x0/metaworld/runs/ate_paper-release-lam2-x0
# --seeds 0 1 2 3 4`), action space at lambda 2 displaces the x0 target by 3.26% of the
# actions' RMS on average, ATE by 3.03% (ratio: lambda 1.86)
x0=runs/bench-mw-x0
restore "$x0"
x0_common=(--metaworld.demos 5 --metaworld.lengths 300 10000 --metaworld.policy.kind diffusion
  --metaworld.retention-tasks reach-v3 push-v3 pick-place-v3 door-open-v3 drawer-close-v3
  --metaworld.val-demos 10 --metaworld.policy.prediction sample --metaworld.seeds 0 1 2 3 4)
# step 5's direct and ATE jobs again (their runs went with an earlier machine; the pairing
# needs ATE's episodes), the same config, so its report is step 5's if training reproduces
ate bench --suite metaworld --out "$x0" "${x0_common[@]}" --metaworld.arms direct ate_paper \
  --metaworld.guidance.preset release --metaworld.guidance.lam 2 --metaworld.tag release-lam2-x0
ate bench --suite metaworld --out "$x0" "${x0_common[@]}" --metaworld.arms direct action_space \
  --metaworld.guidance.preset release --metaworld.guidance.lam 1.85 \
  --metaworld.tag action-space-x0
cp "$x0/results-action-space-x0.json" docs/results/metaworld-regime-x0-action-space-n5.json
cp "$x0/results-action-space-x0.md" docs/results/metaworld-regime-x0-action-space-n5.md
