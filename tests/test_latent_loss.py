"""The latent terms whose gradient reaches the policy (``ate.steer.latent_loss``): the
implied clean chunk per family, the terms against their formulas written out here, finite
differences, beta = 0, the hinge, and what may and may not receive gradients."""

from __future__ import annotations

import pytest
import torch

from ate.align.prior import LatentPrior
from ate.errors import ConfigError
from ate.steer.chunk_encoder import PolicyChunkEncoder
from ate.steer.latent_loss import LatentLoss, LatentLossConfig
from ate.steer.objectives import implied_clean
from ate.steer.sampling_guidance import LatentSamplingGuidance, SamplingGuidanceConfig
from tests.test_policies import FAMILIES, batch, make_family, tiny_encoder

ALL = ("epsilon", "v_prediction", "sample", "flow", "flow_pi0")


def corrupted(family: str, a0: torch.Tensor, eps: torch.Tensor, time: torch.Tensor):
    """(noisy, exact regression target) of each family, written out: DDPM x = sqrt(abar) a0
    + sqrt(1 - abar) eps; flow (tau = 1 data) x = tau a0 + (1 - tau) eps, v = a0 - eps;
    pi0 x = t eps + (1 - t) a0, u = eps - a0."""
    t = time.view(-1, 1, 1)
    if family == "flow":
        return t * a0 + (1 - t) * eps, a0 - eps
    if family == "flow_pi0":
        return t * eps + (1 - t) * a0, eps - a0
    s, n = t.sqrt(), (1 - t).sqrt()
    target = {"epsilon": eps, "sample": a0, "v_prediction": s * eps - n * a0}[family]
    return s * a0 + n * eps, target


@pytest.mark.parametrize("family", ALL)
def test_the_exact_target_implies_the_clean_chunk(family) -> None:
    g = torch.Generator().manual_seed(0)
    a0, eps = torch.randn(6, 8, 5, generator=g, dtype=torch.float64), torch.randn(
        6, 8, 5, generator=g, dtype=torch.float64)
    time = torch.linspace(0.05, 0.95, 6, dtype=torch.float64)
    noisy, target = corrupted(family, a0, eps, time)
    torch.testing.assert_close(implied_clean(family, target, noisy, time), a0)
    # a wrong family's algebra does not recover it
    other = "sample" if family != "sample" else "epsilon"
    assert not torch.allclose(implied_clean(other, target, noisy, time), a0)


def double_view() -> PolicyChunkEncoder:
    return PolicyChunkEncoder(tiny_encoder().double(), slots=[0, 1, 2])


def prior_near(view: PolicyChunkEncoder, chunks: torch.Tensor) -> LatentPrior:
    """A Gaussian q_phi fitted to latents of slightly perturbed chunks (so some nll fall on
    each side of any quantile)."""
    with torch.no_grad():
        mu, logvar = view(chunks + 0.3 * torch.randn_like(chunks))
    return LatentPrior.fit("gaussian", mu, logvar).double()


@pytest.mark.parametrize("kind", ["consistency", "manifold"])
@pytest.mark.parametrize("family", ["epsilon", "sample", "flow_pi0"])
def test_each_term_is_its_formula_and_its_gradient_the_finite_difference(kind, family
                                                                         ) -> None:
    view = double_view()
    g = torch.Generator().manual_seed(1)
    a0 = batch(8)["action"].double()
    eps = torch.randn(a0.shape, generator=g, dtype=torch.float64) * torch.tensor(
        [1.0, 1, 1, 0, 0], dtype=torch.float64)
    time = torch.linspace(0.2, 0.9, 8, dtype=torch.float64)
    noisy, target = corrupted(family, a0, eps, time)
    pred = (target + 0.2 * torch.randn(a0.shape, generator=g, dtype=torch.float64))
    cfg = LatentLossConfig(kind=kind, beta=0.7, hinge_quantile=0.5)
    prior = prior_near(view, a0) if kind == "manifold" else None
    term = LatentLoss(view, cfg, prior)
    if prior is not None:
        term.calibrate_hinge(a0)

    # the formula written out: x0_hat by hand, E's means, signal weight abar / 1 - t
    t = time.view(-1, 1, 1)
    x0_hat = {"epsilon": (noisy - (1 - t).sqrt() * pred) / t.sqrt(), "sample": pred,
              "flow_pi0": noisy - t * pred}[family]
    w = 1 - time if family == "flow_pi0" else time
    enc = view.encoder
    mu_hat, _ = enc.encode(x0_hat[..., :3])
    if kind == "consistency":
        per = (mu_hat - enc.encode(a0[..., :3])[0]).pow(2).mean(-1)
    else:
        nll = -prior.log_prob(mu_hat) / mu_hat.shape[-1]
        per = (nll - term.hinge).clamp_min(0)
        assert bool((per > 0).any())
    expected = 0.7 * (w * per).mean()
    x = pred.clone().requires_grad_(True)
    value = term(family, x, noisy, a0, time)
    torch.testing.assert_close(value, expected)

    (grad,) = torch.autograd.grad(value, x)
    assert grad[..., 3:].abs().max() == 0  # padded slots never reach the encoder
    h = 1e-6
    for index in [(0, 0, 0), (3, 5, 1), (7, 2, 2)]:
        up, down = pred.clone(), pred.clone()
        up[index] += h
        down[index] -= h
        fd = (term(family, up, noisy, a0, time) - term(family, down, noisy, a0, time)) / (2 * h)
        torch.testing.assert_close(grad[index], fd, rtol=1e-5, atol=1e-9)


