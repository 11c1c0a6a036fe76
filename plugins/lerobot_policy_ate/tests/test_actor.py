"""A LeRobot Diffusion Policy checkpoint driven by ``ate``'s closed-loop Meta-World rollout."""

from __future__ import annotations

import pytest
import torch


def test_lerobot_policy_runs_meta_world_episodes_through_ate_rollout(tmp_path) -> None:
    pytest.importorskip("metaworld")
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
    from lerobot.policies.factory import make_pre_post_processors
    from lerobot_policy_ate.actor import LeRobotActor

    from ate.bench.rollout import run_episodes
    from ate.sim.generate import make_env

    tasks = ["reach-v3", "push-v3"]
    config = DiffusionConfig(
        input_features={
            "observation.state": PolicyFeature(type=FeatureType.STATE, shape=(39,)),
            "observation.environment_state": PolicyFeature(type=FeatureType.ENV,
                                                           shape=(len(tasks),))},
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(4,))},
        horizon=16, n_obs_steps=2, n_action_steps=8, down_dims=(16, 32),
        diffusion_step_embed_dim=16, n_groups=4, pretrained_backbone_weights=None,
        num_inference_steps=3, device="cpu")
    torch.manual_seed(0)
    policy = DiffusionPolicy(config)
    def box(width: int, low: float) -> dict[str, torch.Tensor]:
        return {"min": torch.full((width,), low), "max": torch.ones(width),
                "mean": torch.zeros(width), "std": torch.ones(width)}

    stats = {"observation.state": box(39, -1.0), "observation.environment_state": box(2, 0.0),
             "action": box(4, -1.0)}
    pre, post = make_pre_post_processors(config, dataset_stats=stats)
    folder = tmp_path / "pretrained_model"
    policy.save_pretrained(folder)
    pre.save_pretrained(folder)
    post.save_pretrained(folder)

    actor = LeRobotActor(folder, tasks)
    assert (actor.config.obs_horizon, actor.config.obs_dim, actor.config.num_tasks) == (2, 39, 2)
    obs, task = torch.randn(3, 2, 39), torch.tensor([0, 1, 1])
    chunk = actor.act(obs, task, generator=torch.Generator().manual_seed(0))
    assert chunk.shape == (3, 8, 4)
    # the noise is the generator's: the same seed, the same chunk; another, another
    assert torch.equal(chunk, actor.act(obs, task, generator=torch.Generator().manual_seed(0)))
    assert not torch.equal(chunk, actor.act(obs, task,
                                            generator=torch.Generator().manual_seed(1)))
    env = make_env("metaworld", "push-v3")
    env.max_steps = 16
    outcomes = run_episodes([env], actor, 1, [10**9, 10**9 + 1], execute=8)
    assert len(outcomes) == 2 and all(isinstance(o, bool) for o in outcomes)
