"""VAE losses as pure functions: reconstruction, Gaussian KLs, MMD, Monte Carlo KL.

Conventions: posteriors are diagonal Gaussians given by ``mu`` and ``logvar`` of shape
(B, d). KLs return one value per sample, (B,), summed over latent dims (nats); callers
choose the reduction (the release takes the mean over samples *and* dims, which is the sum
divided by d: see ``reduce_kl``).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

KLReduction = Literal["mean_dims", "sum_dims"]


def masked_smooth_l1(recon: torch.Tensor, target: torch.Tensor,
                     step_mask: torch.Tensor | None = None,
                     slot_mask: torch.Tensor | None = None, beta: float = 1.0) -> torch.Tensor:
    """SmoothL1 between (B, H, D) chunks, averaged over real steps and real slots only.

    Args:
        recon, target: (B, H, D).
        step_mask: (B, H) bool, False at padded steps.
        slot_mask: (B, D) or (D,) bool, False at unused slots of a unified vector.
        beta: SmoothL1's switch point between quadratic and linear (torch's default 1).

    Returns:
        Scalar mean over the B * H * D entries the masks keep.
    """
    err = F.smooth_l1_loss(recon, target, reduction="none", beta=beta)
    weight = torch.ones_like(err)
    if step_mask is not None:
        weight = weight * step_mask[..., None].to(err.dtype)
    if slot_mask is not None:
        slots = slot_mask if slot_mask.ndim == 2 else slot_mask[None]
        weight = weight * slots[:, None, :].to(err.dtype)
    return (err * weight).sum() / weight.sum().clamp_min(1.0)


def kl_diag_to_standard(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)), (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def kl_diag_gaussians(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor,
                      logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(q || p) between diagonal Gaussians (shapes broadcast to (B, d)), (B,).

    Swap the arguments for the other direction.
    """
    var_ratio = (logvar_q - logvar_p).exp()
    return 0.5 * (var_ratio + (mu_q - mu_p).pow(2) / logvar_p.exp() - 1.0
                  - (logvar_q - logvar_p)).sum(-1)


def kl_diag_to_full(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor,
                    scale_tril_p: torch.Tensor) -> torch.Tensor:
    """KL(q || p), q = N(mu_q, diag exp(logvar_q)) (B, d), p = N(mu_p, L L^T) one Gaussian.

    Closed form 0.5 [tr(S_p^-1 S_q) + m^T S_p^-1 m - d + log|S_p| - log|S_q|], m = mu_p - mu_q.
    """
    d = mu_q.shape[-1]
    eye = torch.eye(d, dtype=mu_q.dtype, device=mu_q.device)
    l_inv = torch.linalg.solve_triangular(scale_tril_p, eye, upper=False)
    precision_diag = l_inv.pow(2).sum(0)  # diag of L^-T L^-1
    trace = (precision_diag * logvar_q.exp()).sum(-1)
    maha = (l_inv @ (mu_p - mu_q).unsqueeze(-1)).squeeze(-1).pow(2).sum(-1)
    logdet_p = 2.0 * torch.log(torch.diagonal(scale_tril_p)).sum()
    return 0.5 * (trace + maha - d + logdet_p - logvar_q.sum(-1))


def kl_full_to_diag(mu_p: torch.Tensor, scale_tril_p: torch.Tensor, mu_q: torch.Tensor,
                    logvar_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q), p = N(mu_p, L L^T) one Gaussian, q = N(mu_q, diag exp(logvar_q)) (B, d).

    The release's stage-2 direction: KL(q_phi || q_psi(z|a)). Returns (B,).
    """
    d = mu_q.shape[-1]
    cov_diag = scale_tril_p.pow(2).sum(-1)  # diag of L L^T
    inv_var_q = (-logvar_q).exp()
    trace = (cov_diag * inv_var_q).sum(-1)
    maha = ((mu_q - mu_p).pow(2) * inv_var_q).sum(-1)
    logdet_p = 2.0 * torch.log(torch.diagonal(scale_tril_p)).sum()
    return 0.5 * (trace + maha - d + logvar_q.sum(-1) - logdet_p)


def diag_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dim."""
    return -0.5 * (((z - mu).pow(2) / logvar.exp()) + logvar + math.log(2 * math.pi)).sum(-1)