def test_the_hinge_is_the_quantile_and_silent_on_the_demos_themselves() -> None:
    view = double_view()
    a0 = batch(16)["action"].double()
    prior = prior_near(view, a0)
    term = LatentLoss(view, LatentLossConfig(kind="manifold", beta=1.0, hinge_quantile=1.0),
                      prior)
    with torch.no_grad():
        nll = -prior.log_prob(view(a0)[0]) / 8
    assert term.calibrate_hinge(a0) == pytest.approx(float(nll.max()))
    # the x0 family with the exact target implies the demos: every nll <= the max, term 0
    value = term("sample", a0.clone(), torch.zeros_like(a0), a0, torch.full((16,), 0.5))
    assert float(value) == 0.0 and term.last_stats["latent_active"] == 0.0
    term.config = LatentLossConfig(kind="manifold", beta=1.0, hinge_quantile=0.25)
    assert term.calibrate_hinge(a0) == pytest.approx(float(torch.quantile(nll, 0.25)))
    assert float(term("sample", a0.clone(), torch.zeros_like(a0), a0,
                      torch.full((16,), 0.5))) > 0


def test_the_manifold_term_needs_a_prior_and_a_hinge() -> None:
    view = double_view()
    with pytest.raises(ConfigError, match="stage-1 prior"):
        LatentLoss(view, LatentLossConfig(kind="manifold"))
    a0 = batch(4)["action"].double()
    term = LatentLoss(view, LatentLossConfig(kind="manifold"), prior_near(view, a0))
    with pytest.raises(ConfigError, match="calibrate_hinge"):
        term("sample", a0, a0, a0, 0.5)
    with pytest.raises(ConfigError, match="beta"):
        LatentLossConfig(beta=-1.0)
    with pytest.raises(ConfigError, match="hinge_quantile"):
        LatentLossConfig(hinge_quantile=0.0)


@pytest.mark.parametrize("kind,prediction", FAMILIES)
def test_beta_zero_is_the_plain_loss_and_the_gradient_reaches_only_the_policy(
        kind, prediction) -> None:
    policy = make_family(kind, prediction)
    view = PolicyChunkEncoder(tiny_encoder(), slots=[0, 1, 2])
    b = batch()

    def loss_and_grads(latent: LatentLoss | None):
        policy.zero_grad()
        torch.manual_seed(5)
        loss = policy.compute_loss(b, None, torch.Generator().manual_seed(5), latent)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in policy.parameters()
                               if p.grad is not None]

    plain, plain_grads = loss_and_grads(None)
    zero, zero_grads = loss_and_grads(LatentLoss(view, LatentLossConfig(beta=0.0)))
    assert torch.equal(plain, zero)
    assert all(torch.equal(a, b) for a, b in zip(plain_grads, zero_grads, strict=True))
    term = LatentLoss(view, LatentLossConfig(beta=5.0, time_weight="uniform"))
    with_term, grads = loss_and_grads(term)
    assert with_term > plain and term.last_stats["latent_term"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(plain_grads, grads, strict=True))
    assert all(p.grad is None for p in view.encoder.parameters())
    assert all(not p.requires_grad for p in view.encoder.parameters())


