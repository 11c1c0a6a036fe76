"""Reference policy networks small enough for a CPU (more arrive with the policies issue)."""

from ate.policies.unet1d import ConditionalUnet1D

__all__ = ["ConditionalUnet1D"]
