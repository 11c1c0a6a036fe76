"""Tiny align configs and synthetic robots shared by the align tests."""

from __future__ import annotations

from pathlib import Path

from ate.align.config import AlignConfig, ModelConfig, OptimConfig, PriorConfig, TrainConfig
from ate.data import DataConfig, write_hdf5_episodes
from ate.data.synthetic import synthetic_episodes


def make_robots(root: Path, pretrain_dim: int = 6, target_dim: int = 4, episodes: int = 12
                ) -> tuple[Path, Path]:
    """Two synthetic robots of different action dims, as HDF5 datasets."""
    pre, tgt = root / "pretrain", root / "target"
    write_hdf5_episodes(pre, synthetic_episodes(episodes, pretrain_dim, length=(30, 40),
                                                embodiment_seed=0, seed=0))
    write_hdf5_episodes(tgt, synthetic_episodes(episodes, target_dim, length=(30, 40),
                                                embodiment_seed=1, seed=1))
    return pre, tgt


def tiny_config(pre: Path, tgt: Path, **train: object) -> AlignConfig:
    """A VAE small enough for many test runs: latent 8, 3 layers, width 16."""
    return AlignConfig(
        pretrain_data=DataConfig(path=str(pre), chunk_length=8, val_fraction=0.2),
        target_data=DataConfig(path=str(tgt), chunk_length=8, val_fraction=0.2),
        model=ModelConfig(latent_dim=8, hidden_dim=16, num_layers=3, num_heads=2, ff_dim=32),
        optim=OptimConfig(batch_size=32, lr=1e-3),
        prior=PriorConfig(kind="gaussian", bank_size=256),
        train=TrainConfig(**{"epochs": 2, "val_every": 5, "save_every": 5, "log_every": 5,
                             **train}),
    )
