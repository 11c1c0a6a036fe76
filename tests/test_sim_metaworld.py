"""Meta-World wrapper and expert demos (skipped when the `sim` extra is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("metaworld")

from ate.cli import main
from ate.data import load_episodes
from ate.sim.generate import rollout
from ate.sim.metaworld_env import MetaWorldEnv


def test_reset_is_deterministic_per_seed_and_the_expert_succeeds() -> None:
    env = MetaWorldEnv("reach-v3")
    a, b, c = env.reset(3), env.reset(3), env.reset(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)  # another seed, another placement
    actions, observations, success = rollout(env, env.expert(), seed=3)
    assert success and actions.shape[1] == 4 and observations.shape == (len(actions), 39)


def test_generate_writes_readable_demos_and_resumes(tmp_path, capsys) -> None:
    args = ["data", "generate", "--out", str(tmp_path), "--tasks", "reach-v3",
            "drawer-close-v3", "--workers", "2"]
    assert main([*args, "--episodes", "2"]) == 0
    eps = load_episodes(tmp_path, obs_key="observations/state")
    assert len(eps) == 4 and eps.dim == 4 and eps.obs_dim == 39
    assert eps.task_names == ["drawer-close-v3", "reach-v3"]
    assert main([*args, "--episodes", "3"]) == 0  # resumes: keeps 2, adds 1 per task
    out = capsys.readouterr().out
    assert len(load_episodes(tmp_path)) == 6 and "reused" in out
    seeds = []
    import h5py

    for path in sorted(tmp_path.rglob("*.hdf5")):
        with h5py.File(path) as f:
            seeds.append((f.attrs["task"], int(f.attrs["seed"])))
    assert len(set(seeds)) == 6  # no seed used twice within a task


def test_convert_carries_observations_and_tasks(tmp_path) -> None:
    assert main(["data", "generate", "--out", str(tmp_path / "mw"), "--tasks", "reach-v3",
                 "--episodes", "2"]) == 0
    assert main(["data", "convert", str(tmp_path / "mw"), "--out", str(tmp_path / "lr"),
                 "--to", "lerobot", "--obs-key", "observations/state"]) == 0
    a = load_episodes(tmp_path / "mw", obs_key="observations/state")
    b = load_episodes(tmp_path / "lr", obs_key="observation.state")
    np.testing.assert_array_equal(a.observations, b.observations)
    assert b.tasks == ["reach-v3", "reach-v3"]
