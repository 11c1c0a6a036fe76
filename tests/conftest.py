"""Fixtures are generated here, never committed: each test writes the files it reads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile("default")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def random_episodes(rng: np.random.Generator, n: int = 5, dim: int = 3,
                    lengths: tuple[int, int] = (5, 30)) -> list[np.ndarray]:
    """Episodes of random lengths with float32 values."""
    return [rng.normal(size=(int(rng.integers(*lengths)), dim)).astype(np.float32)
            for _ in range(n)]
