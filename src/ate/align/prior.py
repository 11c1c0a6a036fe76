"""The pre-training latent prior q_phi(z): a Gaussian mixture (K = 1 for the Gaussians).

Three estimators from stage-1 posteriors (mu_i, sigma_i) of the pre-training chunks:
- ``release``: N(mean_i mu_i, diag(mean_i sigma_i)^2), as the authors' code (it ignores the
  spread of the means, so it is narrower than the data's latents);
- ``gaussian``: the moments of the aggregate posterior, mean E[mu] and full covariance
  Cov(mu) + E[diag sigma^2] (the paper's "mean and covariance of all latents");
- ``mixture``: a K-component full-covariance Gaussian mixture (scikit-learn's EM) fitted to
  posterior samples, so that "mode-seeking" has modes to seek.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors.torch import save_file
from scipy.stats import chi2
from torch import nn

from ate.align.losses import (
    kl_diag_to_full,
    kl_full_to_diag,
    mc_kl_diag_to_mixture,
    mc_kl_mixture_to_diag,
    mixture_log_prob,
)
from ate.checkpoint import read_tensors
from ate.errors import ConfigError

PriorKind = Literal["release", "gaussian", "mixture"]
KLDirection = Literal["paper", "release"]


class LatentPrior(nn.Module):
    """Gaussian mixture over latents: weights (K,), means (K, d), scale_trils (K, d, d)."""

    def __init__(self, kind: str, weights: torch.Tensor, means: torch.Tensor,
                 scale_trils: torch.Tensor) -> None:
        super().__init__()
        self.kind = kind
        self.register_buffer("weights", weights.float())
        self.register_buffer("means", means.float())
        self.register_buffer("scale_trils", scale_trils.float())

    @property
    def latent_dim(self) -> int:
        """d."""
        return self.means.shape[-1]

    @property
    def num_components(self) -> int:
        """K (1 for the Gaussian estimators)."""
        return self.means.shape[0]

    # -- estimators -------------------------------------------------------------------
    @classmethod
    def fit(cls, kind: PriorKind, mu: torch.Tensor, logvar: torch.Tensor,
            components: int = 4, seed: int = 0) -> LatentPrior:
        """Estimate the prior from stage-1 posteriors ``mu``, ``logvar`` (N, d)."""
        mu, logvar = mu.double(), logvar.double()
        std = torch.exp(0.5 * logvar)
        d = mu.shape[1]
        if kind == "release":
            return cls(kind, torch.ones(1), mu.mean(0)[None], torch.diag(std.mean(0))[None])
        if kind == "gaussian":
            centred = mu - mu.mean(0)
            cov = centred.T @ centred / max(len(mu) - 1, 1) + torch.diag(std.pow(2).mean(0))
            tril = torch.linalg.cholesky(cov + 1e-6 * torch.eye(d, dtype=cov.dtype))
            return cls(kind, torch.ones(1), mu.mean(0)[None], tril[None])
        if kind == "mixture":
            from sklearn.mixture import GaussianMixture

            gen = torch.Generator().manual_seed(seed)
            z = mu + std * torch.randn(mu.shape, generator=gen, dtype=mu.dtype)
            gmm = GaussianMixture(components, covariance_type="full", reg_covar=1e-4,
                                  random_state=seed, max_iter=200).fit(z.numpy())
            trils = np.linalg.cholesky(gmm.covariances_)
            return cls(kind, torch.from_numpy(gmm.weights_), torch.from_numpy(gmm.means_),
                       torch.from_numpy(trils))
        raise ConfigError(f"prior kind {kind!r} unknown; choose release, gaussian or mixture.")

    # -- density ----------------------------------------------------------------------
    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q_phi(z) for z (..., d), in nats."""
        self.check_dim(z.shape[-1])
        return mixture_log_prob(z, self.weights, self.means, self.scale_trils)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n samples, (n, d)."""
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn((n, self.latent_dim, 1), generator=generator,
                          device=self.means.device)
        return self.means[comp] + (self.scale_trils[comp] @ eps).squeeze(-1)

    def kl_from_posterior(self, mu: torch.Tensor, logvar: torch.Tensor,
                          direction: KLDirection = "paper", num_samples: int = 8,
                          generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-sample KL between posteriors q(z|a) = N(mu, diag exp(logvar)) (B, d) and this
        prior, (B,).

        ``paper``: KL(q(z|a) || q_phi), mode-seeking. ``release``: KL(q_phi || q(z|a)).
        Closed form for K = 1, Monte Carlo (reparameterised) for a mixture.
        """
        self.check_dim(mu.shape[-1])
        if self.num_components == 1:
            if direction == "paper":
                return kl_diag_to_full(mu, logvar, self.means[0], self.scale_trils[0])
            return kl_full_to_diag(self.means[0], self.scale_trils[0], mu, logvar)
        if direction == "paper":
            return mc_kl_diag_to_mixture(mu, logvar, self.weights, self.means, self.scale_trils,
                                         num_samples, generator)
        with torch.no_grad():
            z = self.sample(num_samples * 32, generator)
            log_p = self.log_prob(z)
        return mc_kl_mixture_to_diag(z, log_p, mu, logvar)

    def region_log_density(self, level: float = 0.95, num_samples: int = 20000,
                           seed: int = 0) -> float:
        """Log-density threshold t with P_{z ~ q_phi}(log q_phi(z) >= t) = level.

        The ``level`` highest-density region is {z : log q_phi(z) >= t}; exact (chi-square)
        for a Gaussian, estimated from ``num_samples`` prior samples for a mixture.
        """
        if self.num_components == 1:
            d = self.latent_dim
            logdet = 2.0 * torch.log(torch.diagonal(self.scale_trils[0])).sum().item()
            return -0.5 * (chi2.ppf(level, d) + logdet + d * math.log(2 * math.pi))
        with torch.no_grad():
            z = self.sample(num_samples, torch.Generator(self.means.device).manual_seed(seed))
            return float(torch.quantile(self.log_prob(z), 1.0 - level))

    def check_dim(self, dim: int) -> None:
        """Raise a clear error when latents of another size meet this prior."""
        if dim != self.latent_dim:
            raise ConfigError(f"the latent prior was built for latent_dim {self.latent_dim}, "
                              f"got latents of size {dim}. Train stage 2 with the stage-1 "
                              f"latent_dim ({self.latent_dim}) or rebuild the prior.")

    # -- files ------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write ``prior.safetensors`` (kind and sizes in its metadata)."""
        tensors = {"weights": self.weights, "means": self.means, "scale_trils": self.scale_trils}
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path),
                  metadata={"kind": self.kind, "latent_dim": str(self.latent_dim)})

    @classmethod
    def load(cls, path: str | Path) -> LatentPrior:
        """Read a file written by ``save``."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no prior file. Pass the stage-1 checkpoint folder, "
                              "which holds prior.safetensors.")
        t = read_tensors(path)
        with safe_open(str(path), "pt") as f:  # readable: read_tensors parsed it
            kind = (f.metadata() or {}).get("kind", "gaussian")
        missing = sorted({"weights", "means", "scale_trils"} - set(t))
        if missing:
            raise ConfigError(f"{path}: no {missing} tensors; not a prior written by ate.")
        return cls(kind, t["weights"], t["means"], t["scale_trils"])
