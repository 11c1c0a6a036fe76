"""`ate policy pretrain` then `ate finetune` (direct and guided) end to end from the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ate.align.prior import LatentPrior
from ate.align.vae import ActionVAE, VAEConfig
from ate.cli import main
from ate.config import from_dict, load_yaml
from ate.data import Normalizer, load_episodes, write_hdf5_episodes
from ate.data.prepare import prepare_corpus
from ate.data.synthetic import synthetic_episodes
from ate.errors import ConfigError, DataError
from ate.finetune.config import PolicyRunConfig
from ate.finetune.run import train_policy
from ate.policies import GenerativePolicy

COMMON = ["--policy.down-dims", "16", "32", "--policy.width", "32", "--policy.layers", "2",
          "--policy.inference-steps", "3", "--data.chunk-length", "8",
          "--data.slots.layout", "pad", "--data.slots.size", "6", "--train.max-steps", "6",
          "--train.val-every", "3", "--train.save-every", "3", "--optim.batch-size", "16"]


@pytest.fixture(scope="module", params=["diffusion", "flow"])
def runs(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"ft-{request.param}")
    write_hdf5_episodes(root / "pre", synthetic_episodes(10, 6, length=(20, 30)),
                        tasks=["reach", "push"] * 5)
    write_hdf5_episodes(root / "tgt", synthetic_episodes(6, 4, length=(20, 30),
                                                         embodiment_seed=3),
                        tasks=["push", "lift"] * 3)
    # a stage-2 encoder for the 4-d target (weights need not be trained for these checks)
    torch.manual_seed(0)
    vae = ActionVAE(VAEConfig(action_dim=4, max_chunk_length=8, latent_dim=8, hidden_dim=16,
                              num_layers=3, num_heads=2, ff_dim=32))
    vae.save_pretrained(root / "stage2/best", {"slots": {"indices": [0, 1, 2, 3], "size": 4}})
    target = load_episodes(root / "tgt")
    Normalizer.fit(target.actions).save(root / "stage2/best/normalizer.json")
    (root / "stage1").mkdir()
    LatentPrior.fit("gaussian", torch.randn(64, 8, generator=torch.Generator().manual_seed(1)),
                    torch.zeros(64, 8)).save(root / "stage1/prior.safetensors")
    assert main(["policy", "pretrain", "--data", str(root / "pre"), "--policy", request.param,
                 "--out", str(root / "pretrained"), *COMMON]) == 0
    for name, extra in (("direct", []), ("guided", ["--guidance", str(root / "stage2"),
                                                      "--lam", "2", "--clamp", "0.1"]),
                        ("latent", ["--latent-loss-from", str(root / "stage2"),
                                    "--latent-loss.kind", "manifold", "--beta", "1",
                                    "--latent-loss.prior-from", str(root / "stage1")])):
        assert main(["finetune", "--policy", str(root / "pretrained"), "--data",
                     str(root / "tgt"), "--out", str(root / name), *COMMON, *extra]) == 0
    return root


def test_checkpoints_reload_to_the_trained_policy_in_memory(runs, tmp_path) -> None:
    """``best/`` and ``last/`` act exactly as the averaged weights the trainer ends with (a
    save of the raw weights instead of the EMA, or a lost normaliser, would not)."""
    from ate.finetune.run import PolicyTrainer, _setup

    saved = json.loads((runs / "guided/last/config.json").read_text())["run"]
    # on the CPU, where this test's own batches live (tests/test_cuda.py covers the GPU)
    config = from_dict(PolicyRunConfig, saved)
    config = replace(config, train=replace(config.train, device="cpu"))
    data, policy, guidance, _ = _setup(config)
    trainer = PolicyTrainer(policy, guidance, data, config, tmp_path / "run", "finetune")
    encoder = {k: v.clone() for k, v in guidance.encoder.state_dict().items()}
    optimised = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in policy.parameters()}
    assert optimised.isdisjoint(id(p) for p in guidance.encoder.parameters())
    trainer.fit()
    assert all(torch.equal(v, encoder[k]) for k, v in guidance.encoder.state_dict().items())
    # validation: the plain loss (no guidance) of the averaged weights
    assert data.val is not None and len(data.val) > 0
    idx = list(range(min(len(data.val), config.optim.batch_size)))
    with trainer.averaged(), torch.no_grad():
        torch.manual_seed(config.train.seed)
        plain = policy.compute_loss(data.val.__getitems__(idx), None,
                                    torch.Generator().manual_seed(config.train.seed))
    assert trainer.evaluate(data.val, 1)["loss"] == pytest.approx(float(plain), rel=1e-6)
    task = torch.tensor([0, 1, 2])
    with trainer.averaged():
        expected = policy.act(task=task, generator=torch.Generator().manual_seed(0))
    raw = policy.act(task=task, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(raw, expected)  # the EMA differs from the raw weights
    for folder in ("best", "last"):
        back = GenerativePolicy.from_pretrained(tmp_path / "run" / folder)
        assert torch.equal(back.act(task=task, generator=torch.Generator().manual_seed(0)),
                           expected), folder
    tuned = GenerativePolicy.from_pretrained(runs / "guided/best")
    assert tuned.act(task=torch.tensor([0]), generator=torch.Generator()).shape == (1, 8, 4)
    # the new task "lift" got a new row after the pre-training tasks
    assert tuned.task_names == ["push", "reach", "lift"]


def test_the_latent_term_trains_the_policy_only(runs, tmp_path) -> None:
    """The manifold term's encoder and prior stay out of the optimiser and unchanged, and
    its hinge came from the target's chunks."""
    from ate.finetune.run import PolicyTrainer, _setup

    saved = json.loads((runs / "latent/last/config.json").read_text())["run"]
    config = from_dict(PolicyRunConfig, saved)
    data, policy, guidance, latent = _setup(config)
    assert guidance is None and latent is not None and latent.hinge is not None
    trainer = PolicyTrainer(policy, None, data, config, tmp_path / "run", "finetune", latent)
    frozen = {k: v.clone() for k, v in latent.view.encoder.state_dict().items()}
    prior = {k: v.clone() for k, v in latent.prior.state_dict().items()}
    optimised = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in policy.parameters()}
    trainer.fit()
    assert all(torch.equal(v, frozen[k]) for k, v in latent.view.encoder.state_dict().items())
    assert all(torch.equal(v, prior[k]) for k, v in latent.prior.state_dict().items())
    assert "latent_term" in latent.last_stats



