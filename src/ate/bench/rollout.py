"""Closed-loop evaluation of a chunk policy in a ``RolloutEnv``, parallel over processes.

The policy sees the last ``obs_horizon`` observations (the first one repeated at the start),
predicts a chunk of H actions and the first ``execute`` of them are executed before it is
asked again (receding horizon, as Diffusion Policy). Evaluation seeds start at
``EVAL_SEED_BASE``, disjoint from every demo seed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ate.bench.stats import success_interval
from ate.checkpoint import read_json, resolve_checkpoint
from ate.config import from_dict
from ate.data.chunks import first_chunks
from ate.errors import ConfigError
from ate.policies import GenerativePolicy
from ate.policies.policy import Guide
from ate.sim.env import RolloutEnv
from ate.sim.env_pool import environments
from ate.sim.generate import EVAL_SEED_BASE
from ate.sim.parallel import map_processes
from ate.steer.chunk_encoder import PolicyChunkEncoder
from ate.steer.sampling_guidance import LatentSamplingGuidance, SamplingGuidanceConfig


@dataclass
class TaskResult:
    """Success of one task over its evaluation episodes."""

    task: str
    successes: int
    episodes: int
    robot: str = ""
    outcomes: list[bool] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Share of successful episodes."""
        return self.successes / self.episodes if self.episodes else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """Exact 95% interval of the rate."""
        return success_interval(self.successes, self.episodes)


@dataclass
class _Slot:
    """One environment of a lock-step batch and the episode it is running."""

    env: RolloutEnv
    seed: int = -1
    steps: int = 0
    history: deque | None = None
    queue: list = field(default_factory=list)


def run_episodes(envs: Sequence[RolloutEnv], policy: GenerativePolicy, task_id: int,
                 seeds: Sequence[int], execute: int, guide: Guide | None = None
                 ) -> list[bool]:
    """Closed-loop episodes for ``seeds`` (one per seed), run in lock step over ``envs``
    so that every re-planning is one batched ``policy.act`` call (with sampling-time
    guidance ``guide`` when given). Returns success per seed.

    The result for a seed does not depend on the number of envs except through the
    sampling noise, which is drawn from one generator seeded with ``seeds[0]``.
    """
    horizon = max(policy.config.obs_horizon, 1)
    gen = torch.Generator().manual_seed(int(seeds[0]) if len(seeds) else 0)
    todo = list(enumerate(seeds))[::-1]
    results: dict[int, bool] = {}
    index: dict[int, int] = {}
    slots = [_Slot(env) for env in envs]

    def start(slot: _Slot) -> bool:
        if not todo:
            return False
        i, seed = todo.pop()
        obs = slot.env.reset(int(seed))
        slot.seed, slot.steps, slot.queue = int(seed), 0, []
        slot.history = deque([obs] * horizon, maxlen=horizon)
        index[id(slot)] = i
        return True

    active = [s for s in slots if start(s)]
    while active:
        plan = [s for s in active if not s.queue]
        if plan:
            obs = (torch.as_tensor(np.stack([np.stack(s.history) for s in plan]))
                   if policy.config.obs_dim else None)
            task = torch.full((len(plan),), task_id) if policy.config.num_tasks else None
            # an actor without sampling guidance need not take the argument (LeRobot's)
            extra = {} if guide is None else {"guide": guide}
            chunks = policy.act(obs, task, batch=len(plan), generator=gen, **extra).numpy()
            for s, chunk in zip(plan, chunks, strict=True):
                s.queue = list(chunk[:execute])
        still = []
        for s in active:
            obs, success, done = s.env.step(s.queue.pop(0))
            s.history.append(obs)
            s.steps += 1
            if success or done or s.steps >= s.env.max_steps:
                results[index[id(s)]] = bool(success)
                if start(s):
                    still.append(s)
            else:
                still.append(s)
        active = still
    return [results[i] for i in range(len(seeds))]


def load_task_policy(policy_dir: str, task: str) -> tuple[GenerativePolicy, int]:
    """A saved policy and the index of ``task`` among the tasks it was trained on (0 for a
    policy without task conditioning)."""
    policy = GenerativePolicy.from_pretrained(Path(policy_dir))
    if not policy.config.num_tasks:
        return policy, 0
    if task not in policy.task_names:
        raise ConfigError(f"{policy_dir} was not trained on task '{task}' (it knows "
                          f"{policy.task_names}); fine-tune it on demos of that task first.")
    return policy, policy.task_names.index(task)


