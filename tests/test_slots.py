from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ate.data import EmbodimentSlots, rdt_slot
from ate.errors import DataError


@st.composite
def layouts(draw: st.DrawFn) -> EmbodimentSlots:
    size = draw(st.integers(1, 40))
    idx = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=size, unique=True))
    return EmbodimentSlots.explicit(idx, size)


@given(layouts(), st.integers(1, 4))
def test_place_then_extract_is_identity(slots, batch) -> None:
    x = np.random.default_rng(0).normal(size=(batch, slots.dim)).astype(np.float32)
    u = slots.place(x)
    assert u.shape == (batch, slots.size)
    np.testing.assert_array_equal(slots.extract(u), x)
    np.testing.assert_array_equal(u[:, ~slots.mask], 0)
    assert slots.mask.sum() == slots.dim
    torch.testing.assert_close(slots.place(torch.from_numpy(x)), torch.from_numpy(u))


def test_presets() -> None:
    assert EmbodimentSlots.identity(3).size == 3
    pad = EmbodimentSlots.pad(3, 8)
    assert pad.mask.tolist() == [True] * 3 + [False] * 5
    with pytest.raises(DataError, match="at least 5"):
        EmbodimentSlots.pad(5, 4)


def test_rdt_layout_for_an_aloha_style_robot() -> None:
    names = ([f"left_arm_joint_pos_{i}" for i in range(6)] + ["left_gripper_open"]
             + [f"right_arm_joint_pos_{i}" for i in range(6)] + ["right_gripper_open"])
    slots = EmbodimentSlots.rdt(names)
    assert slots.size == 128
    assert list(slots.indices) == [50, 51, 52, 53, 54, 55, 60, 0, 1, 2, 3, 4, 5, 10]
    assert rdt_slot("right_eef_pos_2") == 32
    assert rdt_slot("left_eef_angular_vel_2") == 94
    assert rdt_slot("base_angular_vel_0") == 102
    with pytest.raises(DataError, match="not a slot name"):
        rdt_slot("right_arm_joint_pos_10")
