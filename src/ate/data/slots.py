"""Embodiment slots: where a robot's D action dims sit in a unified vector of size U.

As in RDT (a 128-slot vector with named ranges) and pi0 (zero-padding to a max dim), one
network serves robots of different D; a boolean mask says which slots are real, and every
loss and guidance gradient is masked with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ate.errors import DataError

RDT_SIZE = 128
# RDT's unified state/action vector (configs/state_vec.py in the RDT repository):
# (name prefix, first slot, count). Names are `{prefix}_{i}` or, for single slots, the prefix.
_RDT_RANGES = (
    ("right_arm_joint_pos", 0, 10), ("right_gripper_joint_pos", 10, 5),
    ("right_arm_joint_vel", 15, 10), ("right_gripper_joint_vel", 25, 5),
    ("right_eef_pos", 30, 3), ("right_eef_angle", 33, 6), ("right_eef_vel", 39, 3),
    ("right_eef_angular_vel", 42, 3),
    ("left_arm_joint_pos", 50, 10), ("left_gripper_joint_pos", 60, 5),
    ("left_arm_joint_vel", 65, 10), ("left_gripper_joint_vel", 75, 5),
    ("left_eef_pos", 80, 3), ("left_eef_angle", 83, 6), ("left_eef_vel", 89, 3),
    ("left_eef_angular_vel", 92, 3),
    ("base_vel", 100, 2), ("base_angular_vel", 102, 1),
)
_RDT_ALIASES = {"right_gripper_open": 10, "left_gripper_open": 60}


def rdt_slot(name: str) -> int:
    """Slot of a named quantity in RDT's 128-d vector, e.g. ``left_arm_joint_pos_3`` -> 53.

    Names follow RDT: ``{right|left}_arm_joint_pos_{i}`` (i < 10), ``..._gripper_joint_pos_{i}``
    (i < 5), ``..._eef_pos_{i}`` (x, y, z as 0..2), ``..._eef_angle_{i}`` (6-D rotation),
    ``..._gripper_open``, velocities likewise, ``base_vel_{0,1}``, ``base_angular_vel_0``.
    """
    if name in _RDT_ALIASES:
        return _RDT_ALIASES[name]
    prefix, _, index = name.rpartition("_")
    for range_name, start, count in _RDT_RANGES:
        if prefix == range_name and index.isdigit() and int(index) < count:
            return start + int(index)
    raise DataError(f"'{name}' is not a slot name of RDT's unified vector. Examples: "
                    "right_arm_joint_pos_0, left_gripper_open, right_eef_pos_2.")


@dataclass(frozen=True)
class EmbodimentSlots:
    """Placement of D action dims into U unified slots.

    Attributes:
        indices: (D,) int slot of each action dim; unique, each in [0, U).
        size: U, the unified vector's length.
    """

    indices: tuple[int, ...]
    size: int

    def __post_init__(self) -> None:
        idx = np.asarray(self.indices)
        if len(idx) == 0:
            raise DataError("slot indices are empty; a robot needs at least one action dim.")
        if idx.min() < 0 or idx.max() >= self.size:
            bad = [int(i) for i in idx if i < 0 or i >= self.size]
            raise DataError(f"slot indices {bad} are out of range for a unified vector of size "
                            f"{self.size}; indices must lie in [0, {self.size}).")
        if len(set(idx.tolist())) != len(idx):
            dup = sorted({int(i) for i in idx if (idx == i).sum() > 1})
            raise DataError(f"slot indices {dup} appear more than once; each action dim needs "
                            "its own slot.")

    @classmethod
    def identity(cls, dim: int) -> EmbodimentSlots:
        """U = D, dim i in slot i."""
        return cls(tuple(range(dim)), dim)

    @classmethod
    def pad(cls, dim: int, size: int) -> EmbodimentSlots:
        """pi0 style: the D dims in slots 0..D-1 of a vector of size U >= D, the rest zero."""
        if size < dim:
            raise DataError(f"cannot pad {dim} action dims into a unified vector of size {size};"
                            f" set the size to at least {dim}.")
        return cls(tuple(range(dim)), size)

    @classmethod
    def explicit(cls, indices: Sequence[int], size: int) -> EmbodimentSlots:
        """Any placement, e.g. RDT's: ``explicit([50, 51, ..., 60, 0, ..., 10], 128)``."""
        return cls(tuple(int(i) for i in indices), size)

    @classmethod
    def rdt(cls, names: Sequence[str]) -> EmbodimentSlots:
        """RDT's 128-slot layout from the names of the D action dims, in the data's order."""
        return cls(tuple(rdt_slot(n) for n in names), RDT_SIZE)

    @property
    def dim(self) -> int:
        """D, the number of real action dims."""
        return len(self.indices)

    @property
    def mask(self) -> np.ndarray:
        """(U,) bool, True at the real slots."""
        m = np.zeros(self.size, dtype=bool)
        m[list(self.indices)] = True
        return m

    def check_dim(self, dim: int, where: str = "dataset") -> None:
        """Raise a clear error if the data's action dim is not this placement's D."""
        if dim != self.dim:
            raise DataError(f"{where} has {dim} action dims but the slot layout places "
                            f"{self.dim}; give one slot index per action dim.")

    def place(self, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """(..., D) -> (..., U), zeros in the unused slots."""
        self.check_dim(x.shape[-1], "input")
        if isinstance(x, torch.Tensor):
            out = x.new_zeros((*x.shape[:-1], self.size))
        else:
            out = np.zeros((*x.shape[:-1], self.size), dtype=x.dtype)
        out[..., list(self.indices)] = x
        return out

    def extract(self, u: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """(..., U) -> (..., D), the inverse of ``place``."""
        if u.shape[-1] != self.size:
            raise DataError(f"unified vector has {u.shape[-1]} slots, layout expects {self.size}.")
        return u[..., list(self.indices)]