def test_steer_and_a_consistency_term_on_one_encoder_share_one_table(runs) -> None:
    from ate.finetune.run import _cache_clean_latents, _setup
    from ate.steer.latent_loss import LatentLossConfig

    saved = json.loads((runs / "guided/last/config.json").read_text())["run"]
    config = from_dict(PolicyRunConfig, saved)
    both = replace(config, latent_loss_from=config.guidance_from,
                   latent_loss=LatentLossConfig(kind="consistency"))
    data, _, guidance, latent = _setup(both)
    _cache_clean_latents(both, data, guidance, latent)
    assert guidance.table is not None and latent.table is guidance.table
    assert len(guidance.table) == len(data.train)
    # another encoder folder: each its own table, of the same chunks
    other = replace(both, latent_loss_from=str(runs / "stage2" / "best"))
    data, _, guidance, latent = _setup(other)
    _cache_clean_latents(other, data, guidance, latent)
    assert latent.table is not guidance.table
    torch.testing.assert_close(latent.table.mu, guidance.table.mu)

def test_guided_run_differs_and_holds_no_encoder(runs) -> None:
    direct = load_file(str(runs / "direct/last/model.safetensors"))
    for name in ("guided", "latent"):
        other = load_file(str(runs / name / "last/model.safetensors"))
        assert direct.keys() == other.keys()
        assert not any("encoder" in k or "dist_tokens" in k or "scale_trils" in k
                       for k in other)
        assert any(not torch.equal(direct[k], other[k]) for k in direct), name
    meta = json.loads((runs / "guided/last/config.json").read_text())
    assert meta["run"]["guidance"]["lam"] == 2.0 and meta["slots"]["size"] == 6
    shift = json.loads((runs / "guided/steer_shift.json").read_text())
    assert shift["lam"] == 2.0 and shift["ratio"] > 0 and not (runs / "direct/steer_shift.json"
                                                                ).exists()
    # the fine-tuned policy acts in the target's units (its own normaliser travelled along)
    stats = np.asarray(json.loads((runs / "guided/best/normalizer.json").read_text())["offset"])
    assert stats.shape == (4,)


