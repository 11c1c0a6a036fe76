from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ate.data import Normalizer
from ate.errors import DataError

arrays = hnp.arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 5)),
                    elements=st.floats(-1e4, 1e4, allow_nan=False))


@given(arrays, st.sampled_from(["minmax", "meanstd", "identity"]))
def test_inverse_recovers_input(x, kind) -> None:
    norm = Normalizer.fit(x, kind)
    np.testing.assert_allclose(norm.inverse(norm.transform(x)), x, rtol=1e-12, atol=1e-9)


@given(arrays)
def test_minmax_maps_onto_unit_interval(x) -> None:
    y = Normalizer.fit(x, "minmax").transform(x)
    assert np.all(y >= -1 - 1e-9) and np.all(y <= 1 + 1e-9)
    # the normaliser's own test of a constant dim: a range of one denormal halves to 0
    spread = (x.max(0) - x.min(0)) / 2 > 0
    np.testing.assert_allclose(y.min(0)[spread], -1, atol=1e-9)
    np.testing.assert_allclose(y.max(0)[spread], 1, atol=1e-9)


def test_constant_dims_map_to_zero_and_back_exactly() -> None:
    x = np.column_stack([np.full(10, 3.25), np.linspace(0, 1, 10)])
    for kind in ("minmax", "meanstd"):
        norm = Normalizer.fit(x, kind)
        y = norm.transform(x)
        assert np.all(y[:, 0] == 0) and np.all(np.isfinite(y))
        assert np.all(norm.inverse(y)[:, 0] == 3.25)


def test_meanstd_statistics() -> None:
    x = np.random.default_rng(0).normal(5, 3, size=(5000, 2))
    y = Normalizer.fit(x, "meanstd").transform(x)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-12)


def test_json_round_trip_and_torch(tmp_path) -> None:
    x = np.random.default_rng(1).normal(size=(50, 4)) * [1, 10, 100, 0.01]
    norm = Normalizer.fit(x, "minmax")
    norm.save(tmp_path / "normalizer.json")
    back = Normalizer.load(tmp_path / "normalizer.json")
    np.testing.assert_array_equal(back.offset, norm.offset)
    np.testing.assert_array_equal(back.scale, norm.scale)
    t = torch.tensor(x, dtype=torch.float64)
    torch.testing.assert_close(back.transform(t), torch.from_numpy(norm.transform(x)))


def test_wrong_dim_is_an_error() -> None:
    norm = Normalizer.fit(np.zeros((3, 2)), "minmax")
    with pytest.raises(DataError, match="fitted on 2 dims"):
        norm.transform(np.zeros((3, 5)))