def mixture_log_prob(z: torch.Tensor, weights: torch.Tensor, means: torch.Tensor,
                     scale_trils: torch.Tensor) -> torch.Tensor:
    """log sum_k w_k N(z; m_k, L_k L_k^T) for z (..., d); weights (K,), means (K, d),
    scale_trils (K, d, d). Returns (...,)."""
    d = means.shape[-1]
    diff = z.unsqueeze(-2) - means  # (..., K, d)
    sol = torch.linalg.solve_triangular(scale_trils, diff.unsqueeze(-1), upper=False)
    maha = sol.squeeze(-1).pow(2).sum(-1)  # (..., K)
    logdet = 2.0 * torch.log(torch.diagonal(scale_trils, dim1=-2, dim2=-1)).sum(-1)
    comp = -0.5 * (maha + logdet + d * math.log(2 * math.pi))
    return torch.logsumexp(comp + torch.log(weights), dim=-1)


def mc_kl_diag_to_mixture(mu: torch.Tensor, logvar: torch.Tensor, weights: torch.Tensor,
                          means: torch.Tensor, scale_trils: torch.Tensor, num_samples: int = 8,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte Carlo KL(q || p), q diagonal (B, d), p a Gaussian mixture; (B,).

    Reparameterised samples of q, so gradients reach mu and logvar.
    """
    eps = torch.randn((num_samples, *mu.shape), generator=generator, device=mu.device,
                      dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps
    return (diag_log_prob(z, mu, logvar) - mixture_log_prob(z, weights, means, scale_trils)
            ).mean(0)


def mc_kl_mixture_to_diag(samples: torch.Tensor, log_p: torch.Tensor, mu: torch.Tensor,
                          logvar: torch.Tensor) -> torch.Tensor:
    """Monte Carlo KL(p || q) from S samples of a mixture p (S, d) with their log p (S,),
    against diagonal q (B, d); (B,). Gradients reach q only (p is fixed)."""
    log_q = diag_log_prob(samples[:, None], mu[None], logvar[None])  # (S, B)
    return (log_p[:, None] - log_q).mean(0)


def reduce_kl(kl: torch.Tensor, latent_dim: int, reduction: KLReduction) -> torch.Tensor:
    """Batch mean of per-sample KLs; ``mean_dims`` also divides by d (the release's
    ``kl_divergence(...).mean()`` over a (B, d) tensor), ``sum_dims`` does not."""
    kl = kl.mean()
    return kl / latent_dim if reduction == "mean_dims" else kl


def imq_kernel(x: torch.Tensor, y: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
    """The release's inverse multiquadric kernel matrix (N, M):
    k(x, y) = C / (C + mean_d (x_d - y_d)^2), C = 2 * d * scale."""
    c = 2.0 * x.shape[-1] * scale
    # expanded form, not cdist: cdist's sqrt has an infinite derivative at zero distance
    sq = (x.pow(2).sum(-1)[:, None] + y.pow(2).sum(-1)[None] - 2.0 * x @ y.T).clamp_min(0.0)
    sq = sq / x.shape[-1]
    return c / (c + sq)


def mmd(x: torch.Tensor, y: torch.Tensor, scale: float = 2.0, unbiased: bool = False
        ) -> torch.Tensor:
    """Maximum mean discrepancy between samples x (N, d) and y (M, d), IMQ kernel.

    The biased V-statistic (diagonal terms kept) is the release's; ``unbiased`` drops the
    diagonals of k(x, x) and k(y, y), so its expectation is 0 when x and y share a law.
    """
    kxx, kyy, kxy = imq_kernel(x, x, scale), imq_kernel(y, y, scale), imq_kernel(x, y, scale)
    if not unbiased:
        return kxx.mean() + kyy.mean() - 2.0 * kxy.mean()
    n, m = len(x), len(y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return sxx + syy - 2.0 * kxy.mean()
