"""Reference policies small enough for a CPU: a diffusion U-Net and a pi0-style flow model."""

from ate.policies.config import PolicyConfig
from ate.policies.diffusion import DiffusionPolicy
from ate.policies.flow import FlowPolicy
from ate.policies.policy import GenerativePolicy
from ate.policies.task_features import TaskFeatures
from ate.policies.unet1d import ConditionalUnet1D

__all__ = ["ConditionalUnet1D", "DiffusionPolicy", "FlowPolicy", "GenerativePolicy",
           "PolicyConfig", "TaskFeatures"]
