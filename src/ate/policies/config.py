"""The config of the reference policies (one dataclass for both families)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ate.errors import ConfigError


@dataclass
class PolicyConfig:
    """Architecture and generative family of a reference policy.

    Attributes:
        kind: ``diffusion`` (Diffusion Policy style U-Net, DDPM training, DDIM sampling) or
            ``flow`` (pi0 action-expert style transformer, flow matching, Euler sampling).
        action_dim: U, slots of the unified action vector.
        chunk_length: H, action steps predicted per call.
        obs_dim: S, observation width the network reads, zero padding included (0 = no
            observation input).
        obs_horizon: observation steps the policy conditions on.
        num_tasks: tasks the policy knows (0 = no task input).
        task_dim: task-embedding size.
        task_text_dim: F of the tasks' text features (``TaskFeatures``); then a task's
            embedding is a learned linear map of its features (kept in the checkpoint),
            not a learned row of its own. 0 = a learned table.
        prediction: ``epsilon``, ``sample`` or ``v_prediction`` (diffusion only).
        train_timesteps: DDPM steps in training (diffusion).
        inference_steps: DDIM steps (diffusion) or Euler steps (flow) when acting.
        beta_schedule: diffusers beta schedule name (diffusion).
        down_dims: U-Net channels per resolution (diffusion).
        width: transformer width (flow).
        layers: transformer layers (flow).
        heads: attention heads (flow).
        time_beta: (a, b) of the Beta law of flow times t (pi0: 1.5, 1.0; t = 1 is noise).
    """

    kind: Literal["diffusion", "flow"] = "diffusion"
    action_dim: int = 0
    chunk_length: int = 16
    obs_dim: int = 0
    obs_horizon: int = 2
    num_tasks: int = 0
    task_dim: int = 32
    task_text_dim: int = 0
    prediction: Literal["epsilon", "sample", "v_prediction"] = "epsilon"
    train_timesteps: int = 100
    inference_steps: int = 10
    beta_schedule: str = "squaredcos_cap_v2"
    down_dims: tuple[int, ...] = (64, 128, 256)
    width: int = 128
    layers: int = 4
    heads: int = 4
    time_beta: tuple[float, float] = (1.5, 1.0)

    def __post_init__(self) -> None:
        if self.kind == "diffusion" and self.chunk_length % 2 ** (len(self.down_dims) - 1):
            raise ConfigError(f"policy.chunk_length {self.chunk_length} must be divisible by "
                              f"{2 ** (len(self.down_dims) - 1)} for a U-Net with "
                              f"{len(self.down_dims)} resolutions.")
        if self.inference_steps < 1 or self.train_timesteps < 1:
            raise ConfigError("policy.inference_steps and train_timesteps must be >= 1.")
