"""CleanLatentTable: E(a0) encoded once per training set, looked up by window index."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ate.data import write_hdf5_episodes
from ate.data.chunks import MixedChunkDataset
from ate.data.config import DataConfig
from ate.data.prepare import prepare_chunks
from ate.steer import GuidanceConfig, LatentGuidance
from ate.steer.chunk_encoder import PolicyChunkEncoder
from ate.steer.clean_latents import CleanLatentTable
from ate.steer.latent_loss import LatentLoss, LatentLossConfig
from tests.test_steer import encoder


def chunks(tmp_path, name: str, seed: int, lengths=(30, 12, 21)):
    rng = np.random.default_rng(seed)
    write_hdf5_episodes(tmp_path / name, [rng.normal(size=(n, 3)).astype(np.float32)
                                          for n in lengths])
    return prepare_chunks(DataConfig(path=str(tmp_path / name), chunk_length=8, obs_horizon=0,
                                     val_fraction=0.0, pad_tail=True)).train


def test_lookups_are_the_latents_encoded_per_step_and_steer_is_unchanged(tmp_path) -> None:
    data = chunks(tmp_path, "d", 0)
    view = PolicyChunkEncoder(encoder(dtype=torch.float32))
    table = CleanLatentTable.build(view, data)
    assert len(table) == len(data)
    pick = [5, 0, len(data) - 1, 5]  # padded tail windows included, repeats allowed
    batch = data.__getitems__(pick)
    assert batch["index"].tolist() == pick
    assert not batch["step_mask"].all()  # a padded window is among them
    mu, logvar = table.lookup(batch["index"], batch["action"], batch["step_mask"])
    fresh_mu, fresh_logvar = view(batch["action"], batch["step_mask"])
    torch.testing.assert_close(mu, fresh_mu, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logvar, fresh_logvar, rtol=1e-5, atol=1e-6)
    # Steer's g and the consistency term, with and without the table
    guide = LatentGuidance(view, GuidanceConfig(latent="mean"))
    loss = LatentLoss(view, LatentLossConfig(kind="consistency", time_weight="uniform"))
    noisy = batch["action"] + 0.3 * torch.randn(batch["action"].shape,
                                                generator=torch.Generator().manual_seed(1))
    pred = noisy.clone().requires_grad_(True)
    args = (noisy, batch["action"], batch["step_mask"])
    plain_g = guide(*args)
    plain_l = loss("flow", pred, noisy, batch["action"], 0.5, batch["step_mask"])
    guide.cache_clean_latents(data)
    loss.cache_clean_latents(data)
    torch.testing.assert_close(guide(*args, index=batch["index"]), plain_g, rtol=1e-4,
                               atol=1e-6)
    torch.testing.assert_close(loss("flow", pred, noisy, batch["action"], 0.5,
                                    batch["step_mask"], index=batch["index"]), plain_l)


def test_a_table_refuses_another_datasets_batches(tmp_path) -> None:
    view = PolicyChunkEncoder(encoder(dtype=torch.float32))
    table = CleanLatentTable.build(view, chunks(tmp_path, "a", 0))
    other = chunks(tmp_path, "b", 1).__getitems__([0, 1, 2])
    with pytest.raises(ValueError, match="not the ones this clean-latent table"):
        table.lookup(other["index"], other["action"], other["step_mask"])
    with pytest.raises(ValueError, match="out of range"):
        table.lookup(torch.tensor([len(table)]), other["action"][:1])


def test_a_corpus_numbers_its_windows_across_members(tmp_path) -> None:
    a, b = chunks(tmp_path, "a", 0), chunks(tmp_path, "b", 1, lengths=(17, 9))
    corpus = MixedChunkDataset([a, b])
    picked = [len(a) + 2, 1, len(a)]
    batch = corpus.__getitems__(picked)
    assert batch["index"].tolist() == picked
    torch.testing.assert_close(batch["action"][0], b[2]["action"])
    view = PolicyChunkEncoder(encoder(dtype=torch.float32))
    table = CleanLatentTable.build(view, corpus)
    mu, _ = table.lookup(batch["index"], batch["action"], batch["step_mask"])
    torch.testing.assert_close(mu, view(batch["action"], batch["step_mask"])[0], rtol=1e-5,
                               atol=1e-6)


def test_a_policy_loss_reads_the_table_and_matches_encoding_per_step(tmp_path) -> None:
    from ate.policies import FlowPolicy
    from ate.policies.config import PolicyConfig

    write_hdf5_episodes(tmp_path / "d", [np.random.default_rng(2).normal(size=(30, 3))
                                         .astype(np.float32) for _ in range(3)])
    prepared = prepare_chunks(DataConfig(path=str(tmp_path / "d"), chunk_length=8,
                                         obs_horizon=0, val_fraction=0.0))
    policy = FlowPolicy(PolicyConfig(kind="flow", action_dim=3, chunk_length=8, obs_dim=0,
                                     width=16, layers=1, heads=2), prepared.slots,
                        prepared.normalizer)
    guide = LatentGuidance(encoder(dtype=torch.float32), GuidanceConfig.release())
    batch = prepared.train.__getitems__([3, 7, 11, 0])
    losses = []
    for cached in (False, True):
        if cached:
            guide.cache_clean_latents(prepared.train)
        torch.manual_seed(0)  # the times and the release's latent sample: global RNG
        losses.append(policy.compute_loss(batch, guide, torch.Generator().manual_seed(0)))
    assert guide.table.checked == 1  # the cached call looked its latents up
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-7)
