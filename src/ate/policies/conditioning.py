"""The condition vector both policies share: flattened observation history + task embedding."""

from __future__ import annotations

import torch
from torch import nn

from ate.policies.config import PolicyConfig


class ObsTaskEncoder(nn.Module):
    """(obs (B, n_obs, S), task (B,)) -> (B, cond_dim); unknown tasks (-1) get a zero vector.

    New tasks in fine-tuning are new rows of the table (``grow_tasks``).
    """

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.obs_size = config.obs_dim * config.obs_horizon
        self.tasks = nn.Embedding(config.num_tasks, config.task_dim) if config.num_tasks else None
        self.cond_dim = self.obs_size + (config.task_dim if config.num_tasks else 0)

    def forward(self, obs: torch.Tensor | None, task: torch.Tensor | None
                ) -> torch.Tensor | None:
        parts = []
        if self.obs_size:
            if obs is None:
                raise ValueError("this policy conditions on observations: pass obs")
            parts.append(obs.flatten(1))
        if self.tasks is not None:
            if task is None:
                raise ValueError("this policy conditions on a task id: pass task")
            known = task >= 0
            emb = self.tasks(task.clamp(min=0)) * known[:, None]
            parts.append(emb)
        return torch.cat(parts, dim=-1) if parts else None
