"""The release preset of Steer: the authors' arithmetic written out here, independently of
``LatentGuidance``, and its dependence on the batch size."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from ate.align.vae import ActionVAE, VAEConfig
from ate.config import from_dict, parse_cli, to_dict
from ate.errors import ConfigError
from ate.steer import GuidanceConfig, LatentGuidance, guided_target


def encoder(dim: int = 3, length: int = 8) -> ActionVAE:
    torch.manual_seed(0)
    vae = ActionVAE(VAEConfig(action_dim=dim, max_chunk_length=length, latent_dim=6,
                              hidden_dim=16, num_layers=3, num_heads=2, ff_dim=32))
    return vae.to(torch.float64)


def chunks(batch: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 8, 3, generator=gen, dtype=torch.float64),
            torch.randn(batch, 8, 3, generator=gen, dtype=torch.float64))


def test_release_g_is_the_gradient_of_the_releases_mse_of_shared_noise_samples() -> None:
    """Their code: z = mu + std * eps for both chunks with one eps, y = -F.mse_loss over
    latents shaped (1, B, d), g = dy / da_t."""
    vae = encoder()
    guide = LatentGuidance(vae, GuidanceConfig.release())
    noisy, clean = chunks(4)
    torch.manual_seed(7)
    g = guide(noisy, clean)

    torch.manual_seed(7)
    a_t = noisy.clone().requires_grad_(True)
    mu, logvar = vae.encode(a_t)
    mu0, logvar0 = vae.encode(clean)
    eps = torch.randn_like(mu)
    pred_latent = (mu + (0.5 * logvar).exp() * eps)[None]      # (1, B, d)
    target_latent = (mu0 + (0.5 * logvar0).exp() * eps)[None]
    y = F.mse_loss(pred_latent, target_latent) * -1.0
    (expected,) = torch.autograd.grad(y, a_t)
    torch.testing.assert_close(g, expected, rtol=1e-10, atol=1e-14)
    assert g.abs().sum() > 0


def test_batch_size_scales_release_g_and_not_the_reference_batch_form(monkeypatch) -> None:
    """k copies of a batch: the release's per-sample g shrinks by 1/k (its mean runs over the
    batch); ``distance="mean", reference_batch=B`` does not move, and equals the release at
    batch B."""
    row = torch.randn(1, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    monkeypatch.setattr(torch, "randn_like", lambda mu: row.expand_as(mu).clone())
    noisy, clean = chunks(2)
    release = LatentGuidance(encoder(), GuidanceConfig.release())
    fixed = LatentGuidance(encoder(), GuidanceConfig.release(reference_batch=2))
    assert fixed.config.distance == "mean" and release.config.distance == "batch_mean"
    small, small_fixed = release(noisy, clean), fixed(noisy, clean)
    torch.testing.assert_close(small_fixed, small)  # equal at the reference batch
    for k in (3, 5):
        many, many_clean = noisy.repeat(k, 1, 1), clean.repeat(k, 1, 1)
        torch.testing.assert_close(release(many, many_clean)[:2], small / k)
        torch.testing.assert_close(fixed(many, many_clean)[:2], small_fixed)


def test_release_preset_fields_lambda_and_conflicts() -> None:
    cfg = GuidanceConfig(preset="release")
    assert (cfg.lam, cfg.clamp, cfg.latent, cfg.distance, cfg.order, cfg.floor) == (
        3.0, 0.1, "sample", "batch_mean", "scale_then_clamp", 0.0)
    assert GuidanceConfig.release(lam=2.0).lam == 2.0
    default = GuidanceConfig()  # the release's arithmetic at the paper's lambda
    assert (default.lam, default.latent, default.distance, default.order, default.floor) == (
        2.0, "sample", "batch_mean", "scale_then_clamp", 0.0)
    floored = GuidanceConfig(preset="floored")  # the library's earlier form
    assert (floored.lam, floored.latent, floored.distance, floored.order, floored.floor) == (
        0.5, "mean", "sum", "clamp_then_scale", 0.5)
    assert GuidanceConfig(reference_batch=8).distance == "mean"
    assert GuidanceConfig.release(sign="tilted").sign == "tilted"
    with pytest.raises(ConfigError, match="fixes floor"):
        GuidanceConfig(preset="release", floor=0.2)
    with pytest.raises(ConfigError, match="fixes distance"):
        GuidanceConfig(preset="release", distance="mean")
    with pytest.raises(ConfigError, match="floored fixes distance"):
        GuidanceConfig(preset="floored", distance="mean")
    for bad in ({"lam": -1.0}, {"clamp": 0.0}, {"floor": 1.0}, {"auto_batches": 0},
                {"reference_batch": 0}):
        with pytest.raises(ConfigError, match="out of range"):
            GuidanceConfig(**bad)


def test_release_preset_round_trips_through_yaml_data_and_the_command_line() -> None:
    cfg = GuidanceConfig.release(lam=2.0, reference_batch=32)
    again = from_dict(GuidanceConfig, to_dict(cfg))
    assert again == cfg
    cli = parse_cli(GuidanceConfig, ["--preset", "release", "--lam", "2.0"], "test")
    assert cli == GuidanceConfig.release(lam=2.0)
    with pytest.raises(ConfigError):
        from_dict(GuidanceConfig, {"preset": "release", "floor": 0.3})


def test_release_bound_holds_in_a_training_target() -> None:
    """The x0 family (RDT) under the preset: the regression target moves by at most
    lam * c per element at every DDPM step, whatever |g|."""
    from diffusers import DDPMScheduler

    abar = DDPMScheduler(num_train_timesteps=100,
                         beta_schedule="squaredcos_cap_v2").alphas_cumprod.double()
    guide = LatentGuidance(encoder(), GuidanceConfig.release(lam=2.0))
    noisy, clean = chunks(100)
    g = guide(noisy, clean) * 1e6  # far beyond the clamp
    moved = guided_target("sample", clean, g, abar, lam=2.0, clamp=0.1) - clean
    assert moved.abs().max() <= 0.2 + 1e-12 and moved.abs().max() > 0.19


def test_steer_does_not_import_the_policies_layer() -> None:
    code = ("import sys, ate.steer, ate.steer.shift; "
            "print(any(m.startswith('ate.policies') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_run_recorded_before_order_existed_reads_as_clamp_then_scale() -> None:
    """Records written before the option existed ran the earlier form: their missing
    ``order`` must not take today's default."""
    from ate.bench.suite import current
    from ate.finetune.config import PolicyRunConfig

    record = to_dict(PolicyRunConfig(guidance=GuidanceConfig(preset="floored")))
    for added in ("order", "preset", "reference_batch"):
        del record["guidance"][added]
    assert current(record)["guidance"]["order"] == "clamp_then_scale"
    today = to_dict(PolicyRunConfig())
    assert current(today)["guidance"]["order"] == "scale_then_clamp"
