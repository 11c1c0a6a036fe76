"""``ate_pi0``, ``ate_pi05`` and ``ate_smolvla`` against the real LeRobot policies (tiny
configs)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import D, stats
from lerobot_policy_ate.steer import SteerOptions
from tiny_pi import pi_batch, pi_kwargs, smolvla_kwargs, tiny_pi, write_tiny_vlm  # noqa: F401

from ate.steer import guided_target, target_shift


def classes(kind: str):
    if kind == "pi0":
        from lerobot.policies.pi0.configuration_pi0 import PI0Config
        from lerobot.policies.pi0.modeling_pi0 import PI0Policy
        from lerobot_policy_ate.configuration_ate_pi0 import ATEPI0Config
        from lerobot_policy_ate.modeling_ate_pi0 import ATEPI0Policy

        return PI0Config, PI0Policy, ATEPI0Config, ATEPI0Policy
    if kind == "smolvla":
        from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
        from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy
        from lerobot_policy_ate.configuration_ate_smolvla import ATESmolVLAConfig
        from lerobot_policy_ate.modeling_ate_smolvla import ATESmolVLAPolicy

        return SmolVLAConfig, SmolVLAPolicy, ATESmolVLAConfig, ATESmolVLAPolicy
    from lerobot.policies.pi05.configuration_pi05 import PI05Config
    from lerobot.policies.pi05.modeling_pi05 import PI05Policy
    from lerobot_policy_ate.configuration_ate_pi05 import ATEPI05Config
    from lerobot_policy_ate.modeling_ate_pi05 import ATEPI05Policy

    return PI05Config, PI05Policy, ATEPI05Config, ATEPI05Policy


def pair(kind: str, options: SteerOptions, vlm: str = ""):
    config, policy, ate_config, ate_policy = classes(kind)
    kwargs = smolvla_kwargs(vlm) if kind == "smolvla" else pi_kwargs()
    torch.manual_seed(0)
    stock = policy(config(**kwargs))
    ate = ate_policy(ate_config(**kwargs, ate=options), dataset_stats=stats())
    ate.load_state_dict(stock.state_dict())
    return stock, ate


def loss(policy, seed: int = 3) -> torch.Tensor:
    torch.manual_seed(seed)
    return policy.forward(pi_batch())[0]


@pytest.mark.parametrize("kind", ["pi0", "pi05", "smolvla"])
def test_flow_variants_against_the_stock_policy(kind, stage2, tmp_path, tiny_pi) -> None:  # noqa: F811
    vlm = write_tiny_vlm(tmp_path / "vlm") if kind == "smolvla" else ""
    stock, ate = pair(kind, SteerOptions(guidance_path=str(stage2), lam=0.0), vlm)
    assert ate.guidance is not None
    assert torch.equal(loss(stock), loss(ate))  # lambda 0: the stock loss, bit for bit
    ate.guidance.lam = 2.0
    guided = loss(ate)
    assert not torch.equal(guided, loss(stock))
    encoder = ate.guidance.encoder
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    guided.backward()
    assert all(torch.equal(v, before[k]) for k, v in encoder.state_dict().items())
    assert all(p.grad is None for p in encoder.parameters())
    assert set(ate.state_dict()) == set(stock.state_dict())
    ate.save_pretrained(tmp_path / "ckpt")
    saved = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert saved["type"] == kind and "ate" not in saved
    back = type(stock).from_pretrained(tmp_path / "ckpt")
    assert type(back) is type(stock)
    assert all(torch.equal(v, ate.state_dict()[k]) for k, v in back.state_dict().items())


def test_pi0_implied_clean_action_shift_is_the_core_diagnostic(stage2, tiny_pi) -> None:  # noqa: F811
    """pi0's own reconstruction x0 = x_t - t * u at the guided target, minus at the plain
    one, is ``ate.steer.target_shift`` (flow_pi0) of the same g, within the release's
    bound lam * c * t (pi0 pads actions to 32 dims: the VAE sees the first D)."""
    _, ate = pair("pi0", SteerOptions(guidance_path=str(stage2), lam=2.0))
    b = pi_batch()
    actions = torch.nn.functional.pad(b["action"], (0, 32 - D))
    torch.manual_seed(1)
    noise = torch.randn_like(actions)
    time = torch.tensor([0.05, 0.5, 0.9, 1.0])
    x_t = time[:, None, None] * noise + (1 - time[:, None, None]) * actions
    g = ate.guidance(x_t, actions, ~b["action_is_pad"])
    assert torch.all(g[..., D:] == 0)
    cfg = ate.guidance.config
    u = noise - actions
    goal = guided_target("flow_pi0", u, g, time, lam=2.0, clamp=cfg.clamp, order=cfg.order,
                         floor=cfg.floor)
    implied = (x_t - time[:, None, None] * goal) - (x_t - time[:, None, None] * u)
    core = target_shift("flow_pi0", g, time, lam=2.0, clamp=cfg.clamp, order=cfg.order,
                        floor=cfg.floor)
    torch.testing.assert_close(implied, core, rtol=1e-5, atol=1e-6)
    assert (implied.abs() <= 2.0 * cfg.clamp * time[:, None, None] + 1e-6).all()
