"""The reference policies: learning, save/load, acting, and guidance as a loss-only add-on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ate.align.vae import ActionVAE, VAEConfig
from ate.data import EmbodimentSlots, Normalizer
from ate.errors import ConfigError
from ate.policies import DiffusionPolicy, FlowPolicy, GenerativePolicy, PolicyConfig
from ate.steer import GuidanceConfig, LatentGuidance

SLOTS = EmbodimentSlots.pad(3, 5)  # a 3-d robot in a 5-slot policy


def make(kind: str) -> GenerativePolicy:
    torch.manual_seed(0)
    cfg = PolicyConfig(kind=kind, action_dim=5, chunk_length=8, obs_dim=4, obs_horizon=2,
                       num_tasks=3, task_dim=8, down_dims=(16, 32), width=32, layers=2,
                       inference_steps=4)
    rng = np.random.default_rng(0)
    cls = DiffusionPolicy if kind == "diffusion" else FlowPolicy
    return cls(cfg, SLOTS, Normalizer.fit(rng.normal(2, 3, (100, 3))),
               Normalizer.fit(rng.normal(size=(100, 4))))


def batch(n: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, 8)
    base = torch.stack([torch.sin(3 * t), torch.cos(3 * t), t], -1)  # one smooth chunk
    actions = base + 0.01 * torch.randn(n, 8, 3, generator=g)
    return {"action": SLOTS.place(actions), "obs": torch.randn(n, 2, 4, generator=g),
            "task": torch.randint(0, 3, (n,), generator=g),
            "step_mask": torch.ones(n, 8, dtype=torch.bool)}


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_loss_falls_when_fitting_a_chunk(kind) -> None:
    policy = make(kind)
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    losses = []
    for step in range(120):
        torch.manual_seed(step)
        loss = policy.compute_loss(batch(seed=step), generator=torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_save_load_reproduces_actions(kind, tmp_path) -> None:
    policy = make(kind)
    policy.save_pretrained(tmp_path / "p")
    back = GenerativePolicy.from_pretrained(tmp_path / "p")
    assert type(back) is type(policy)
    obs, task = torch.randn(3, 2, 4), torch.tensor([0, 2, -1])
    a = policy.act(obs, task, generator=torch.Generator().manual_seed(1))
    b = back.act(obs, task, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 8, 3)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_guidance_changes_only_the_loss(kind, tmp_path) -> None:
    policy = make(kind)
    torch.manual_seed(0)
    encoder = ActionVAE(VAEConfig(action_dim=3, max_chunk_length=8, latent_dim=8,
                                  hidden_dim=16, num_layers=3, num_heads=2, ff_dim=32))
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    guide = LatentGuidance(encoder, GuidanceConfig(lam=2.0, clamp=0.5), slots=[0, 1, 2])
    b = batch()

    def loss_with(g: LatentGuidance | None) -> torch.Tensor:
        torch.manual_seed(5)
        return policy.compute_loss(b, g, generator=torch.Generator().manual_seed(5))

    plain = loss_with(None)
    guided = loss_with(guide)
    guide.lam = 0.0
    assert torch.equal(loss_with(guide), plain)  # lam = 0 is the plain loss, bit for bit
    assert not torch.equal(guided, plain)
    guided.backward()
    assert all(p.grad is None for p in encoder.parameters())  # nothing for an optimiser
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    assert all(torch.equal(v, before[k]) for k, v in encoder.state_dict().items())
    policy.save_pretrained(tmp_path / "p")
    saved = load_file(str(tmp_path / "p/model.safetensors"))
    assert set(saved) == set(policy.state_dict())
    assert not any(k.startswith(("encoder", "guid")) for k in saved)


def test_bad_checkpoints(tmp_path) -> None:
    policy = make("diffusion")
    policy.save_pretrained(tmp_path / "p")
    other = make("flow")
    other.save_pretrained(tmp_path / "q")
    (tmp_path / "q/config.json").write_text((tmp_path / "p/config.json").read_text())
    with pytest.raises(ConfigError, match=r"do not fit config\.json"):
        GenerativePolicy.from_pretrained(tmp_path / "q")
    with pytest.raises(ConfigError, match="not a policy checkpoint"):
        GenerativePolicy.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="divisible"):
        PolicyConfig(action_dim=5, chunk_length=10, down_dims=(8, 16, 32))


def published_target(family: str, plain, g, time, lam, c, order, floor, sign) -> torch.Tensor:
    """The guided regression target of METHOD.md section 6 for each policy's own convention,
    written out here: target + sign * lam * clamp(k g) (or k clamp(g)) with k per family:
    pi0 flow u = eps - a0 (t = 1 at noise) k = t / (1 - t); DDPM epsilon k = sqrt(1 - abar);
    v = sqrt(abar) eps - sqrt(1 - abar) a0, k = sqrt((1 - abar) / abar); x0 (sample)
    k = -(1 - abar) / sqrt(abar). Times inside k are floored; paper sign +1, tilted -1."""
    t = time.view(-1, 1, 1)
    if family == "flow_pi0":
        one_minus_t = (1 - t).clamp(min=floor)
        k = (1 - one_minus_t) / one_minus_t
    else:
        abar = t.clamp(min=floor)
        k = {"epsilon": (1 - abar).sqrt(), "v_prediction": ((1 - abar) / abar).sqrt(),
             "sample": -(1 - abar) / abar.sqrt()}[family]
    term = (k * g).clamp(-c, c) if order == "scale_then_clamp" else k * g.clamp(-c, c)
    return plain + (1 if sign == "paper" else -1) * lam * term


def noising(kind: str, prediction: str, a0: torch.Tensor, gen: torch.Generator):
    """The policy's published corruption, drawn in the policy's order from ``gen``:
    (noisy, network time, plain target, guidance time, family). pi0: x_t = t eps +
    (1 - t) a0, t ~ Beta(1.5, 1) * 0.999 + 0.001; DDPM: squared-cosine abar."""
    from diffusers import DDPMScheduler

    real = torch.tensor([1.0, 1, 1, 0, 0])
    if kind == "flow":
        t = torch.distributions.Beta(torch.tensor(1.5), torch.tensor(1.0)).sample((len(a0),))
        t = t * 0.999 + 0.001
        eps = torch.randn(a0.shape, generator=gen) * real
        return t.view(-1, 1, 1) * eps + (1 - t.view(-1, 1, 1)) * a0, t, eps - a0, t, "flow_pi0"
    eps = torch.randn(a0.shape, generator=gen) * real
    t_net = torch.randint(0, 100, (len(a0),), generator=gen)
    abar = DDPMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2"
                         ).alphas_cumprod[t_net]
    s, n = abar.sqrt().view(-1, 1, 1), (1 - abar).sqrt().view(-1, 1, 1)
    plain = {"epsilon": eps, "sample": a0, "v_prediction": s * eps - n * a0}[prediction]
    return s * a0 + n * eps, t_net, plain, abar, prediction


FAMILIES = [("flow", "epsilon"), ("diffusion", "epsilon"), ("diffusion", "sample"),
            ("diffusion", "v_prediction")]


def make_family(kind: str, prediction: str) -> GenerativePolicy:
    from dataclasses import replace

    policy = make(kind)
    if kind == "diffusion":
        policy = DiffusionPolicy(replace(policy.config, prediction=prediction), SLOTS,
                                 policy.normalizer, policy.obs_normalizer)
    return policy


def tiny_encoder() -> ActionVAE:
    torch.manual_seed(0)
    return ActionVAE(VAEConfig(action_dim=3, max_chunk_length=8, latent_dim=8, hidden_dim=16,
                               num_layers=3, num_heads=2, ff_dim=32))


@pytest.mark.parametrize("kind,prediction", FAMILIES)
@pytest.mark.parametrize("order", ["scale_then_clamp", "clamp_then_scale"])
@pytest.mark.parametrize("sign", ["paper", "tilted"])
def test_guided_loss_regresses_onto_the_published_target(kind, prediction, order, sign
                                                         ) -> None:
    """Each policy's noising and its guided target, reproduced from the policy's published
    convention; a wrong family, time convention, sign or plain target changes the loss."""
    policy = make_family(kind, prediction)
    guide = LatentGuidance(tiny_encoder(), GuidanceConfig(lam=2.0, clamp=0.05, order=order,
                                                          floor=0.05, sign=sign),
                           slots=[0, 1, 2])
    b = batch()
    a0 = b["action"]
    torch.manual_seed(5)
    loss = policy.compute_loss(b, guide, generator=torch.Generator().manual_seed(5))

    torch.manual_seed(5)
    noisy, t_net, plain, time, family = noising(kind, prediction, a0,
                                                torch.Generator().manual_seed(5))
    assert family == policy.family
    with torch.no_grad():
        pred = policy.predict(noisy, t_net, policy.cond(b["obs"], b["task"]))
        torch.manual_seed(5)  # the shared latent noise of the release's form
        plain_loss = policy.compute_loss(b, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(plain_loss, (pred - plain)[..., :3].pow(2).mean())
    g = guide(noisy, a0)
    goal = published_target(family, plain, g, time, 2.0, 0.05, order, 0.05, sign)
    expected = (pred - goal)[..., :3].pow(2).mean()
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(goal, plain)


@pytest.mark.parametrize("kind,prediction", FAMILIES)
def test_the_paper_sign_moves_the_implied_actions_toward_the_noisy_sample(
        kind, prediction, tmp_path) -> None:
    """METHOD.md: the paper's sign pushes the implied clean action away from E(a0), i.e.
    toward the noisy sample (positive cosine with noisy - clean); the tilted sign the other
    way, by the same amount."""
    from ate.data import write_hdf5_episodes
    from ate.data.config import DataConfig, SlotConfig
    from ate.data.prepare import prepare_chunks
    from ate.steer.shift import measure_shift

    rng = np.random.default_rng(0)
    write_hdf5_episodes(tmp_path / "d", [rng.normal(size=(30, 3)).astype(np.float32)
                                         for _ in range(3)])
    data = prepare_chunks(DataConfig(path=str(tmp_path / "d"), chunk_length=8, obs_horizon=0,
                                     val_fraction=0.0, slots=SlotConfig(layout="pad", size=5)))
    policy = make_family(kind, prediction)
    reports = {}
    for sign in ("paper", "tilted"):
        guide = LatentGuidance(tiny_encoder(), GuidanceConfig(lam=2.0, sign=sign),
                               slots=[0, 1, 2])
        reports[sign] = measure_shift(policy, guide, data.train, batches=2, batch_size=8)
    assert reports["paper"].noise_cosine > 0.05
    assert reports["tilted"].noise_cosine == pytest.approx(-reports["paper"].noise_cosine)
