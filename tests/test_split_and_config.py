from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ate.config import from_dict, load_yaml, save_yaml
from ate.data import (
    DataConfig,
    Episodes,
    RawEpisode,
    prepare_chunks,
    split_episodes,
    write_hdf5_episodes,
)
from ate.errors import ConfigError, DataError

from .conftest import random_episodes


def eps_of(arrays, splits=None) -> Episodes:
    splits = splits or [None] * len(arrays)
    return Episodes.from_raw([RawEpisode(f"e{i}", a, s)
                              for i, (a, s) in enumerate(zip(arrays, splits, strict=True))])


def test_random_split_is_seeded_disjoint_and_complete(rng) -> None:
    eps = eps_of(random_episodes(rng, n=20))
    train, val = split_episodes(eps, 0.25, seed=3)
    again_train, _ = split_episodes(eps, 0.25, seed=3)
    other_train, _ = split_episodes(eps, 0.25, seed=4)
    assert len(val) == 5 and len(train) == 15
    assert set(train.names).isdisjoint(val.names)
    assert set(train.names) | set(val.names) == set(eps.names)
    assert train.names == again_train.names and train.names != other_train.names


def test_folder_split_wins_over_fraction(rng) -> None:
    eps = eps_of(random_episodes(rng, n=4), ["train", "val", None, "train"])
    train, val = split_episodes(eps, 0.5)
    assert val.names == ["e1"] and train.names == ["e0", "e2", "e3"]


def test_zero_fraction_and_single_episode(rng) -> None:
    eps = eps_of(random_episodes(rng, n=3))
    assert split_episodes(eps, 0.0)[1] is None
    one = eps_of(random_episodes(rng, n=1))
    assert split_episodes(one, 0.5)[1] is None


def test_prepare_chunks_fits_on_train_only(rng, tmp_path) -> None:
    arrays = random_episodes(rng, n=6, lengths=(20, 30))
    arrays[5] = arrays[5] * 100  # a val outlier must not move the train normaliser
    write_hdf5_episodes(tmp_path, arrays, split=["train"] * 5 + ["val"])
    prepared = prepare_chunks(DataConfig(path=str(tmp_path), chunk_length=8))
    train_actions = np.concatenate(arrays[:5])
    np.testing.assert_allclose(prepared.normalizer.stats["max"], train_actions.max(0), rtol=1e-6)
    assert prepared.train[0]["action"].abs().max() <= 1 + 1e-6
    assert prepared.val is not None and len(prepared.val) == len(arrays[5]) - 7


def test_prepare_chunks_without_path() -> None:
    with pytest.raises(DataError, match="--data"):
        prepare_chunks(DataConfig())


def test_yaml_round_trip_and_strictness(tmp_path) -> None:
    cfg = DataConfig(path="x", chunk_length=64, slots=from_dict(
        DataConfig, {"slots": {"layout": "explicit", "size": 8, "indices": [3, 1]}}).slots)
    save_yaml(cfg, tmp_path / "c.yaml")
    assert load_yaml(DataConfig, tmp_path / "c.yaml") == cfg
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['chunk_len'\].*chunk_length"):
        from_dict(DataConfig, {"chunk_len": 3})
    with pytest.raises(ConfigError, match="expected int"):
        from_dict(DataConfig, {"chunk_length": "long"})
    with pytest.raises(ConfigError, match="not one of"):
        from_dict(DataConfig, {"normalizer": "zscore"})
    with pytest.raises(ConfigError, match=r"needs slots\.size"):
        from_dict(DataConfig, {"slots": {"layout": "pad"}})
    with pytest.raises(ConfigError, match="chunk_length must be >= 1"):
        from_dict(DataConfig, {"chunk_length": 0})


def test_shipped_data_presets_load_and_validate() -> None:
    from pathlib import Path

    from ate.commands.data import PrepareConfig

    presets = sorted((Path(__file__).parent.parent / "configs/data").glob("*.yaml"))
    assert len(presets) >= 3
    for preset in presets:
        cfg = load_yaml(PrepareConfig, preset)
        slots = cfg.data.slots.build(len(cfg.data.slots.names) or 14)
        assert slots.dim == (len(cfg.data.slots.names) or 14)


def test_every_shipped_preset_loads_into_its_config() -> None:
    """Each YAML under configs/ loads and validates as the config its command reads, with
    the values it writes (a renamed or misspelt field is an error, not a silent default)."""
    import yaml

    from ate.align.config import AlignConfig
    from ate.bench.config import BenchConfig
    from ate.commands.data import PrepareConfig
    from ate.config import to_dict

    root = Path(__file__).parent.parent / "configs"
    kinds = {"align": AlignConfig, "data": PrepareConfig, "bench-reduced.yaml": BenchConfig}
    presets = sorted(root.rglob("*.yaml"))
    assert len(presets) >= 7
    for preset in presets:
        cls = kinds[preset.relative_to(root).parts[0]]
        loaded = to_dict(load_yaml(cls, preset))

        def check(written: dict, got: dict, where: str) -> None:
            for key, value in written.items():
                if isinstance(value, dict):
                    check(value, got[key], f"{where}.{key}")
                else:
                    assert got[key] == value or list(got[key]) == value, f"{where}.{key}"

        check(yaml.safe_load(preset.read_text()), loaded, preset.name)


def test_prepare_chunks_with_observations_and_tasks(rng, tmp_path) -> None:
    arrays = random_episodes(rng, n=6, lengths=(20, 30))
    obs = [rng.normal(size=(len(a), 4)) * 10 for a in arrays]
    write_hdf5_episodes(tmp_path, arrays, extra=[{"state": o} for o in obs],
                        tasks=["a", "b", "a", "b", "a", "b"], split=["train"] * 5 + ["val"])
    prepared = prepare_chunks(DataConfig(path=str(tmp_path), chunk_length=8, obs_key="state",
                                         obs_horizon=2))
    assert prepared.obs_normalizer is not None and prepared.obs_normalizer.dim == 4
    item = prepared.train[0]
    assert item["obs"].shape == (2, 4) and item["obs"].abs().max() <= 1 + 1e-6
    assert prepared.val[0]["task"] == 1  # the val episode is task "b"
    with pytest.raises(ConfigError, match="obs_key"):
        DataConfig(path="x", obs_horizon=2)
