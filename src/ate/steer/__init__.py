"""Steer: latent guidance folded into diffusion / flow training objectives."""

from ate.steer.guidance import GuidanceConfig, GuidanceStats, LatentGuidance
from ate.steer.objectives import FAMILIES, guided_loss, guided_target, masked_mse, x0_scale

__all__ = [
    "FAMILIES",
    "GuidanceConfig",
    "GuidanceStats",
    "LatentGuidance",
    "guided_loss",
    "guided_target",
    "masked_mse",
    "x0_scale",
]
