"""Meta-World wrapper and expert demos (skipped when the `sim` extra is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("metaworld")

from ate.cli import main
from ate.data import load_episodes
from ate.sim.env import rollout
from ate.sim.metaworld_env import MetaWorldEnv


def test_reset_is_deterministic_per_seed_and_the_expert_succeeds() -> None:
    env = MetaWorldEnv("reach-v3")
    a, b, c = env.reset(3), env.reset(3), env.reset(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)  # another seed, another placement
    actions, observations, success = rollout(env, env.expert(), seed=3)
    assert success and actions.shape[1] == 4 and observations.shape == (len(actions), 39)
    # labelled with what the arm executed: the scripted policy's own outputs exceed 1
    assert np.abs(actions).max() <= 1.0 and np.isclose(np.abs(actions[:, :3]).max(), 1.0)



def test_an_env_from_the_compiled_model_replays_a_freshly_compiled_one() -> None:
    import mujoco

    from ate.sim import metaworld_env

    compile_xml = mujoco.MjModel.from_xml_path
    metaworld_env._MODELS.clear()
    actions = np.random.default_rng(0).uniform(-1, 1, (60, 4))

    def episode(env: MetaWorldEnv, seed: int) -> np.ndarray:
        return np.stack([env.reset(seed)] + [env.step(a)[0] for a in actions])

    first = MetaWorldEnv("door-lock-v3")
    reference = episode(first, 11)
    episode(first, 12)  # Meta-World edits its model on reset: the copies must not see it
    assert len(metaworld_env._MODELS) == 1
    second = MetaWorldEnv("door-lock-v3")
    episode(second, 12)
    np.testing.assert_array_equal(episode(second, 11), reference)
    assert second._env.model is not first._env.model
    assert mujoco.MjModel.from_xml_path is compile_xml  # restored after construction

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
    # the expert's success rate covers both runs (its experts solve these tasks every time)
    import json

    stats = json.loads((tmp_path / "reach-v3" / "expert.json").read_text())
    assert stats == {"attempts": 3, "kept": 3}
    # a folder from before expert.json: the attempts are recovered from the seeds used
    (tmp_path / "reach-v3" / "expert.json").unlink()
    assert main([*args, "--episodes", "3"]) == 0
    assert json.loads((tmp_path / "reach-v3" / "expert.json").read_text())["attempts"] == 3


def test_convert_carries_observations_and_tasks(tmp_path) -> None:
    assert main(["data", "generate", "--out", str(tmp_path / "mw"), "--tasks", "reach-v3",
                 "--episodes", "2"]) == 0
    assert main(["data", "convert", str(tmp_path / "mw"), "--out", str(tmp_path / "lr"),
                 "--to", "lerobot", "--obs-key", "observations/state"]) == 0
    a = load_episodes(tmp_path / "mw", obs_key="observations/state")
    b = load_episodes(tmp_path / "lr", obs_key="observation.state")
    np.testing.assert_array_equal(a.observations, b.observations)
    assert b.tasks == ["reach-v3", "reach-v3"]


class _ExpertAsPolicy:
    """The scripted expert behind the policy interface: a chunk of its action repeated."""

    def __init__(self, env: MetaWorldEnv, horizon: int = 4) -> None:
        import types

        self.expert, self.horizon = env.expert(), horizon
        self.config = types.SimpleNamespace(obs_horizon=2, obs_dim=39, num_tasks=0)

    def act(self, obs, task, batch, generator):
        import torch

        assert obs.shape[1:] == (2, 39)  # the observation history reaches the policy
        action = np.stack([self.expert(o[-1].numpy()) for o in obs])
        return torch.as_tensor(np.repeat(action[:, None], self.horizon, axis=1))


def test_closed_loop_rollout_with_the_expert_succeeds() -> None:
    from ate.bench.rollout import run_episodes
    from ate.bench.stats import success_interval

    # three seeds through two lock-step envs: the batch refills a finished slot
    envs = [MetaWorldEnv("reach-v3"), MetaWorldEnv("reach-v3")]
    wins = run_episodes(envs, _ExpertAsPolicy(envs[0]), 0, [10, 11, 12], execute=1)
    assert wins == [True, True, True]
    # a policy that never moves does not reach (the goal is away from the start)
    frozen = _ExpertAsPolicy(envs[0])
    frozen.expert = lambda obs: np.zeros(4, np.float32)
    envs[0].max_steps = envs[1].max_steps = 60
    assert run_episodes(envs, frozen, 0, [10, 11], execute=4) == [False, False]
    lo, hi = success_interval(2, 2)
    assert 0.15 < lo < 0.16 and hi == 1.0  # exact Clopper-Pearson for 2/2


def test_eval_command_on_a_trained_policy(tmp_path, monkeypatch) -> None:
    import json

    assert main(["data", "generate", "--out", str(tmp_path / "mw"), "--tasks", "reach-v3",
                 "--episodes", "3"]) == 0
    assert main(["policy", "pretrain", "--data", str(tmp_path / "mw"), "--policy", "flow",
                 "--out", str(tmp_path / "pol"), "--data.obs-key", "observations/state",
                 "--data.obs-horizon", "2", "--data.chunk-length", "8", "--policy.width", "32",
                 "--policy.layers", "1", "--train.max-steps", "3", "--optim.batch-size", "16",
                 "--data.val-fraction", "0.0"]) == 0
    from ate.sim.generate import EVAL_SEED_BASE

    evals = {}
    for name, video in (("ev", ["--video", "1"]), ("again", [])):
        assert main(["eval", "--policy", str(tmp_path / "pol"), "--tasks", "reach-v3",
                     "--episodes", "2", "--max-steps", "16", "--workers", "1",
                     "--out", str(tmp_path / name), *video]) == 0
        evals[name] = json.loads((tmp_path / name / "results.json").read_text())["tasks"][0]
    result = evals["ev"]
    assert result["seeds"] == [EVAL_SEED_BASE, EVAL_SEED_BASE + 1]
    assert result["successes"] == sum(result["outcomes"]) and len(result["outcomes"]) == 2
    assert result["rate"] == result["successes"] / 2
    assert 0.0 <= result["interval"][0] <= result["rate"] <= result["interval"][1] <= 1.0
    assert evals["again"] == result  # seeded: the same episodes, the same outcomes
    # sampling-time latent guidance from a stage-2 VAE of the 4-d actions: recorded, and at
    # scale 0 the same episodes exactly
    import torch

    from ate.align.vae import ActionVAE, VAEConfig

    torch.manual_seed(0)
    ActionVAE(VAEConfig(action_dim=4, max_chunk_length=8, latent_dim=8, hidden_dim=16,
                        num_layers=3, num_heads=2, ff_dim=32)).save_pretrained(
        tmp_path / "stage2", {"slots": {"indices": [0, 1, 2, 3], "size": 4}})
    for name, scale in (("sg0", "0"), ("sg", "0.5")):
        assert main(["eval", "--policy", str(tmp_path / "pol"), "--tasks", "reach-v3",
                     "--episodes", "2", "--max-steps", "16", "--workers", "1",
                     "--out", str(tmp_path / name), "--sampling-guidance",
                     str(tmp_path / "stage2"), "--sampling-guidance-scale", scale]) == 0
        evals[name] = json.loads((tmp_path / name / "results.json").read_text())
    assert evals["sg"]["sampling_guidance"] == {"stage2": str(tmp_path / "stage2"),
                                                "scale": 0.5}
    assert evals["sg0"]["tasks"][0] == result
    # over several tasks the bank of target latents is built once (one read of the data), and
    # each task's episodes are those of a single-task evaluation with its own bank
    import ate.data.prepare
    from ate.bench.rollout import evaluate

    reads = []
    real = ate.data.prepare.prepare_chunks
    monkeypatch.setattr(ate.data.prepare, "prepare_chunks",
                        lambda *a, **k: reads.append(1) or real(*a, **k))
    twice = evaluate(str(tmp_path / "pol"), "metaworld", ["reach-v3", "reach-v3"], 2,
                     max_steps=16, sampling=(str(tmp_path / "stage2"), 0.5))
    assert len(reads) == 1
    assert [t.outcomes for t in twice] == [evals["sg"]["tasks"][0]["outcomes"]] * 2
    # `--video 1` wrote the first evaluation episode; no rendering here is a failure
    import imageio.v3 as iio

    (video,) = (tmp_path / "ev" / "videos" / "reach-v3").iterdir()
    assert video.stem.startswith(f"seed{EVAL_SEED_BASE}-")
    frames = iio.imread(video)
    assert frames.ndim == 4 and frames.shape[-1] == 3 and 2 <= len(frames) <= 17
    assert np.abs(frames[-1].astype(int) - frames[0]).mean() > 0.1  # the arm moved


def test_a_broken_gl_backend_is_named_not_a_traceback(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "MUJOCO_GL": "nonsense"}
    args = ["data", "generate", "--out", str(tmp_path / "d"), "--tasks", "reach-v3",
            "--episodes", "1"]
    done = subprocess.run([sys.executable, "-c", "import sys; from ate.cli import main; "
                           f"sys.exit(main({args!r}))"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "MUJOCO_GL='nonsense'" in done.stderr + done.stdout
    assert not list((tmp_path / "d").rglob("*.hdf5"))