def test_finetune_refuses_incompatible_shapes_and_overwrites(runs, capsys) -> None:
    args = ["finetune", "--policy", str(runs / "pretrained"), "--data", str(runs / "tgt"),
            "--out", str(runs / "bad"), *COMMON]
    assert main([*args, "--data.slots.size", "5"]) == 2
    assert "--data.slots.size 6" in capsys.readouterr().err
    assert main(["finetune", "--policy", str(runs / "pretrained"), "--data", str(runs / "tgt"),
                 "--out", str(runs / "direct"), *COMMON]) == 2
    assert "--resume" in capsys.readouterr().err


def saved_tensors(run: Path) -> dict[str, torch.Tensor]:
    """Every tensor a run saved: best/ and last/ weights (EMA), and last/'s raw weights."""
    out = {}
    for folder in ("best", "last"):
        out.update({f"{folder}/{k}": v for k, v in
                    load_file(str(run / folder / "model.safetensors")).items()})
    state = torch.load(run / "last/trainer_state.pt", weights_only=True)
    out.update({f"raw/{k}": v for k, v in state.get("raw_model", {}).items()})
    if "guidance" in state:
        out.update({f"guidance/{k}": v for k, v in state["guidance"].items()})
    return out


@pytest.mark.parametrize("lam", ["fixed", "auto", "latent"])
def test_policy_training_resumes_bit_for_bit(runs, tmp_path, lam) -> None:
    """A run cut at step 2 and resumed saves exactly the tensors of an uninterrupted one,
    with lambda calibrated by ``auto_fraction`` too (cut while it is still calibrating), and
    with the latent manifold term (its hinge recomputed on resume)."""
    run = "latent" if lam == "latent" else "guided"
    saved = json.loads((runs / run / "last/config.json").read_text())["run"]
    config = from_dict(PolicyRunConfig, saved)
    if lam == "auto":
        config = replace(config, guidance=replace(config.guidance, auto_fraction=0.05,
                                                  auto_batches=3))
    full = train_policy(config, tmp_path / "full")
    cut = train_policy(config, tmp_path / "cut", until_step=2)
    assert cut.step == 2
    resumed = train_policy(config, tmp_path / "cut", resume=tmp_path / "cut")
    assert resumed.step == full.step == 6
    a, b = saved_tensors(tmp_path / "full"), saved_tensors(tmp_path / "cut")
    assert a.keys() == b.keys() and any(k.startswith("raw/") for k in a)
    assert (lam == "auto") == any(k.startswith("guidance/") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_rehearsal_draws_each_dataset_in_its_share_and_resumes(runs, tmp_path) -> None:
    """Co-training on the pre-training data at shares 1 : 3: each epoch holds every target
    chunk once and three times as many pre-training chunks; cut and resumed, the same run."""
    from ate.finetune.run import PolicyTrainer, _setup

    saved = json.loads((runs / "direct" / "last/config.json").read_text())["run"]
    config = replace(from_dict(PolicyRunConfig, saved),
                     data_extra=(replace(from_dict(PolicyRunConfig, saved).data,
                                         path=str(runs / "pre")),), data_shares=(1.0, 3.0))
    data, policy, _, _ = _setup(config)
    trainer = PolicyTrainer(policy, None, data, config, tmp_path / "probe", "finetune")
    target = len(data.members[0].train)
    epoch = [i for s in range(trainer.steps_per_epoch) for i in trainer.batch_indices(s)]
    assert len(epoch) == 4 * target and sorted(i for i in epoch if i < target) == list(
        range(target))
    full = train_policy(config, tmp_path / "full")
    assert train_policy(config, tmp_path / "cut", until_step=2).step == 2
    assert train_policy(config, tmp_path / "cut", resume=tmp_path / "cut").step == full.step
    a, b = saved_tensors(tmp_path / "full"), saved_tensors(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for shares in ((1.0,), (1.0, 0.0)):
        with pytest.raises(ConfigError, match="one positive share per dataset"):
            replace(config, data_shares=shares)


def test_a_swap_cut_short_resumes_from_last_old(runs, tmp_path) -> None:
    """A crash between the two renames of an atomic save leaves only ``last.old``: resume
    puts it back and continues to the same weights."""
    from ate.finetune.run import load_run_config

    saved = json.loads((runs / "direct/last/config.json").read_text())["run"]
    config = from_dict(PolicyRunConfig, saved)
    full = train_policy(config, tmp_path / "full")
    train_policy(config, tmp_path / "cut", until_step=3)
    (tmp_path / "cut/last").rename(tmp_path / "cut/last.old")
    again, last = load_run_config(tmp_path / "cut")
    assert last == tmp_path / "cut/last" and last.is_dir()
    resumed = train_policy(again, tmp_path / "cut", resume=tmp_path / "cut")
    assert resumed.step == full.step
    a, b = saved_tensors(tmp_path / "full"), saved_tensors(tmp_path / "cut")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_a_resumed_guided_run_says_so_and_logs_its_step(runs, tmp_path, capsys) -> None:
    import shutil

    shutil.copytree(runs / "guided", tmp_path / "guided")
    capsys.readouterr()
    assert main(["finetune", "--resume", str(tmp_path / "guided")]) == 0
    out, err = capsys.readouterr()
    assert "fine-tuning with guidance: finished at step 6/6" in out
    assert "finetune: resumed at step 6 of 6" in " ".join(err.split())  # rich wraps lines


def test_checkpoints_hold_the_weight_average_and_resume_the_raw_weights(runs) -> None:
    saved = load_file(str(runs / "guided/last/model.safetensors"))
    state = torch.load(runs / "guided/last/trainer_state.pt", map_location="cpu",
                       weights_only=True)
    raw = state["raw_model"]
    assert saved.keys() == raw.keys()
    assert any(not torch.equal(saved[k], raw[k]) for k in saved)  # EMA != raw weights
    assert json.loads((runs / "guided/last/config.json").read_text())["ema"] is True


def test_task_labels_are_ignored_by_a_policy_without_a_task_table(tmp_path, capsys) -> None:
    write_hdf5_episodes(tmp_path / "pre", synthetic_episodes(6, 6, length=(20, 30)))
    write_hdf5_episodes(tmp_path / "tgt", synthetic_episodes(6, 6, length=(20, 30)),
                        tasks=["lift"] * 6)
    assert main(["policy", "pretrain", "--data", str(tmp_path / "pre"), "--policy", "flow",
                 "--out", str(tmp_path / "pre_run"), *COMMON]) == 0
    assert main(["finetune", "--policy", str(tmp_path / "pre_run"), "--data",
                 str(tmp_path / "tgt"), "--out", str(tmp_path / "ft"), *COMMON]) == 0
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long log lines
    assert "['lift'] are ignored" in err


def test_policy_pretraining_on_a_corpus_of_robots(tmp_path) -> None:
    # D = 6 and D = 4 robots in one 6-slot vector; "push" on both is one task
    six = synthetic_episodes(8, 6, length=(20, 30))
    four = synthetic_episodes(8, 4, length=(20, 30), embodiment_seed=3)
    write_hdf5_episodes(tmp_path / "six", six, tasks=["reach", "push"] * 4)
    write_hdf5_episodes(tmp_path / "four", four, tasks=["push", "lift"] * 4)
    data = {"chunk_length": 8, "slots": {"layout": "pad", "size": 6}}
    (tmp_path / "corpus.yaml").write_text(json.dumps({   # JSON is YAML
        "data": {"path": str(tmp_path / "six"), **data},
        "data_extra": [{"path": str(tmp_path / "four"), **data}]}))
    common = [c for c in COMMON if c not in ("--data.chunk-length", "8")]
    assert main(["policy", "pretrain", "--config", str(tmp_path / "corpus.yaml"), "--policy",
                 "flow", "--out", str(tmp_path / "pre"), *common]) == 0
    policy = GenerativePolicy.from_pretrained(tmp_path / "pre" / "best")
    assert policy.task_names == ["lift", "push", "reach"] and policy.config.num_tasks == 3
    cfg = load_yaml(PolicyRunConfig, tmp_path / "corpus.yaml")
    corpus = prepare_corpus((cfg.data, *cfg.data_extra))
    state = torch.load(tmp_path / "pre" / "last" / "trainer_state.pt", weights_only=True)
    assert state["train_chunks"] == len(corpus.train) > len(prepare_corpus((cfg.data,)).train)
    # it acts for the first dataset's robot: its normaliser, its 6 dims
    assert policy.normalizer.to_dict() == corpus.members[0].normalizer.to_dict()
    assert policy.act(task=torch.tensor([2]), generator=torch.Generator()).shape == (1, 8, 6)
    # the D = 4 robot's "lift" and "push" chunks carry the corpus's ids, not its own
    items = corpus.train.__getitems__(list(range(len(corpus.train))))
    on_four = items["embodiment"] == 1
    assert set(items["task"][on_four].tolist()) == {0, 1}
    assert set(items["task"][~on_four].tolist()) == {1, 2}
    # fine-tuning it on the D = 4 robot knows "lift" already: no new task row
    assert main(["finetune", "--policy", str(tmp_path / "pre"), "--data", str(tmp_path / "four"),
                 "--out", str(tmp_path / "ft"), *COMMON]) == 0
    assert GenerativePolicy.from_pretrained(tmp_path / "ft" / "best").task_names == [
        "lift", "push", "reach"]
    # one policy reads one observation size
    for name, eps, size in (("six_obs", six, 3), ("four_obs", four, 5)):
        write_hdf5_episodes(tmp_path / name, eps, tasks=["push"] * 8,
                            extra=[{"obs": np.zeros((len(e), size), np.float32)} for e in eps])
    bad = replace(cfg, data=replace(cfg.data, path=str(tmp_path / "six_obs"), obs_key="obs",
                                    obs_horizon=2),
                  data_extra=(replace(cfg.data_extra[0], path=str(tmp_path / "four_obs"),
                                      obs_key="obs", obs_horizon=2),))
    with pytest.raises(DataError, match=r"four_obs: 5-d observations over 2 .*six_obs has 3-d"):
        train_policy(bad, tmp_path / "bad")


def test_steer_and_the_latent_term_read_only_the_targets_rows_when_co_training(
        runs, tmp_path, monkeypatch) -> None:
    """Co-training on the pre-training demos with Steer and a consistency term: on the
    pre-training rows of a batch the loss is the plain one, on the target's rows g is the
    release's (its batch mean over all B rows) and the term is averaged over all B; the
    tables, the shift report and an interrupted run are the target's and exact."""
    from ate.finetune.run import _cache_clean_latents, _setup
    from ate.policies.policy import target_rows
    from ate.steer.latent_loss import consistency_term, time_weight
    from ate.steer.objectives import guided_target, implied_clean, masked_mse
    from ate.steer.shift import measure_shift

    saved = json.loads((runs / "guided/last/config.json").read_text())["run"]
    base = from_dict(PolicyRunConfig, saved)
    config = replace(base, data_extra=(replace(base.data, path=str(runs / "pre")),),
                     data_shares=(1.0, 1.0), latent_loss_from=str(runs / "stage2"),
                     latent_loss=replace(base.latent_loss, kind="consistency", beta=0.5))
    data, policy, guidance, latent = _setup(config)
    target = data.members[0].train
    _cache_clean_latents(config, data, guidance, latent)
    assert len(guidance.table) == len(target) and latent.table is guidance.table
    batch = data.train.__getitems__([*range(6), *range(len(target), len(target) + 6), 6])
    rows = target_rows(batch)
    assert rows.tolist() == [True] * 6 + [False] * 6 + [True]
    assert target_rows({k: v[rows] for k, v in batch.items()}) is None
    fixed = policy.corrupt(batch["action"], torch.Generator().manual_seed(0))
    monkeypatch.setattr(policy, "corrupt", lambda a0, generator: fixed)
    torch.manual_seed(3)  # the release's reparameterised latents draw their noise here
    loss = policy.compute_loss(batch, guidance, None, latent)
    # the same loss written out: g of the target rows alone, divided by all 13 rows
    noisy, t_net, plain, time = fixed
    a0, steps, mask = batch["action"], batch["step_mask"], batch["action_mask"]
    with torch.no_grad():
        pred = policy.predict(noisy, t_net, policy.cond(batch.get("obs"), batch["task"]))
    torch.manual_seed(3)
    g = torch.zeros_like(noisy)
    g[rows] = guidance(noisy[rows], a0[rows], steps[rows]) * rows.sum() / len(rows)
    cfg = guidance.config
    goal = guided_target(policy.family, plain, g, time, lam=guidance.lam, clamp=cfg.clamp,
                         order=cfg.order, floor=cfg.floor)
    assert torch.equal(goal[~rows], plain[~rows])
    mu_hat, _ = latent.view(implied_clean(policy.family, pred, noisy, time)[rows],
                            steps[rows])
    mu0, _ = latent.view(a0[rows], steps[rows])
    term = (time_weight(policy.family, time[rows], "signal", int(rows.sum()))
            * consistency_term(mu_hat, mu0)).sum() / len(rows)
    expected = masked_mse(pred, goal, mask, steps) + 0.5 * term
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    # the shift report samples the target's chunks, not the corpus's
    full = train_policy(config, tmp_path / "full")
    report = json.loads((tmp_path / "full" / "steer_shift.json").read_text())
    monkeypatch.undo()
    on = {name: measure_shift(policy, guidance, dataset, batch_size=16, seed=base.train.seed)
          for name, dataset in (("target", target), ("corpus", data.train))}
    assert report["ratio"] == pytest.approx(on["target"].ratio, rel=1e-6)
    assert on["corpus"].ratio != pytest.approx(on["target"].ratio, rel=1e-3)
    # an interrupted run resumes exactly
    assert train_policy(config, tmp_path / "cut", until_step=2).step == 2
    assert train_policy(config, tmp_path / "cut", resume=tmp_path / "cut").step == full.step
    a, b = saved_tensors(tmp_path / "full"), saved_tensors(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_rehearse_co_trains_on_the_pretraining_demos_from_the_command_line(runs, tmp_path,
                                                                           capsys) -> None:
    out = tmp_path / "ft"
    args = ["finetune", "--policy", str(runs / "pretrained"), "--data", str(runs / "tgt"),
            "--guidance", str(runs / "stage2"), "--out", str(out), *COMMON]
    assert main([*args, "--rehearse", str(runs / "pre")]) == 0
    run = json.loads((out / "last" / "config.json").read_text())["run"]
    (extra,) = run["data_extra"]
    assert extra == {**run["data"], "path": str(runs / "pre")}
    assert run["data_shares"] == [1.0, 1.0] and run["guidance_from"] == str(runs / "stage2")
    state = torch.load(out / "last" / "trainer_state.pt", weights_only=True)
    assert state["train_chunks"] > len(prepare_corpus((from_dict(
        PolicyRunConfig, run).data,)).train)
    (tmp_path / "both.yaml").write_text(json.dumps({"data_extra": [extra]}))
    capsys.readouterr()
    assert main([*args[:-len(COMMON)], "--out", str(tmp_path / "two"), "--config",
                 str(tmp_path / "both.yaml"), "--rehearse", str(runs / "pre")]) == 2
    assert "--rehearse and data_extra" in capsys.readouterr().err
    assert not (tmp_path / "two").exists()


def test_robots_of_different_observation_sizes_share_one_policy(tmp_path) -> None:
    # a 3-d and a 5-d observation, both zero-padded (after normalisation) to 5
    rng = np.random.default_rng(0)
    six = synthetic_episodes(8, 6, length=(20, 30))
    four = synthetic_episodes(8, 4, length=(20, 30), embodiment_seed=3)
    for name, eps, size in (("six", six, 3), ("four", four, 5)):
        write_hdf5_episodes(tmp_path / name, eps, tasks=["push"] * 8, extra=[
            {"obs": rng.normal(size=(len(e), size)).astype(np.float32)} for e in eps])
    data = {"chunk_length": 8, "slots": {"layout": "pad", "size": 6}, "obs_key": "obs",
            "obs_horizon": 2, "obs_size": 5}
    (tmp_path / "corpus.yaml").write_text(json.dumps({
        "data": {"path": str(tmp_path / "six"), **data},
        "data_extra": [{"path": str(tmp_path / "four"), **data}]}))
    common = [c for c in COMMON if c not in ("--data.chunk-length", "8")]
    assert main(["policy", "pretrain", "--config", str(tmp_path / "corpus.yaml"), "--policy",
                 "flow", "--out", str(tmp_path / "pre"), *common]) == 0
    cfg = load_yaml(PolicyRunConfig, tmp_path / "corpus.yaml")
    corpus = prepare_corpus((cfg.data, *cfg.data_extra))
    items = corpus.train.__getitems__(list(range(len(corpus.train))))
    on_six = items["embodiment"] == 0
    assert items["obs"].shape[-1] == 5
    assert torch.all(items["obs"][on_six][..., 3:] == 0)
    assert torch.any(items["obs"][~on_six][..., 3:] != 0)
    policy = GenerativePolicy.from_pretrained(tmp_path / "pre" / "best")
    assert policy.config.obs_dim == 5 and policy.obs_real_dim == 3
    # act pads the first robot's 3-d observations exactly as the data did
    raw = torch.as_tensor(rng.normal(size=(2, 2, 3)), dtype=torch.float32)
    task = torch.zeros(2, dtype=torch.long)
    padded = torch.cat([policy.obs_normalizer.transform(raw), torch.zeros(2, 2, 2)], -1)
    torch.manual_seed(0)
    acted = policy.act(raw, task, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    direct = policy.sample(policy.cond(padded, task), 2, torch.Generator().manual_seed(1))
    assert torch.equal(acted, policy.normalizer.inverse(policy.slots.extract(direct)))
    with pytest.raises(ConfigError, match="reads 3-d observations of its robot, got 5-d"):
        policy.act(torch.zeros(1, 2, 5), task[:1])
    # fine-tuning on the 3-d robot alone needs the same padding, and says so
    ft = ["finetune", "--policy", str(tmp_path / "pre"), "--data", str(tmp_path / "six"),
          "--data.obs-key", "obs", "--data.obs-horizon", "2", *COMMON]
    with pytest.raises(ConfigError, match=r"gives 3-d ones .*--data.obs-size 5"):
        train_policy(from_dict(PolicyRunConfig, {
            "init_from": str(tmp_path / "pre"), "data": {**data, "obs_size": None,
                                                         "path": str(tmp_path / "six")}}),
            tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"gives 0-d ones .*--data.obs-horizon 2"):
        train_policy(from_dict(PolicyRunConfig, {
            "init_from": str(tmp_path / "pre"), "data": {**data, "obs_size": None,
                                                         "obs_horizon": 0,
                                                         "path": str(tmp_path / "six")}}),
            tmp_path / "nope")
    assert main([*ft, "--data.obs-size", "5", "--out", str(tmp_path / "ft")]) == 0
    assert GenerativePolicy.from_pretrained(tmp_path / "ft" / "best").obs_real_dim == 3
    # a width below a dataset's own is refused, naming the file and the field
    with pytest.raises(DataError, match=r"four: 5-d observations do not fit data.obs_size=4"):
        prepare_corpus((replace(cfg.data_extra[0], obs_size=4),))
    with pytest.raises(ConfigError, match=r"obs_size=5: .*needs data.obs_horizon > 0"):
        replace(cfg.data, obs_horizon=0)
