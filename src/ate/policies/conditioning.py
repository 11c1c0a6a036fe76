"""The condition vector both policies share: flattened observation history + task embedding."""

from __future__ import annotations

import torch
from torch import nn

from ate.policies.config import PolicyConfig


class ObsTaskEncoder(nn.Module):
    """(obs (B, n_obs, S), task (B,)) -> (B, cond_dim); unknown tasks (-1) get a zero vector.

    A task's embedding is a learned row of a table, or with ``task_text_dim`` a learned
    linear map of its text features (buffer ``task_text``, (num_tasks, F)). New tasks in
    fine-tuning are new rows (``grow``).
    """

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.obs_size = config.obs_dim * config.obs_horizon
        text = config.num_tasks and config.task_text_dim
        self.tasks = (nn.Embedding(config.num_tasks, config.task_dim)
                      if config.num_tasks and not text else None)
        self.task_proj = nn.Linear(config.task_text_dim, config.task_dim) if text else None
        if text:
            self.register_buffer("task_text", torch.zeros(config.num_tasks,
                                                          config.task_text_dim))
        self.cond_dim = self.obs_size + (config.task_dim if config.num_tasks else 0)

    @property
    def uses_tasks(self) -> bool:
        """Whether the condition includes a task embedding."""
        return self.tasks is not None or self.task_proj is not None

    def embed_tasks(self, task: torch.Tensor) -> torch.Tensor:
        """(B,) task ids -> (B, task_dim); id -1 (unknown) gives zeros."""
        known = (task >= 0)[:, None]
        ids = task.clamp(min=0)
        if self.task_proj is not None:
            return self.task_proj(self.task_text[ids]) * known
        return self.tasks(ids) * known

    def grow(self, rows: int, text: torch.Tensor | None = None) -> None:
        """Append tasks up to ``rows``: fresh random rows of the table, or the new tasks'
        text features ``text`` (rows - current, F)."""
        if self.task_proj is not None:
            if text is None or text.shape != (rows - len(self.task_text), self.task_text.shape[1]):
                raise ValueError(f"new tasks need text features of shape "
                                 f"({rows - len(self.task_text)}, {self.task_text.shape[1]}).")
            self.task_text = torch.cat([self.task_text, text.to(self.task_text)])
            return
        old = self.tasks
        table = nn.Embedding(rows, old.embedding_dim).to(old.weight.device)
        table.weight.data[:old.num_embeddings] = old.weight.data
        self.tasks = table

    def forward(self, obs: torch.Tensor | None, task: torch.Tensor | None
                ) -> torch.Tensor | None:
        parts = []
        if self.obs_size:
            if obs is None:
                raise ValueError("this policy conditions on observations: pass obs")
            parts.append(obs.flatten(1))
        if self.uses_tasks:
            if task is None:
                raise ValueError("this policy conditions on a task id: pass task")
            parts.append(self.embed_tasks(task))
        return torch.cat(parts, dim=-1) if parts else None
