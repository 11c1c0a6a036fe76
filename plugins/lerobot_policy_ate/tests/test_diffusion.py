"""``ate_diffusion`` against the real LeRobot Diffusion Policy."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import D, batch, diffusion_kwargs, stats
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
from lerobot_policy_ate.configuration_ate_diffusion import ATEDiffusionConfig
from lerobot_policy_ate.modeling_ate_diffusion import ATEDiffusionPolicy
from lerobot_policy_ate.steer import SteerOptions
from safetensors.torch import load_file

from ate.steer import target_shift


def pair(prediction: str, options: SteerOptions) -> tuple[DiffusionPolicy, ATEDiffusionPolicy]:
    """A stock policy and an ATE one with the same weights."""
    torch.manual_seed(0)
    stock = DiffusionPolicy(DiffusionConfig(**diffusion_kwargs(prediction)))
    ate = ATEDiffusionPolicy(ATEDiffusionConfig(**diffusion_kwargs(prediction), ate=options),
                             dataset_stats=stats())
    ate.load_state_dict(stock.state_dict())
    return stock, ate


def loss(policy, seed: int = 3) -> torch.Tensor:
    torch.manual_seed(seed)
    return policy.forward(batch())[0]


@pytest.mark.parametrize("prediction", ["epsilon", "sample"])
def test_lambda_zero_reproduces_the_stock_loss_bit_for_bit(prediction, stage2) -> None:
    """The guided path (capture, guided target, stock reduction) at lambda 0."""
    stock, ate = pair(prediction, SteerOptions(guidance_path=str(stage2), lam=0.0))
    assert ate.guidance is not None and ate.guidance.lam == 0.0
    assert torch.equal(loss(stock), loss(ate))
    _, plain = pair(prediction, SteerOptions())  # no guidance_path: the stock loss
    assert plain.guidance is None and torch.equal(loss(stock), loss(plain))


@pytest.mark.parametrize("prediction", ["epsilon", "sample"])
def test_guidance_changes_the_loss_and_leaves_the_encoder_frozen(prediction, stage2) -> None:
    stock, ate = pair(prediction, SteerOptions(guidance_path=str(stage2), lam=2.0))
    encoder = ate.guidance.encoder
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    guided = loss(ate)
    assert not torch.equal(guided, loss(stock))
    guided.backward()
    assert all(torch.equal(v, before[k]) for k, v in encoder.state_dict().items())
    assert all(p.grad is None and not p.requires_grad for p in encoder.parameters())
    ids = {id(p) for p in ate.parameters()}
    assert not any(id(p) in ids for p in encoder.parameters())
    assert set(ate.state_dict()) == set(stock.state_dict())


@pytest.mark.parametrize("prediction", ["epsilon", "sample"])
def test_implied_clean_action_shift_is_the_core_diagnostic(prediction, stage2) -> None:
    """From the captured stock tensors: the clean action the guided target implies (the DDPM
    reconstruction at LeRobot's own alphas_cumprod) minus the plain one is
    ``ate.steer.target_shift`` of the same g, and the release's bound lam * c holds for x0."""
    _, ate = pair(prediction, SteerOptions(guidance_path=str(stage2), lam=2.0))
    model = ate.diffusion
    seen = {}
    original = model.noise_scheduler.add_noise

    def recording(clean, noise, timesteps):
        seen.update(clean=clean, noise=noise, timesteps=timesteps)
        return original(clean, noise, timesteps)

    model.noise_scheduler.add_noise = recording
    b = batch()
    torch.manual_seed(3)
    model.compute_loss(b)
    del model.noise_scheduler.add_noise
    abar = model.noise_scheduler.alphas_cumprod[seen["timesteps"]].double().view(-1, 1, 1)
    clean, noise = seen["clean"].double(), seen["noise"].double()
    noisy = abar.sqrt() * clean + (1 - abar).sqrt() * noise
    torch.manual_seed(99)  # the shared latent noise of the release preset
    g = ate.guidance(noisy.float(), clean.float(), ~b["action_is_pad"]).double()
    cfg = ate.guidance.config
    from ate.steer import guided_target

    plain = noise if prediction == "epsilon" else clean
    goal = guided_target(prediction, plain, g, abar.flatten(), lam=2.0, clamp=cfg.clamp,
                         order=cfg.order, floor=cfg.floor)

    def x0(pred):
        return pred if prediction == "sample" else (noisy - (1 - abar).sqrt() * pred) / abar.sqrt()

    implied = x0(goal) - x0(plain)
    core = target_shift(prediction, g, abar.flatten(), lam=2.0, clamp=cfg.clamp,
                        order=cfg.order, floor=cfg.floor)
    torch.testing.assert_close(implied, core, rtol=1e-6, atol=1e-9)
    if prediction == "sample":
        assert implied.abs().max() <= 2.0 * cfg.clamp + 1e-12


def test_saved_checkpoint_is_a_stock_diffusion_policy(stage2, tmp_path) -> None:
    _, ate = pair("epsilon", SteerOptions(guidance_path=str(stage2), lam=2.0))
    ate.save_pretrained(tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["type"] == "diffusion" and "ate" not in config
    weights = load_file(str(tmp_path / "ckpt" / "model.safetensors"))
    assert set(weights) == set(DiffusionPolicy(DiffusionConfig(**diffusion_kwargs()))
                               .state_dict())
    assert not any("encoder" in k and "diffusion" not in k for k in weights)
    back = DiffusionPolicy.from_pretrained(tmp_path / "ckpt")
    assert type(back) is DiffusionPolicy
    for k, v in back.state_dict().items():
        assert torch.equal(v, ate.state_dict()[k]), k
    b = batch(2)
    obs = {k: v[:, -1] for k, v in b.items() if k.startswith("observation")}
    torch.manual_seed(0)
    action = back.select_action(obs)
    assert action.shape == (2, D)


def test_init_from_a_stock_checkpoint_takes_its_config_and_weights(stage2, tmp_path) -> None:
    torch.manual_seed(5)
    stock = DiffusionPolicy(DiffusionConfig(**{**diffusion_kwargs(), "horizon": 32}))
    stock.save_pretrained(tmp_path / "stock")
    config = ATEDiffusionConfig(ate=SteerOptions(guidance_path=str(stage2),
                                                 init_from=str(tmp_path / "stock")))
    assert config.horizon == 32 and config.pretrained_path == tmp_path / "stock"
    from ate.errors import ConfigError

    with pytest.raises(ConfigError, match=r"no config\.json"):
        ATEDiffusionConfig(ate=SteerOptions(init_from=str(tmp_path)))


def test_a_guided_run_logs_its_displacement_once(stage2, caplog) -> None:
    """After its first ``batches`` training batches the policy logs Steer's displacement of
    the implied clean actions (as ``ate finetune`` does), and the ratio is the pooled RMS of
    ``target_shift`` over that of the clean actions on those batches."""
    import logging

    from lerobot_policy_ate.steer import ShiftLog

    seen = []

    class Recording(ShiftLog):
        def observe(self, guidance, family, g, time, clean, steps) -> None:
            seen.append((g, time, clean, steps))
            super().observe(guidance, family, g, time, clean, steps)

    _, ate = pair("epsilon", SteerOptions(guidance_path=str(stage2), lam=2.0))
    ate.diffusion.shift_log = Recording(batches=2)
    ate.train()
    with caplog.at_level(logging.INFO, logger="lerobot_policy_ate.steer"):
        loss(ate, seed=3)
        assert "displaces" not in caplog.text
        loss(ate, seed=4)
        loss(ate, seed=5)
    assert caplog.text.count("Steer displaces the implied clean actions by") == 1
    ratio = ate.diffusion.shift_log.ratio
    cfg = ate.guidance.config
    shift_sq = clean_sq = 0.0
    for g, time, clean, steps in seen[:2]:  # pooled over chunks: sum of squares, then ratio
        real = steps[..., None].expand(-1, -1, D).float()
        shift = target_shift("epsilon", g, time, lam=2.0, clamp=cfg.clamp, order=cfg.order,
                             floor=cfg.floor)[..., :D]
        shift_sq += float(((shift ** 2 * real).sum((1, 2)) / real.sum((1, 2))).sum())
        clean_sq += float(((clean[..., :D] ** 2 * real).sum((1, 2)) / real.sum((1, 2))).sum())
    assert ratio == pytest.approx((shift_sq / clean_sq) ** 0.5, rel=1e-5) and ratio > 0
    assert f"{100 * ratio:.1f}%" in caplog.text
