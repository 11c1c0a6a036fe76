"""Chunk windows equal episode slices; counts are n - H + 1; padding repeats the last action."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from ate.data import (
    ChunkDataset,
    EmbodimentSlots,
    Episodes,
    MixedChunkDataset,
    Normalizer,
    RawEpisode,
    collate_chunks,
)
from ate.data.chunks import window_starts


def make_episodes(arrays: list[np.ndarray]) -> Episodes:
    return Episodes.from_raw([RawEpisode(f"ep{i}", a) for i, a in enumerate(arrays)])


@st.composite
def episodes_and_h(draw: st.DrawFn) -> tuple[list[np.ndarray], int]:
    dim = draw(st.integers(1, 4))
    arrays = [draw(hnp.arrays(np.float32, (draw(st.integers(1, 25)), dim),
                              elements=st.floats(-100, 100, width=32)))
              for _ in range(draw(st.integers(1, 5)))]
    h = draw(st.integers(1, max(len(a) for a in arrays)))
    return arrays, h


@given(episodes_and_h())
def test_every_window_is_the_episode_slice(data) -> None:
    arrays, h = data
    ds = ChunkDataset(make_episodes(arrays), h)
    expected = [a[s:s + h] for a in arrays for s in range(len(a) - h + 1)]
    assert len(ds) == sum(max(len(a) - h + 1, 0) for a in arrays) == len(expected)
    batch = ds.__getitems__(list(range(len(ds))))
    for i, window in enumerate(expected):
        np.testing.assert_array_equal(batch["action"][i].numpy(), window)
    assert batch["step_mask"].all()


@given(episodes_and_h())
def test_padded_windows_repeat_last_action(data) -> None:
    arrays, h = data
    ds = ChunkDataset(make_episodes(arrays), h, pad_tail=True)
    assert len(ds) == sum(len(a) for a in arrays)
    i = 0
    for a in arrays:
        for s in range(len(a)):
            item = ds[i]
            real = min(h, len(a) - s)
            np.testing.assert_array_equal(item["action"][:real].numpy(), a[s:s + real])
            np.testing.assert_array_equal(item["action"][real:].numpy(),
                                          np.repeat(a[-1:], h - real, axis=0))
            assert item["step_mask"].tolist() == [True] * real + [False] * (h - real)
            i += 1


def test_window_starts_counts() -> None:
    w = window_starts(np.array([5, 2, 4]), 3, pad_tail=False)
    assert w.tolist() == [[0, 0], [0, 1], [0, 2], [2, 0], [2, 1]]


def test_short_episodes_skipped_and_counted(rng, caplog) -> None:
    arrays = [rng.normal(size=(n, 2)).astype(np.float32) for n in (3, 10, 4, 12)]
    ds = ChunkDataset(make_episodes(arrays), 5)
    assert ds.skipped_episodes == 2
    assert len(ds) == (10 - 4) + (12 - 4)
    assert "skipping 2 of 4 episodes" in caplog.text


def test_normalised_and_slotted_items(rng) -> None:
    arrays = [rng.normal(size=(20, 3)).astype(np.float32) for _ in range(3)]
    eps = make_episodes(arrays)
    norm = Normalizer.fit(eps.actions, "minmax")
    slots = EmbodimentSlots.explicit([4, 0, 2], 6)
    item = ChunkDataset(eps, 8, normalizer=norm, slots=slots)[5]
    assert item["action"].shape == (8, 6)
    np.testing.assert_allclose(item["action"][:, [4, 0, 2]].numpy(),
                               norm.transform(arrays[0][5:13]), rtol=1e-6, atol=1e-6)
    assert (item["action"][:, [1, 3, 5]] == 0).all()
    assert item["action_mask"].tolist() == [True, False, True, False, True, False]


def test_mixed_corpus_keeps_order_and_labels(rng) -> None:
    a = ChunkDataset(make_episodes([rng.normal(size=(10, 2)).astype(np.float32)]), 4,
                     slots=EmbodimentSlots.pad(2, 5), embodiment_id=0)
    b = ChunkDataset(make_episodes([rng.normal(size=(9, 5)).astype(np.float32)]), 4,
                     slots=EmbodimentSlots.identity(5), embodiment_id=1)
    mixed = MixedChunkDataset([a, b])
    assert len(mixed) == len(a) + len(b)
    order = [len(a) + 2, 0, len(a), 3]
    batch = mixed.__getitems__(order)
    assert batch["embodiment"].tolist() == [1, 0, 1, 0]
    torch.testing.assert_close(batch["action"][0], b[2]["action"])
    torch.testing.assert_close(batch["action"][3], a[3]["action"])
    assert batch["action_mask"][1].tolist() == [True, True, False, False, False]


def test_dataloader_batches_through_getitems(rng) -> None:
    eps = make_episodes([rng.normal(size=(30, 3)).astype(np.float32) for _ in range(4)])
    ds = ChunkDataset(eps, 6)
    loader = DataLoader(ds, batch_size=16, shuffle=True, collate_fn=collate_chunks,
                        generator=torch.Generator().manual_seed(0))
    batches = list(loader)
    assert sum(len(b["action"]) for b in batches) == len(ds)
    assert batches[0]["action"].shape == (16, 6, 3)
    # collate also stacks lists of single items (the DataLoader path without __getitems__)
    stacked = collate_chunks([ds[0], ds[1]])
    torch.testing.assert_close(stacked["action"], ds.__getitems__([0, 1])["action"])


def test_observation_history_and_task_ids(rng) -> None:
    lengths = (6, 9)
    arrays = [rng.normal(size=(n, 2)).astype(np.float32) for n in lengths]
    obs = [np.arange(n, dtype=np.float32)[:, None] * [1.0, -1.0] + 100 * i
           for i, n in enumerate(lengths)]
    raw = [RawEpisode(f"ep{i}", a, None, o, t)
           for i, (a, o, t) in enumerate(zip(arrays, obs, ["push", "pick"], strict=True))]
    eps = Episodes.from_raw(raw)
    assert eps.obs_dim == 2 and eps.task_names == ["pick", "push"]
    ds = ChunkDataset(eps, 4, obs_horizon=3)
    item = ds[0]  # episode 0, start 0: history repeats the first observation
    np.testing.assert_array_equal(item["obs"].numpy(), obs[0][[0, 0, 0]])
    assert item["task"] == 1  # "push"
    last = ds[len(ds) - 1]  # episode 1, start 5
    np.testing.assert_array_equal(last["obs"].numpy(), obs[1][[3, 4, 5]])
    assert last["task"] == 0
    sub = eps.select([1])
    np.testing.assert_array_equal(sub.observations, obs[1])
    assert sub.tasks == ["pick"]
