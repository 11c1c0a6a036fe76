"""Pre- and post-processing of ``ate_diffusion``: the stock Diffusion Policy's."""

from __future__ import annotations

from typing import Any

from lerobot.policies.diffusion.processor_diffusion import make_diffusion_pre_post_processors


def make_ate_diffusion_pre_post_processors(config: Any, dataset_stats: dict | None = None):
    """The stock pipelines (normalisation with the dataset stats, device, batching)."""
    return make_diffusion_pre_post_processors(config, dataset_stats)