# -- sampling-time guidance -------------------------------------------------------------------
def sampling_guide(scale: float, dtype=torch.float32) -> LatentSamplingGuidance:
    view = PolicyChunkEncoder(tiny_encoder().to(dtype), slots=[0, 1, 2])
    chunks = batch(32, seed=3)["action"].to(dtype)
    return LatentSamplingGuidance.from_chunks(view, chunks,
                                              config=SamplingGuidanceConfig(scale=scale))


def test_sampling_guidance_is_minus_the_gradient_to_the_nearest_target_latent() -> None:
    guide = sampling_guide(0.5, torch.float64)
    x = batch(4, seed=9)["action"].double() + 0.3
    delta = guide(x)
    assert delta[..., 3:].abs().max() == 0 and delta.abs().max() > 0
    with torch.no_grad():
        z_star = guide.nearest(guide.view(x)[0])
        dist = torch.cdist(guide.view(x)[0], guide.bank)
        assert torch.equal(z_star, guide.bank[dist.argmin(1)])

    def distance(y: torch.Tensor) -> torch.Tensor:
        return (guide.view(y)[0] - z_star).pow(2).mean(-1).sum()

    h = 1e-6
    for index in [(0, 0, 0), (2, 7, 2)]:
        up, down = x.clone(), x.clone()
        up[index] += h
        down[index] -= h
        fd = (distance(up) - distance(down)) / (2 * h)
        torch.testing.assert_close(delta[index], -0.5 * fd, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("kind,prediction", FAMILIES)
def test_sampling_guidance_at_scale_zero_samples_exactly_as_without(kind, prediction) -> None:
    policy = make_family(kind, prediction)
    task = torch.tensor([0, 1, 2])
    obs = torch.randn(3, 2, 4, generator=torch.Generator().manual_seed(0))
    plain = policy.act(obs, task, generator=torch.Generator().manual_seed(1))
    zero = policy.act(obs, task, generator=torch.Generator().manual_seed(1),
                      guide=sampling_guide(0.0))
    assert torch.equal(plain, zero)


@pytest.mark.parametrize("kind,prediction", FAMILIES)
def test_the_last_step_moves_the_sample_by_the_whole_delta(kind, prediction) -> None:
    """At the last step the next sample is the clean estimate itself (abar_prev = 1 for
    DDIM's final step, 1 - t_next = 1 for pi0's flow): a delta given only there moves the
    output by exactly delta on the real slots."""
    policy = make_family(kind, prediction)
    calls = []
    shift = torch.tensor([0.3, -0.2, 0.1, 5.0, 5.0])

    def last_only(x0_hat: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        last = len(calls) == policy.config.inference_steps
        return shift.expand_as(x0_hat) if last else torch.zeros_like(x0_hat)

    cond = policy.cond(torch.randn(2, 2, 4, generator=torch.Generator().manual_seed(0)),
                       torch.tensor([0, 1]))
    plain = policy.sample(cond, 2, torch.Generator().manual_seed(1))
    moved = policy.sample(cond, 2, torch.Generator().manual_seed(1), guide=last_only)
    assert len(calls) == policy.config.inference_steps
    torch.testing.assert_close(moved - plain, (shift * policy.action_mask).expand_as(plain),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind,prediction", [("flow", "epsilon"), ("diffusion", "epsilon")])
def test_sampling_guidance_brings_sampled_chunks_nearer_the_target_latents(kind, prediction
                                                                          ) -> None:
    policy = make_family(kind, prediction)
    guide = sampling_guide(2.0)
    cond = policy.cond(torch.randn(16, 2, 4, generator=torch.Generator().manual_seed(0)),
                       torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(0)))

    def gap(chunks: torch.Tensor) -> float:
        with torch.no_grad():
            z = guide.view(chunks)[0]
            return float((z - guide.nearest(z)).pow(2).mean())

    plain = policy.sample(cond, 16, torch.Generator().manual_seed(1))
    guided = policy.sample(cond, 16, torch.Generator().manual_seed(1), guide=guide)
    assert gap(guided) < 0.8 * gap(plain)
