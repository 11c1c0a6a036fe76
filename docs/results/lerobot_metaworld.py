"""LeRobot's own Diffusion Policy on the Meta-World bench, fine-tuned directly and with the
plugin's Steer (docs/results.md, "LeRobot's Diffusion Policy"). Run it with the LeRobot
environment (Python 3.12, lerobot 0.6.1, the plugin, the metaworld extra; see
plugins/lerobot_policy_ate/run_tests.sh), on a finished bench folder, whose demos, N = 5
subsets and stage-2 VAEs it reuses:

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv-lerobot/bin/python \\
        docs/results/lerobot_metaworld.py runs/bench-mw --out runs/lerobot-mw

Steps, each skipped when its output exists (rerun to resume): the pre-training demos and
each seed's subset converted to LeRobot datasets (``observation.state``: the 39-d
observation; ``observation.environment_state``: the task as a one-hot over the 50 ML45
tasks; a state-only LeRobot Diffusion Policy has no other task input), a stock Diffusion
Policy pre-trained by ``lerobot-train``, per seed a direct and an ATE fine-tuning
(``ate_diffusion``, with and without ``--policy.ate.guidance_path``), and each evaluated on
the targets with ``ate``'s rollout (``LeRobotActor``). Writes ``report.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ate.bench.config import ML45_TEST, ML45_TRAIN
from ate.bench.report import paired_difference
from ate.data.formats.lerobot import write_lerobot
from ate.data.load import load_episodes
from ate.sim.parallel import map_processes

TASKS = sorted(ML45_TRAIN + ML45_TEST)
# sized for a 2-core CPU: DDIM with 10 steps when acting (the default, 100 DDPM steps, took
# 24 s per episode here); training is the same under either scheduler (same alphas)
POLICY = ["--policy.horizon=16", "--policy.n_obs_steps=2", "--policy.n_action_steps=8",
          "--policy.down_dims=[64,128,256]", "--policy.pretrained_backbone_weights=null",
          "--policy.noise_scheduler_type=DDIM", "--policy.num_inference_steps=10",
          "--policy.device=cpu", "--policy.push_to_hub=false"]


def convert(demos: Path, out: Path) -> Path:
    """A bench demo folder as a LeRobot dataset (once)."""
    if (out / "meta" / "info.json").exists():
        return out
    eps = load_episodes(demos, obs_key="observations/state")
    starts = np.concatenate([[0], eps.ends[:-1]])
    actions, extra = [], []
    for (a, b), task in zip(zip(starts, eps.ends, strict=True), eps.tasks, strict=True):
        onehot = np.zeros((b - a, len(TASKS)), np.float32)
        onehot[:, TASKS.index(task)] = 1.0
        actions.append(eps.actions[a:b])
        extra.append({"observation.state": eps.observations[a:b],
                      "observation.environment_state": onehot})
    return write_lerobot(out, actions, tasks=list(eps.tasks), extra=extra, fps=80.0)


def train(out: Path, args: list[str]) -> Path:
    """``lerobot-train`` into ``out`` (once); its last checkpoint's pretrained_model. A run
    killed after a checkpoint continues from it (LeRobot's own ``--resume``: weights,
    optimiser, scheduler and step); ``wall_s.json`` sums the segments that finished."""
    done = out / "checkpoints" / "last" / "pretrained_model"
    if (out / "wall_s.json").exists():
        return done
    exe = str(Path(sys.executable).with_name("lerobot-train"))
    if (done / "train_config.json").exists():
        command = [exe, f"--config_path={done / 'train_config.json'}", "--resume=true"]
    else:
        shutil.rmtree(out, ignore_errors=True)
        command = [exe, *args, f"--output_dir={out}", "--num_workers=0",
                   "--wandb.enable=false", "--log_freq=100"]
    segments = out / "segments.json"
    tic = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    spent = [*json.loads(segments.read_text()), time.perf_counter() - tic] if \
        segments.exists() else [time.perf_counter() - tic]
    segments.write_text(json.dumps(spent))
    (out / "wall_s.json").write_text(json.dumps(sum(spent)))
    return done


def evaluate(policy: Path, out: Path, episodes: int) -> dict:
    """Success on every target over ``episodes`` seeded episodes (once)."""
    if out.exists():
        return json.loads(out.read_text())
    from lerobot_policy_ate.actor import LeRobotActor

    from ate.bench.rollout import run_episodes
    from ate.sim.env_pool import environments
    from ate.sim.generate import EVAL_SEED_BASE

    actor = LeRobotActor(policy, TASKS)
    tic, evals = time.perf_counter(), []
    for task in ML45_TEST:
        envs = environments("metaworld", task, None, 10, max_steps=200)
        seeds = [EVAL_SEED_BASE + i for i in range(episodes)]
        evals.append({"task": task, "outcomes": run_episodes(envs, actor, TASKS.index(task),
                                                             seeds, execute=8)})
    record = {"evals": evals, "eval_s": time.perf_counter() - tic}
    out.write_text(json.dumps(record))
    return record


def finetune_and_evaluate(arm: str, seed: int, subset: Path, stage2: Path, base: Path,
                          out: Path, n: int, lam: float, steps: int, episodes: int) -> dict:
    """One arm's fine-tuning of the pre-trained policy on one seed's subset, evaluated."""
    extra = [] if arm == "direct" else [f"--policy.ate.guidance_path={stage2}",
                                        f"--policy.ate.lam={lam}"]
    ckpt = train(out / f"{arm}-n{n}-s{seed}", [
        "--dataset.repo_id=local/target", f"--dataset.root={subset}",
        "--policy.type=ate_diffusion", f"--policy.ate.init_from={base}", *extra,
        "--policy.device=cpu", "--policy.push_to_hub=false", f"--seed={seed}",
        # the preset's 500 warm-up steps would keep a 300-step fine-tuning below its peak
        # learning rate throughout; 10% of the run, as is common
        f"--policy.scheduler_warmup_steps={steps // 10}",
        f"--steps={steps}", "--batch_size=64", f"--save_freq={steps}"])
    return evaluate(ckpt, out / f"{arm}-n{n}-s{seed}" / "eval.json", episodes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bench", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/lerobot-mw"))
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-steps", type=int, default=3000)
    parser.add_argument("--save-every", type=int, default=500,
                        help="pre-training checkpoint cadence (a killed run resumes there)")
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--lam", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2,
                        help="fine-tuning + evaluation jobs run at a time")
    args = parser.parse_args()
    mw, out = args.bench / "metaworld", args.out
    pretrain = convert(mw / "data" / "pretrain", out / "data" / "pretrain")
    base = train(out / "pretrain", ["--dataset.repo_id=local/pretrain",
                                    f"--dataset.root={pretrain}", "--policy.type=diffusion",
                                    *POLICY, f"--steps={args.pretrain_steps}",
                                    "--batch_size=64",
                                    f"--save_freq={min(args.save_every, args.pretrain_steps)}"])
    calls = []
    for seed in args.seeds:
        subset = convert(mw / "data" / "target" / f"n{args.n}-s{seed}",
                         out / "data" / f"n{args.n}-s{seed}")
        stage2 = mw / "align" / f"n{args.n}-s{seed}" / "stage2"
        calls += [(arm, seed, subset, stage2, base, out, args.n, args.lam,
                   args.finetune_steps, args.episodes) for arm in ("direct", "ate")]
    # each job one process (OMP_NUM_THREADS=1): two cores, two jobs at a time
    records = map_processes(finetune_and_evaluate, calls, args.workers)
    results: dict[str, dict[int, list[np.ndarray]]] = {"direct": {}, "ate": {}}
    for (arm, seed, *_), record in zip(calls, records, strict=True):
        results[arm][seed] = [np.asarray(e["outcomes"], float) for e in record["evals"]]
    rates = {arm: float(np.mean([np.concatenate(v).mean() for v in by_seed.values()]))
             for arm, by_seed in results.items()}
    point, lo, hi = paired_difference(results["ate"], results["direct"])
    report = {"rates": rates, "difference": point, "interval": [lo, hi], "n": args.n,
              "seeds": args.seeds, "episodes": args.episodes, "lam": args.lam}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
