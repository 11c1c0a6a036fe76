"""Steer against the math: finite differences, closed-form minimisers, conventions."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from ate.align.vae import ActionVAE, VAEConfig
from ate.data import EmbodimentSlots, Normalizer
from ate.steer import GuidanceConfig, LatentGuidance

g0 = torch.Generator().manual_seed(0)
# the deterministic form: posterior means, per-sample squared norm (the J the checks write out)
MEANS = GuidanceConfig(latent="mean", distance="sum")


def rand(*shape, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=g0, dtype=dtype)


def encoder(dim: int = 3, length: int = 8, dtype=torch.float64) -> ActionVAE:
    torch.manual_seed(0)
    vae = ActionVAE(VAEConfig(action_dim=dim, max_chunk_length=length, latent_dim=6,
                              hidden_dim=16, num_layers=3, num_heads=2, ff_dim=32))
    return vae.to(dtype)


def J(vae: ActionVAE, slots: list[int], x: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """sum_b ||E(x_b[..., slots]) - E(clean_b[..., slots])||^2 with posterior means, written
    from the encoder alone: the encoder's dim i reads the policy's slot ``slots[i]``."""
    with torch.no_grad():
        return (vae.encode(x[..., slots])[0] - vae.encode(clean[..., slots])[0]).pow(2).sum()


def test_guidance_is_minus_the_finite_difference_gradient_and_masked() -> None:
    # D=3 encoder, U=6 policy, slots out of order (RDT's unified layout is not sorted)
    vae = encoder()
    guide = LatentGuidance(vae, MEANS, slots=[4, 0, 2])
    noisy, clean = rand(2, 8, 6), rand(2, 8, 6)
    g = guide(noisy, clean)
    assert g.shape == noisy.shape and not g.requires_grad
    assert torch.all(g[..., [1, 3, 5]] == 0)  # unused slots: exactly zero
    h = 1e-6
    for _ in range(5):
        v = rand(2, 8, 6)
        fd = (J(vae, [4, 0, 2], noisy + h * v, clean) - J(vae, [4, 0, 2], noisy - h * v, clean)
              ) / (2 * h)
        assert torch.isclose(-(g * v).sum(), fd, rtol=1e-5, atol=1e-8)
    # the encoder's gradient on x[..., [4, 0, 2]], scattered back to those slots
    x = noisy[..., [4, 0, 2]].clone().requires_grad_(True)
    (vae.encode(x)[0] - vae.encode(clean[..., [4, 0, 2]])[0].detach()).pow(2).sum().backward()
    torch.testing.assert_close(g[..., [4, 0, 2]], -x.grad)
    assert g.abs().sum() > 0


def test_distances_scale_by_latent_dims_batch_and_reference_batch() -> None:
    noisy, clean = rand(2, 8, 3), rand(2, 8, 3)
    g_sum = LatentGuidance(encoder(), MEANS)(noisy, clean)
    for fields, factor in (({"distance": "mean"}, 6), ({"distance": "batch_mean"}, 12),
                           ({"distance": "mean", "reference_batch": 32}, 6 * 32),
                           ({"distance": "sum", "reference_batch": 4}, 4)):
        g = LatentGuidance(encoder(), GuidanceConfig(latent="mean", **fields))(noisy, clean)
        torch.testing.assert_close(g, g_sum / factor)


def test_chain_rule_through_the_policy_normaliser() -> None:
    raw = rand(500, 3) * torch.tensor([1.0, 5.0, 0.1]) + 2
    vae_norm, pol_norm = Normalizer.fit(raw.numpy(), "minmax"), Normalizer.fit(raw.numpy(),
                                                                                "meanstd")
    guide = LatentGuidance(encoder(), MEANS, policy_normalizer=pol_norm,
                           vae_normalizer=vae_norm)
    noisy, clean = rand(1, 8, 3), rand(1, 8, 3)
    g = guide(noisy, clean)

    def j_policy(x: torch.Tensor) -> torch.Tensor:  # J written directly in policy units
        to_vae = torch.as_tensor(vae_norm.transform(pol_norm.inverse(x.numpy())))
        to_vae0 = torch.as_tensor(vae_norm.transform(pol_norm.inverse(clean.numpy())))
        with torch.no_grad():
            return (guide.encoder.encode(to_vae)[0] - guide.encoder.encode(to_vae0)[0]
                    ).pow(2).sum()

    v, h = rand(1, 8, 3), 1e-6
    fd = (j_policy(noisy + h * v) - j_policy(noisy - h * v)) / (2 * h)
    assert torch.isclose(-(g * v).sum(), fd, rtol=1e-5)


def test_chunk_length_crop_and_resample() -> None:
    noisy, clean = rand(2, 12, 3), rand(2, 12, 3)  # policy H=12, encoder L=8
    g = LatentGuidance(encoder())(noisy, clean)
    assert torch.all(g[:, 8:] == 0) and g[:, :8].abs().sum() > 0
    g = LatentGuidance(encoder(), GuidanceConfig(length="resample"))(noisy, clean)
    assert (g.abs().sum(-1) > 0).all()


# -- in a training step -------------------------------------------------------------------

class TinyDenoiser(torch.nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(dim + 1, 32), torch.nn.SiLU(),
                                       torch.nn.Linear(32, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, t.view(-1, 1, 1).expand(*x.shape[:2], 1)], -1))


def test_guided_backward_reaches_the_policy_only() -> None:
    """At one set of policy weights: lambda 0 is the plain loss bit for bit, lambda 2 is not;
    backward fills the policy's gradients and leaves the encoder's empty, so no optimiser
    step can move it."""
    enc = encoder(dtype=torch.float32)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    guide = LatentGuidance(enc, GuidanceConfig(lam=2.0, clamp=0.1), slots=[0, 1, 2])
    policy = TinyDenoiser(4)  # U=4, the target uses 3 slots
    torch.manual_seed(0)
    a0, noise = torch.randn(8, 8, 4), torch.randn(8, 8, 4)
    abar = torch.rand(8)
    noisy = abar.sqrt().view(-1, 1, 1) * a0 + (1 - abar).sqrt().view(-1, 1, 1) * noise
    g = guide(noisy, a0)
    losses = {}
    for lam in (0.0, 2.0):
        guide.lam = lam
        policy.zero_grad(set_to_none=True)
        losses[lam] = guide.loss("epsilon", policy(noisy, abar), noise, g, abar)
        losses[lam].backward()
    plain = (policy(noisy, abar) - noise)[..., :3].pow(2).mean()
    assert torch.equal(losses[0.0], plain) and not torch.equal(losses[2.0], plain)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    assert all(p.grad is None and not p.requires_grad for p in enc.parameters())
    opt = torch.optim.AdamW([*policy.parameters(), *enc.parameters()], lr=1e-2)
    opt.step()  # even an optimiser that was handed the encoder cannot move it
    assert all(torch.equal(v, before[k]) for k, v in enc.state_dict().items())


def test_auto_lambda_calibrates_to_the_asked_fraction() -> None:
    guide = LatentGuidance(encoder(dtype=torch.float32),
                           GuidanceConfig(auto_fraction=0.05, auto_batches=3, clamp=None))
    shifts, cleans = [], []
    for _ in range(3):
        a0, noise = torch.randn(6, 8, 3), torch.randn(6, 8, 3)
        abar = torch.full((6,), 0.5)
        noisy = math.sqrt(0.5) * (a0 + noise)
        g = guide(noisy, a0)
        guide.loss("epsilon", noise, noise, g, abar, clean=a0)
        shifts.append(((1 - 0.5) / math.sqrt(0.5) * g).pow(2).mean().sqrt().item())
        cleans.append(a0.pow(2).mean().sqrt().item())
    expected = 0.05 * (sum(cleans) / 3) / (sum(shifts) / 3)
    assert guide.lam == pytest.approx(expected, rel=1e-5)


def test_from_pretrained_stage2_checkpoint(tmp_path) -> None:
    vae = encoder(dim=4, dtype=torch.float32)
    extra = {"slots": {"indices": [0, 1, 2, 3], "size": 4}}
    vae.save_pretrained(tmp_path / "best", extra)
    Normalizer.fit(torch.randn(100, 4).numpy()).save(tmp_path / "best/normalizer.json")
    guide = LatentGuidance.from_pretrained(tmp_path, lam=3.0, clamp=0.1, slots=[7, 6, 5, 4])
    assert guide.lam == 3.0 and guide.vae_slots == EmbodimentSlots.identity(4)
    g = guide(torch.randn(2, 8, 8), torch.randn(2, 8, 8))
    assert torch.all(g[..., :4] == 0) and g[..., 4:].abs().sum() > 0


def test_batched_encoding_gives_the_same_guidance_and_stats_by_time() -> None:
    noisy, clean = rand(4, 8, 3), rand(4, 8, 3)
    two_calls = LatentGuidance(encoder(), MEANS)
    one_call = LatentGuidance(encoder(), replace(MEANS, batched=True))
    torch.testing.assert_close(one_call(noisy, clean), two_calls(noisy, clean))
    abar = torch.tensor([0.9, 0.7, 0.4, 0.1], dtype=torch.float64)
    two_calls.loss("epsilon", noisy, noisy, two_calls(noisy, clean), abar)
    stats = two_calls.last_stats.summary(1 - abar, buckets=2)
    assert set(stats) >= {"g_norm", "g_norm/t0", "g_norm/t1", "clamped_fraction/t1",
                          "term_norm", "target_shift"}
    assert stats["g_norm"] == pytest.approx((stats["g_norm/t0"] + stats["g_norm/t1"]) / 2)
    assert 0 <= stats["clamped_fraction"] <= 1


def test_precomputed_clean_latents_give_the_same_guidance() -> None:
    noisy, clean = rand(3, 8, 3), rand(3, 8, 3)
    guide = LatentGuidance(encoder(), MEANS)
    torch.testing.assert_close(guide(noisy, clean_latents=guide.clean_latents(clean)),
                               guide(noisy, clean))
    with pytest.raises(ValueError, match="clean"):
        guide(noisy)


def test_loss_records_the_target_shift_against_its_closed_form() -> None:
    guide = LatentGuidance(encoder(), GuidanceConfig(lam=1.5, clamp=0.05, floor=0.2,
                                                     order="clamp_then_scale"),
                           slots=[0, 1, 2])
    a0, noise = rand(5, 8, 4), rand(5, 8, 4)
    abar = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9], dtype=torch.float64)
    noisy = abar.sqrt().view(-1, 1, 1) * a0 + (1 - abar).sqrt().view(-1, 1, 1) * noise
    steps = torch.ones(5, 8, dtype=torch.bool)
    steps[0, 6:] = False
    g = guide(noisy, a0, steps)
    guide.loss("epsilon", noise, noise, g, abar, clean=a0, step_mask=steps)
    # eps moves by lam sqrt(1 - abar_f) clamp(g) (abar_f: the floor); the implied x0 by
    # sqrt(1 - abar) / sqrt(abar) times that, at the true abar (0.1 is below the floor)
    bounded = abar.clamp(min=0.2)
    shift = 1.5 * ((1 - bounded).sqrt() * (1 - abar).sqrt() / abar.sqrt()).view(-1, 1, 1) \
        * g.clamp(-0.05, 0.05)
    real = steps[..., None] & torch.tensor([True, True, True, False])
    rms = [shift[b][real[b]].pow(2).mean().sqrt() for b in range(5)]
    clean = [a0[b][real[b]].pow(2).mean().sqrt() for b in range(5)]
    torch.testing.assert_close(guide.last_stats.shift_rms, torch.stack(rms))
    summary = guide.last_stats.summary()
    assert summary["target_shift_ratio"] == pytest.approx(
        float(torch.stack(rms).pow(2).mean().sqrt() / torch.stack(clean).pow(2).mean().sqrt()))

    # pooled over two batches by ShiftAccumulator: the same closed form over all 5 chunks
    from ate.steer.shift import ShiftAccumulator

    pooled = ShiftAccumulator(guide)
    for part in (slice(0, 2), slice(2, 5)):
        out, sq = pooled.add("epsilon", g[part], abar[part], a0[part], steps[part])
        torch.testing.assert_close(out.abs(), shift[part].abs())  # sign: objectives tests
        torch.testing.assert_close(sq, torch.stack(rms[part]).pow(2))
    assert pooled.count == 5 and pooled.ratio == pytest.approx(
        float(torch.stack(rms).pow(2).mean().sqrt() / torch.stack(clean).pow(2).mean().sqrt()))


def test_measure_shift_is_linear_in_lambda_and_leaves_the_rng_alone(tmp_path) -> None:
    from ate.data import write_hdf5_episodes
    from ate.data.config import DataConfig
    from ate.data.prepare import prepare_chunks
    from ate.policies import FlowPolicy
    from ate.policies.config import PolicyConfig
    from ate.steer.shift import measure_shift

    write_hdf5_episodes(tmp_path / "d", [torch.randn(30, 3).numpy() for _ in range(3)])
    data = prepare_chunks(DataConfig(path=str(tmp_path / "d"), chunk_length=8, obs_horizon=0,
                                     val_fraction=0.0))
    policy = FlowPolicy(PolicyConfig(kind="flow", action_dim=3, chunk_length=8, obs_dim=0,
                                     width=16, layers=1, heads=2), data.slots, data.normalizer)
    guide = LatentGuidance(encoder(dtype=torch.float32), GuidanceConfig(lam=1.0, clamp=None,
                                                                        floor=0.5))
    state = torch.get_rng_state()
    one = measure_shift(policy, guide, data.train, batches=3, batch_size=8)
    assert torch.equal(torch.get_rng_state(), state)
    guide.lam = 2.0
    two = measure_shift(policy, guide, data.train, batches=3, batch_size=8)
    assert one.ratio > 0 and two.ratio == pytest.approx(2 * one.ratio, rel=1e-5)
    assert two.clean_rms == pytest.approx(one.clean_rms) and two.chunks == 24
    assert -1 <= one.noise_cosine <= 1 and two.noise_cosine == pytest.approx(one.noise_cosine)
    bands = [b for b in one.ratio_by_noise if b is not None]  # the pooled RMS lies within
    assert len(one.ratio_by_noise) == 4 and min(bands) <= one.ratio <= max(bands)
    guide.config.sign = "tilted"  # the opposite displacement: the cosine flips
    assert measure_shift(policy, guide, data.train, batches=3, batch_size=8).noise_cosine == \
        pytest.approx(-one.noise_cosine)
    guide.lam = 0.0
    none = measure_shift(policy, guide, data.train, batches=3, batch_size=8)
    assert none.ratio == 0.0 and none.warning() is None
    big = replace(one, ratio=0.25)
    assert "25%" in big.warning() and "--lam" in big.warning()
