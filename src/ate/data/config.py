"""The data section of every training config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ate.data.normalizer import NormalizerKind
from ate.data.slots import EmbodimentSlots
from ate.errors import ConfigError


@dataclass
class SlotConfig:
    """Where the dataset's D action dims go in the unified vector.

    Attributes:
        layout: ``identity`` (U = D), ``pad`` (dims 0..D-1 of a vector of ``size``, pi0
            style), ``explicit`` (``indices`` into a vector of ``size``), ``rdt`` (RDT's
            128-slot vector, from the dims' ``names``).
        size: U, for ``pad`` and ``explicit``.
        indices: one slot per action dim, for ``explicit``.
        names: one RDT slot name per action dim, for ``rdt`` (e.g. ``left_arm_joint_pos_0``).
    """

    layout: Literal["identity", "pad", "explicit", "rdt"] = "identity"
    size: int | None = None
    indices: tuple[int, ...] = ()
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.layout in ("pad", "explicit") and self.size is None:
            raise ConfigError(f"slots.layout={self.layout} needs slots.size (the unified U).")
        if self.layout == "explicit" and not self.indices:
            raise ConfigError("slots.layout=explicit needs slots.indices, one per action dim.")
        if self.layout == "rdt" and not self.names:
            raise ConfigError("slots.layout=rdt needs slots.names, one RDT name per action dim.")

    def build(self, dim: int) -> EmbodimentSlots:
        """The placement for a dataset of ``dim`` action dims (checked against it)."""
        if self.layout == "identity":
            slots = EmbodimentSlots.identity(dim)
        elif self.layout == "pad":
            slots = EmbodimentSlots.pad(dim, int(self.size))  # type: ignore[arg-type]
        elif self.layout == "explicit":
            slots = EmbodimentSlots.explicit(self.indices, int(self.size))  # type: ignore[arg-type]
        else:
            slots = EmbodimentSlots.rdt(self.names)
        slots.check_dim(dim, "the dataset")
        return slots


@dataclass
class DataConfig:
    """Which episodes to read and how to cut them into normalised chunks.

    Attributes:
        path: dataset folder or file (any format ``load_episodes`` reads).
        format: ``auto`` or a format name (hdf5, robomimic, lerobot, zarr, numpy).
        action_key: array / column with the actions; None = the format's default.
        obs_key: array / column with per-step observations (e.g. ``observation.state``);
            None = actions only.
        obs_horizon: observation steps per chunk (needs ``obs_key``; 0 = none).
        obs_size: pad every observation with zeros (after normalisation) to this width, so
            robots whose observations differ in size share one policy (pi0 pads its state
            likewise); None = the dataset's own size.
        chunk_length: H, action steps per chunk.
        pad_tail: also cut windows in the last H - 1 steps, padded with the last action.
        val_fraction: share of episodes held out when the dataset has no split of its own.
        split_seed: seed of that random split.
        normalizer: ``minmax`` (to [-1, 1]), ``meanstd`` or ``identity``; fit on train.
        drop_nonfinite: skip episodes with NaN/inf instead of stopping with an error.
        allow_missing: LeRobot: train on the complete episodes when the metadata lists
            some that the data files lack (warned and counted) instead of stopping.
        slots: placement into the unified action vector.
    """

    path: str = ""
    format: str = "auto"
    action_key: str | None = None
    obs_key: str | None = None
    obs_horizon: int = 0
    obs_size: int | None = None
    chunk_length: int = 16
    pad_tail: bool = False
    val_fraction: float = 0.1
    split_seed: int = 0
    normalizer: NormalizerKind = "minmax"
    drop_nonfinite: bool = False
    allow_missing: bool = False
    slots: SlotConfig = field(default_factory=SlotConfig)

    def __post_init__(self) -> None:
        if self.chunk_length < 1:
            raise ConfigError(f"data.chunk_length must be >= 1, got {self.chunk_length}.")
        if self.obs_horizon and not self.obs_key:
            raise ConfigError("data.obs_horizon > 0 needs data.obs_key (the observation array).")
        if self.obs_size is not None and (self.obs_size < 1 or not self.obs_horizon):
            raise ConfigError(f"data.obs_size={self.obs_size}: it pads the observations a "
                              "policy reads, so it needs data.obs_horizon > 0 and a size >= 1.")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}.")
