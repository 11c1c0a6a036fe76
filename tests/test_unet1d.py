from __future__ import annotations

import pytest
import torch

from ate.policies import ConditionalUnet1D


def test_shapes_conditioning_and_gradients() -> None:
    torch.manual_seed(0)
    net = ConditionalUnet1D(6, cond_dim=5, time_dim=32, down_dims=(16, 32, 64), groups=4)
    x, t, c = torch.randn(3, 16, 6), torch.tensor([0, 10, 99]), torch.randn(3, 5)
    out = net(x, t, c)
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, t, c + 1.0))  # the condition matters (FiLM)
    assert not torch.allclose(out, net(x, t + 1, c))  # so does the timestep
    out.pow(2).mean().backward()
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("length", [8, 16, 32])
def test_chunk_lengths_divisible_by_the_downsampling(length) -> None:
    net = ConditionalUnet1D(3, time_dim=16, down_dims=(8, 16, 32), groups=4)
    assert net(torch.randn(2, length, 3), torch.zeros(2)).shape == (2, length, 3)
