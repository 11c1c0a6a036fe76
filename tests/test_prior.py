from __future__ import annotations

import pytest
import torch
from torch.distributions import MultivariateNormal

from ate.align.prior import LatentPrior
from ate.errors import ConfigError

g = torch.Generator().manual_seed(0)


def posteriors(n: int = 4000, d: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 0.5]])[:d, :d]
    mu = torch.randn(n, d, generator=g) @ a.T + 2.0
    logvar = torch.full((n, d), -2.0) + 0.1 * torch.randn(n, d, generator=g)
    return mu, logvar


def test_release_estimator_is_mean_of_means_and_stds() -> None:
    mu, lv = posteriors()
    prior = LatentPrior.fit("release", mu, lv)
    torch.testing.assert_close(prior.means[0], mu.mean(0))
    torch.testing.assert_close(torch.diagonal(prior.scale_trils[0]), (0.5 * lv).exp().mean(0))


def test_gaussian_estimator_is_aggregate_posterior_moments() -> None:
    mu, lv = posteriors()
    prior = LatentPrior.fit("gaussian", mu, lv)
    cov = prior.scale_trils[0] @ prior.scale_trils[0].T
    expected = torch.cov(mu.T) + torch.diag(lv.exp().mean(0))
    torch.testing.assert_close(cov, expected, atol=1e-4, rtol=1e-4)
    # the aggregate posterior's own samples have that covariance (Monte Carlo check)
    z = mu + (0.5 * lv).exp() * torch.randn(mu.shape, generator=g)
    torch.testing.assert_close(torch.cov(z.T), expected, atol=0.1, rtol=0.1)


def test_mixture_finds_two_modes() -> None:
    a = torch.randn(1500, 2, generator=g) * 0.2 + torch.tensor([-4.0, 0.0])
    b = torch.randn(500, 2, generator=g) * 0.2 + torch.tensor([4.0, 1.0])
    mu = torch.cat([a, b])
    prior = LatentPrior.fit("mixture", mu, torch.full_like(mu, -8.0), components=2)
    order = prior.means[:, 0].argsort()
    torch.testing.assert_close(prior.means[order], torch.tensor([[-4.0, 0.0], [4.0, 1.0]]),
                               atol=0.05, rtol=0)
    torch.testing.assert_close(prior.weights[order], torch.tensor([0.75, 0.25]), atol=0.02,
                               rtol=0)


def test_log_prob_sample_and_region() -> None:
    mu, lv = posteriors()
    prior = LatentPrior.fit("gaussian", mu, lv)
    mvn = MultivariateNormal(prior.means[0], scale_tril=prior.scale_trils[0])
    z = torch.randn(5, 3, generator=g)
    torch.testing.assert_close(prior.log_prob(z), mvn.log_prob(z))
    samples = prior.sample(20000, g)
    torch.testing.assert_close(samples.mean(0), prior.means[0], atol=0.05, rtol=0)
    inside = (prior.log_prob(samples) >= prior.region_log_density(0.95)).float().mean()
    assert abs(inside.item() - 0.95) < 0.01
    mix = LatentPrior.fit("mixture", mu, lv, components=3)
    s = mix.sample(20000, g)
    inside = (mix.log_prob(s) >= mix.region_log_density(0.95, seed=1)).float().mean()
    assert abs(inside.item() - 0.95) < 0.015


def test_kl_from_posterior_directions_and_mixture() -> None:
    mu, lv = posteriors()
    prior = LatentPrior.fit("gaussian", mu, lv)
    q_mu, q_lv = mu[:4], lv[:4]
    q = MultivariateNormal(q_mu, scale_tril=torch.diag_embed((0.5 * q_lv).exp()))
    p = MultivariateNormal(prior.means[0], scale_tril=prior.scale_trils[0])
    kl = torch.distributions.kl_divergence
    torch.testing.assert_close(prior.kl_from_posterior(q_mu, q_lv, "paper"), kl(q, p),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(prior.kl_from_posterior(q_mu, q_lv, "release"), kl(p, q),
                               rtol=1e-4, atol=1e-4)
    one = LatentPrior("mixture", torch.ones(2) / 2, prior.means.repeat(2, 1),
                      prior.scale_trils.repeat(2, 1, 1))  # two identical components
    torch.testing.assert_close(one.kl_from_posterior(q_mu, q_lv, "paper", 20000, g),
                               kl(q, p), rtol=0.05, atol=0.05)


def test_save_load_and_dim_check(tmp_path) -> None:
    mu, lv = posteriors()
    prior = LatentPrior.fit("mixture", mu, lv, components=2)
    prior.save(tmp_path / "prior.safetensors")
    back = LatentPrior.load(tmp_path / "prior.safetensors")
    assert back.kind == "mixture"
    torch.testing.assert_close(back.means, prior.means)
    with pytest.raises(ConfigError, match="latent_dim 3"):
        back.log_prob(torch.zeros(2, 5))
    with pytest.raises(ConfigError, match="no prior file"):
        LatentPrior.load(tmp_path / "missing.safetensors")