def evaluate_task(policy_dir: str, suite: str, task: str, episodes: int, execute: int,
                  first_seed: int = EVAL_SEED_BASE, max_steps: int | None = None,
                  batch: int = 10, robot: str | None = None,
                  units_from: str | None = None,
                  sampling: tuple[str, float] | tuple[str, float, torch.Tensor] | None = None
              ) -> TaskResult:
    """Success of a saved policy on one task over ``episodes`` seeded episodes, ``batch``
    environments in lock step. ``units_from``: another saved policy whose action and
    observation normalisers replace this one's (the fine-tuned weights acting in the
    pre-trained policy's units, for the tasks it was pre-trained on). ``sampling``: (stage-2
    folder, scale[, bank]) of sampling-time latent guidance (``sampling_guide``)."""
    torch.set_num_threads(1)
    policy, task_id = load_task_policy(policy_dir, task)
    if units_from is not None:
        units = GenerativePolicy.from_pretrained(Path(units_from))
        if units.slots != policy.slots:
            raise ConfigError(f"{units_from} places its actions in other slots than "
                              f"{policy_dir}; its units cannot be borrowed.")
        policy.normalizer, policy.obs_normalizer = units.normalizer, units.obs_normalizer
    envs = environments(suite, task, robot, max(1, min(batch, episodes)), max_steps)
    _check_fits(policy, envs[0], policy_dir, suite)
    seeds = [first_seed + i for i in range(episodes)]
    guide = None if sampling is None else sampling_guide(policy, policy_dir, *sampling)
    outcomes = run_episodes(envs, policy, task_id, seeds, execute, guide)
    return TaskResult(task, sum(outcomes), episodes, robot or "", outcomes, seeds)


def _check_fits(policy: GenerativePolicy, env: RolloutEnv, policy_dir: str, suite: str
                ) -> None:
    """The policy must act and observe in the environment's sizes (else the simulator
    fails deep inside with its own assertion)."""
    where = f"{suite} {env.task}"
    if policy.slots.dim != env.action_dim:
        raise ConfigError(f"{policy_dir}: the policy acts with {policy.slots.dim}-d actions but "
                          f"{where} takes {env.action_dim}-d ones; evaluate a policy trained "
                          "on this suite's demos.")
    if policy.config.obs_dim and policy.obs_real_dim != env.obs_dim:
        raise ConfigError(f"{policy_dir}: the policy reads {policy.obs_real_dim}-d "
                          f"observations but {where} gives {env.obs_dim}-d ones; evaluate a "
                          "policy trained on this suite's demos.")


def sampling_guide(policy: GenerativePolicy, policy_dir: str, stage2: str, scale: float,
                   bank: torch.Tensor | None = None) -> LatentSamplingGuidance:
    """Sampling-time latent guidance for a saved policy: the stage-2 encoder of ``stage2`` in
    the policy's units, and a bank of latents (K, d) of the chunks the policy was trained on
    (the data recorded in its config.json), or ``bank`` when given (one evaluation over many
    tasks builds it once)."""
    view = PolicyChunkEncoder.from_pretrained(stage2, slots=policy.slots.indices,
                                              policy_normalizer=policy.normalizer)
    cfg = SamplingGuidanceConfig(scale=scale)
    if bank is not None:
        return LatentSamplingGuidance(view, bank, cfg)
    from ate.data.config import DataConfig
    from ate.data.prepare import prepare_chunks

    path = resolve_checkpoint(Path(policy_dir)) / "config.json"
    run = read_json(path, "policy checkpoint").get("run", {})
    if "data" not in run:
        raise ConfigError(f"{path}: no recorded training data, so no target latents for "
                          "sampling guidance; use a policy written by `ate finetune`.")
    data = prepare_chunks(from_dict(DataConfig, run["data"], str(path)))
    picked = first_chunks(data.train, cfg.bank_size)
    return LatentSamplingGuidance.from_chunks(view, picked["action"], picked.get("step_mask"),
                                              cfg)


def evaluate(policy_dir: str, suite: str, tasks: Sequence[str], episodes: int,
             execute: int = 8, workers: int = 1, max_steps: int | None = None,
             robots: Sequence[str] = (), batch: int = 10,
             sampling: tuple[str, float] | None = None) -> list[TaskResult]:
    """``evaluate_task`` for every task (and robot), ``workers`` processes at a time, of the
    policy in ``policy_dir`` (a run folder or a checkpoint folder); with
    ``sampling``, its bank of target latents is built once, here, for all of them."""
    policy_dir = str(resolve_checkpoint(Path(policy_dir)))
    pairs = [(t, r) for r in (robots or [None]) for t in tasks]
    if sampling is not None and len(pairs) > 1:
        policy = GenerativePolicy.from_pretrained(Path(policy_dir))
        sampling = (*sampling, sampling_guide(policy, policy_dir, *sampling).bank.cpu())
    calls = [(policy_dir, suite, t, episodes, execute, EVAL_SEED_BASE, max_steps, batch, r,
              None, sampling) for t, r in pairs]
    return map_processes(evaluate_task, calls, workers)
