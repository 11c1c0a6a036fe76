"""Losses against closed forms (torch.distributions), Monte Carlo and brute force."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from ate.align.losses import (
    diag_log_prob,
    imq_kernel,
    kl_diag_gaussians,
    kl_diag_to_full,
    kl_diag_to_standard,
    kl_full_to_diag,
    masked_smooth_l1,
    mc_kl_diag_to_mixture,
    mc_kl_mixture_to_diag,
    mixture_log_prob,
    mmd,
    reduce_kl,
)

g = torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True)
def float64():
    """Closed forms are compared in double precision; restore the default after."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def rand(*shape) -> torch.Tensor:
    return torch.randn(*shape, generator=g)


def random_tril(d: int) -> torch.Tensor:
    a = rand(d, d)
    return torch.linalg.cholesky(a @ a.T / d + 0.5 * torch.eye(d))


def test_diag_kls_match_torch_distributions() -> None:
    mu_q, lv_q, mu_p, lv_p = rand(5, 4), rand(5, 4), rand(5, 4), rand(5, 4)
    q, p = Normal(mu_q, (0.5 * lv_q).exp()), Normal(mu_p, (0.5 * lv_p).exp())
    torch.testing.assert_close(kl_diag_gaussians(mu_q, lv_q, mu_p, lv_p),
                               kl_divergence(q, p).sum(-1))
    torch.testing.assert_close(kl_diag_gaussians(mu_p, lv_p, mu_q, lv_q),
                               kl_divergence(p, q).sum(-1))
    std = Normal(torch.zeros(4), torch.ones(4))
    torch.testing.assert_close(kl_diag_to_standard(mu_q, lv_q), kl_divergence(q, std).sum(-1))


def test_full_covariance_kls_both_directions() -> None:
    d = 6
    mu_q, lv_q = rand(3, d), 0.3 * rand(3, d)
    mu_p, tril = rand(d), random_tril(d)
    p = MultivariateNormal(mu_p, scale_tril=tril)
    q = MultivariateNormal(mu_q, scale_tril=torch.diag_embed((0.5 * lv_q).exp()))
    torch.testing.assert_close(kl_diag_to_full(mu_q, lv_q, mu_p, tril), kl_divergence(q, p))
    torch.testing.assert_close(kl_full_to_diag(mu_p, tril, mu_q, lv_q), kl_divergence(p, q))


def test_full_kl_reduces_to_diag_kl_for_diagonal_covariance() -> None:
    mu_q, lv_q, mu_p, lv_p = rand(4, 3), rand(4, 3), rand(3), rand(3)
    tril = torch.diag((0.5 * lv_p).exp())
    torch.testing.assert_close(kl_diag_to_full(mu_q, lv_q, mu_p, tril),
                               kl_diag_gaussians(mu_q, lv_q, mu_p, lv_p))


def test_mixture_log_prob_and_mc_kls() -> None:
    d = 3
    weights = torch.tensor([0.3, 0.7])
    means = torch.stack([rand(d), rand(d) + 3])
    trils = torch.stack([random_tril(d), random_tril(d)])
    z = rand(10, d)
    dense = torch.stack([MultivariateNormal(means[k], scale_tril=trils[k]).log_prob(z)
                         for k in range(2)], -1)
    torch.testing.assert_close(mixture_log_prob(z, weights, means, trils),
                               torch.logsumexp(dense + weights.log(), -1))
    # one-component "mixture": Monte Carlo KL agrees with the closed form
    mu, lv = rand(2, d), 0.2 * rand(2, d)
    one = (torch.ones(1), means[:1], trils[:1])
    mc = mc_kl_diag_to_mixture(mu, lv, *one, num_samples=40000, generator=g)
    torch.testing.assert_close(mc, kl_diag_to_full(mu, lv, means[0], trils[0]), rtol=0.03,
                               atol=0.03)
    samples = MultivariateNormal(means[0], scale_tril=trils[0]).sample((40000,))
    log_p = mixture_log_prob(samples, *one)
    torch.testing.assert_close(mc_kl_mixture_to_diag(samples, log_p, mu, lv),
                               kl_full_to_diag(means[0], trils[0], mu, lv), rtol=0.03, atol=0.03)


def test_mc_kl_is_differentiable() -> None:
    mu = rand(2, 3).requires_grad_()
    lv = rand(2, 3).requires_grad_()
    kl = mc_kl_diag_to_mixture(mu, lv, torch.ones(1), torch.zeros(1, 3),
                               torch.eye(3)[None], num_samples=4).sum()
    kl.backward()
    assert torch.isfinite(mu.grad).all() and mu.grad.abs().sum() > 0


def test_diag_log_prob() -> None:
    z, mu, lv = rand(5, 4), rand(5, 4), rand(5, 4)
    torch.testing.assert_close(diag_log_prob(z, mu, lv),
                               Normal(mu, (0.5 * lv).exp()).log_prob(z).sum(-1))


def test_imq_kernel_brute_force_and_mmd_properties() -> None:
    x, y = rand(7, 5), rand(6, 5) + 1.0
    c = 2 * 5 * 2.0
    brute = torch.tensor([[c / (c + ((a - b) ** 2).mean()) for b in y] for a in x])
    torch.testing.assert_close(imq_kernel(x, y), brute)
    assert mmd(x, x).abs() < 1e-12
    torch.testing.assert_close(mmd(x, y), mmd(y, x))
    assert mmd(x, y) > mmd(x, rand(6, 5))
    # unbiased estimator is centred for equal laws: average over many draws ~ 0
    vals = torch.stack([mmd(rand(20, 4), rand(20, 4), unbiased=True) for _ in range(200)])
    assert vals.mean().abs() < 3 * vals.std() / 200 ** 0.5
    assert mmd(rand(20, 4), rand(20, 4), unbiased=False) > 0


def test_mmd_gradient_is_finite_at_identical_points() -> None:
    x = rand(4, 3).requires_grad_()
    mmd(x, x.detach().clone()).backward()
    assert torch.isfinite(x.grad).all()


def test_masked_smooth_l1() -> None:
    recon, target = rand(2, 4, 3), rand(2, 4, 3)
    step = torch.tensor([[True, True, False, False], [True, True, True, True]])
    slots = torch.tensor([True, False, True])
    err = torch.nn.functional.smooth_l1_loss(recon, target, reduction="none")
    keep = step[..., None] & slots[None, None]
    torch.testing.assert_close(masked_smooth_l1(recon, target, step, slots), err[keep].mean())
    recon2 = recon.clone()
    recon2[0, 3] += 100.0  # padded step: no effect
    recon2[:, :, 1] -= 50.0  # unused slot: no effect
    torch.testing.assert_close(masked_smooth_l1(recon2, target, step, slots),
                               masked_smooth_l1(recon, target, step, slots))
    torch.testing.assert_close(masked_smooth_l1(recon, target), err.mean())


def test_reduce_kl() -> None:
    kl = torch.tensor([2.0, 4.0])
    assert reduce_kl(kl, 4, "sum_dims") == 3.0
    assert reduce_kl(kl, 4, "mean_dims") == 0.75
