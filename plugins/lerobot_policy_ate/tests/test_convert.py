"""Datasets ``ate data convert --to lerobot`` writes are read by LeRobot itself: frames,
task strings and the stats its normalisation modes need."""

from __future__ import annotations

import numpy as np
import torch

from ate.data.formats.lerobot import write_lerobot


def test_lerobot_reads_what_ate_writes(tmp_path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    rng = np.random.default_rng(0)
    actions = [rng.normal(size=(n, 4)).astype(np.float32) for n in (30, 25, 40)]
    states = [{"observation.state": rng.normal(size=(len(a), 7)).astype(np.float32)}
              for a in actions]
    write_lerobot(tmp_path / "ds", actions, tasks=["open the door", "push", "open the door"],
                  extra=states)
    ds = LeRobotDataset("local/ate", root=tmp_path / "ds")
    assert len(ds) == 95 and ds.meta.total_episodes == 3
    item = ds[30]  # the first frame of episode 1
    assert item["task"] == "push"
    torch.testing.assert_close(item["action"], torch.as_tensor(actions[1][0]))
    torch.testing.assert_close(item["observation.state"],
                               torch.as_tensor(states[1]["observation.state"][0]))
    assert ds[94]["task"] == "open the door"
    for key, width in (("action", 4), ("observation.state", 7)):
        stats = ds.meta.stats[key]
        for name in ("min", "max", "mean", "std", "q01", "q10", "q50", "q90", "q99"):
            assert np.asarray(stats[name]).shape == (width,), (key, name)
    every = np.concatenate(actions)
    np.testing.assert_allclose(ds.meta.stats["action"]["mean"], every.mean(0), rtol=1e-5)
