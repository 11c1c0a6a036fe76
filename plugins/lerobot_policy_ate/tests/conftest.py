"""Tiny stand-ins built with the real packages: a stage-2 VAE written by ``ate``, LeRobot
features and stats, a local LeRobot dataset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

D, S, E, H = 3, 4, 5, 16  # action dims, state, environment state, horizon


def write_stage2(folder: Path, dim: int = D, length: int = H, seed: int = 0) -> Path:
    """A (randomly initialised) stage-2 VAE folder as ``ate align`` writes it."""
    from ate.align.vae import ActionVAE, VAEConfig
    from ate.data import Normalizer

    torch.manual_seed(seed)
    vae = ActionVAE(VAEConfig(action_dim=dim, max_chunk_length=length, latent_dim=8,
                              hidden_dim=16, num_layers=3, num_heads=2, ff_dim=32))
    vae.save_pretrained(folder / "best", {"slots": {"indices": list(range(dim)), "size": dim}})
    rng = np.random.default_rng(seed)
    Normalizer.fit(rng.normal(0.5, 2.0, (200, dim))).save(folder / "best" / "normalizer.json")
    return folder


def stats(dim: int = D) -> dict:
    rng = np.random.default_rng(1)
    x = torch.as_tensor(rng.normal(0.3, 1.5, (500, dim)), dtype=torch.float32)
    q = {f"q{k:02d}": torch.quantile(x, k / 100, dim=0) for k in (1, 10, 90, 99)}
    return {"action": {"min": x.min(0).values, "max": x.max(0).values, "mean": x.mean(0),
                       "std": x.std(0), **q}}


def features() -> tuple[dict, dict]:
    from lerobot.configs.types import FeatureType, PolicyFeature

    inputs = {"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(S,)),
              "observation.environment_state": PolicyFeature(type=FeatureType.ENV, shape=(E,))}
    return inputs, {"action": PolicyFeature(type=FeatureType.ACTION, shape=(D,))}


def diffusion_kwargs(prediction: str = "epsilon") -> dict:
    inputs, outputs = features()
    return dict(input_features=inputs, output_features=outputs, horizon=H, n_obs_steps=2,
                n_action_steps=8, down_dims=(16, 32), diffusion_step_embed_dim=16,
                kernel_size=3, n_groups=4, pretrained_backbone_weights=None,
                prediction_type=prediction, num_inference_steps=4, device="cpu")


def batch(n: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    """Normalised inputs as LeRobot's preprocessor hands them to the policy."""
    g = torch.Generator().manual_seed(seed)
    pad = torch.zeros(n, H, dtype=torch.bool)
    pad[0, -3:] = True  # an episode's end: the last steps are padded copies
    return {"observation.state": torch.randn(n, 2, S, generator=g),
            "observation.environment_state": torch.randn(n, 2, E, generator=g),
            "action": torch.randn(n, H, D, generator=g).clamp(-1, 1), "action_is_pad": pad}


@pytest.fixture
def stage2(tmp_path) -> Path:
    return write_stage2(tmp_path / "stage2")
