"""What a fine-tuned policy does off its training demos: success on pre-training tasks
(retention, the forgetting the paper names) and its loss on held-out target demos.

Retention runs the fine-tuned weights with the pre-trained policy's normalisers: fine-tuning
refits the action and observation normalisers on the target demos, and the pre-training
tasks' units are the pre-trained policy's, so this measures what the weights kept, not the
change of units.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ate.bench.config import SuiteConfig

VAL_DRAWS = 4  # noise and time draws per validation chunk: the loss is an expectation


def _evaluate(config: SuiteConfig, policy_dir: str, units_from: str | None) -> list[dict]:
    from ate.bench.rollout import evaluate_task
    from ate.sim.generate import EVAL_SEED_BASE

    out = []
    for task in config.retention_tasks:
        r = evaluate_task(policy_dir, config.suite, task, config.eval_episodes, config.execute,
                          EVAL_SEED_BASE, config.max_steps, batch=config.eval_batch,
                          units_from=units_from)
        out.append({"task": task, "robot": "", "outcomes": r.outcomes})
    return out


def retention_before(config: SuiteConfig, pre_policy: Path, folder: Path) -> list[dict]:
    """Success of the pre-trained policy on the retention tasks (cached in
    ``folder/retention-before.json`` for this policy, task list and episode count)."""
    from ate.checkpoint import resolve_checkpoint

    key = {"policy": Path(pre_policy).name, "tasks": list(config.retention_tasks),
           "episodes": config.eval_episodes, "max_steps": config.max_steps,
           "execute": config.execute}
    path = folder / "retention-before.json"
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            return saved["evals"]
    evals = _evaluate(config, str(resolve_checkpoint(Path(pre_policy))), None)
    path.write_text(json.dumps({"key": key, "evals": evals}))
    return evals


def retention_evals(config: SuiteConfig, policy: Path, pre_policy: str) -> list[dict]:
    """Success of a fine-tuned policy (its run folder) on the retention tasks, in the
    pre-trained policy's units."""
    from ate.checkpoint import resolve_checkpoint

    return _evaluate(config, str(resolve_checkpoint(policy)),
                     str(resolve_checkpoint(Path(pre_policy))))


@torch.no_grad()
def validation_loss(policy_dir: Path, val: Path, config: SuiteConfig) -> float:
    """The policy's plain training loss (no guidance) on every chunk of the held-out demos
    ``val``, in its own units, averaged over ``VAL_DRAWS`` seeded draws of noise and time."""
    from ate.bench.demos import OBS_KEY
    from ate.checkpoint import resolve_checkpoint
    from ate.data.chunks import ChunkDataset
    from ate.data.load import load_episodes
    from ate.policies import GenerativePolicy

    policy = GenerativePolicy.from_pretrained(resolve_checkpoint(policy_dir)).eval()
    episodes = load_episodes(val, obs_key=OBS_KEY)
    chunks = ChunkDataset(episodes, config.chunk_length, normalizer=policy.normalizer,
                          slots=policy.slots, obs_horizon=config.obs_horizon,
                          obs_normalizer=policy.obs_normalizer,
                          obs_size=policy.config.obs_dim or None,
                          task_ids={t: i for i, t in enumerate(policy.task_names)})
    total, count = 0.0, 0
    with torch.random.fork_rng(devices=[]):
        for draw in range(VAL_DRAWS):
            torch.manual_seed(draw)  # flow times follow the global RNG
            gen = torch.Generator().manual_seed(draw)
            for start in range(0, len(chunks), 256):
                idx = list(range(start, min(start + 256, len(chunks))))
                loss = policy.compute_loss(chunks.__getitems__(idx), generator=gen)
                total += float(loss) * len(idx)
                count += len(idx)
    return total / count
