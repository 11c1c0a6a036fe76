"""A saved LeRobot Diffusion Policy, with its own processors, in the shape ``ate``'s
closed-loop rollout drives (``ate.bench.rollout.run_episodes``): one batched ``act`` per
re-plan, observation histories in, raw action chunks out.

The policy reads ``observation.state`` (the simulator's observation vector) and
``observation.environment_state`` (the task as a one-hot over ``task_names``: a state-only
LeRobot Diffusion Policy has no other task input), as the datasets
``docs/results/lerobot_metaworld.py`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor


@dataclass
class ActorConfig:
    """What the rollout reads off a policy's config."""

    obs_horizon: int
    obs_dim: int
    num_tasks: int


class LeRobotActor:
    """``act(obs, task, batch, generator)`` for a LeRobot Diffusion Policy checkpoint.

    Args:
        folder: a ``pretrained_model`` folder (config, weights, processor configs).
        task_names: the tasks of the one-hot ``observation.environment_state``, in order.
        device: where the policy runs.
    """

    def __init__(self, folder: str | Path, task_names: list[str], device: str = "cpu") -> None:
        from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
        from lerobot.policies.factory import make_pre_post_processors

        self.policy = DiffusionPolicy.from_pretrained(Path(folder)).to(device).eval()
        self.pre, self.post = make_pre_post_processors(self.policy.config,
                                                       pretrained_path=str(folder))
        config = self.policy.config
        self.task_names = list(task_names)
        self.config = ActorConfig(obs_horizon=config.n_obs_steps,
                                  obs_dim=config.input_features["observation.state"].shape[0],
                                  num_tasks=len(self.task_names))
        self.device = device

    @torch.no_grad()
    def act(self, obs: Tensor, task: Tensor, batch: int | None = None,
            generator: torch.Generator | None = None) -> Tensor:
        """(B, n_action_steps, D) raw actions for observation histories (B, n_obs, S) and
        task ids (B,) into ``task_names``; the sampling noise comes from ``generator``."""
        b, n_obs = obs.shape[:2]
        onehot = torch.nn.functional.one_hot(task.long(), len(self.task_names)).float()
        inputs = {"observation.state": obs.float(),
                  "observation.environment_state": onehot[:, None].expand(b, n_obs, -1)}
        inputs = self.pre(inputs)
        cfg = self.policy.config
        shape = (b, cfg.horizon, cfg.output_features["action"].shape[0])
        noise = torch.randn(shape, generator=generator).to(self.device)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the scheduler's step noise draws from the global RNG
            actions = self.policy.diffusion.generate_actions(inputs, noise=noise)
        return self.post(actions).cpu()
