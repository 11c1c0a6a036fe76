"""Steer: latent guidance folded into diffusion / flow training objectives."""

from ate.steer.guidance import GuidanceConfig, GuidanceStats, LatentGuidance
from ate.steer.objectives import (
    FAMILIES,
    ORDERS,
    guidance_term,
    guided_loss,
    guided_target,
    masked_mse,
    shift_bound,
    target_shift,
    x0_factor,
    x0_scale,
)

__all__ = [
    "FAMILIES",
    "ORDERS",
    "GuidanceConfig",
    "GuidanceStats",
    "LatentGuidance",
    "guidance_term",
    "guided_loss",
    "guided_target",
    "masked_mse",
    "shift_bound",
    "target_shift",
    "x0_factor",
    "x0_scale",
]
