"""Sampling-time latent guidance: pushes each denoising step's clean estimate toward the
nearest target latent. It costs inference time (an encoder forward and backward per
denoising step; ``benchmarks/sampling_guidance_latency.py`` measures the ratio), unlike
Steer and the latent training terms, which leave inference untouched.

At every step the policy's clean estimate x0_hat (B, H, U) moves by

    delta = -scale * grad_{x0_hat} mean_d (E(x0_hat) - z*)^2,

z* the nearest (Euclidean) latent of a bank of target chunk latents (posterior means of the
target's training chunks), and the next noisy sample moves by its signal coefficient times
delta (sqrt(abar_prev) for DDIM, 1 - t_next for pi0's flow), which is where a sample with
that clean estimate would be. Not in the paper or the authors' release.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ate.errors import ConfigError
from ate.steer.chunk_encoder import PolicyChunkEncoder


@dataclass
class SamplingGuidanceConfig:
    """Attributes:
        scale: step size on the clean estimate, in the policy's normalised action units per
            unit of latent-distance gradient (>= 0; 0 samples exactly as without guidance).
        bank_size: at most this many target chunk latents are kept (the first ones).
    """

    scale: float = 0.1
    bank_size: int = 4096

    def __post_init__(self) -> None:
        if self.scale < 0 or self.bank_size < 1:
            raise ConfigError(f"sampling guidance: scale = {self.scale} (>= 0) and bank_size = "
                              f"{self.bank_size} (>= 1): out of range.")


class LatentSamplingGuidance:
    """``delta`` for clean estimates, from a frozen encoder and a bank of target latents.

    Args:
        view: the stage-2 encoder in the policy's units (``PolicyChunkEncoder``).
        bank: (N, d) target latents (posterior means), e.g. from ``bank_from_chunks``.
        config: see ``SamplingGuidanceConfig``.
    """

    def __init__(self, view: PolicyChunkEncoder, bank: torch.Tensor,
                 config: SamplingGuidanceConfig | None = None) -> None:
        self.view, self.config = view, config or SamplingGuidanceConfig()
        self.bank = bank[: self.config.bank_size].detach().to(view.device)

    @classmethod
    @torch.no_grad()
    def from_chunks(cls, view: PolicyChunkEncoder, chunks: torch.Tensor,
                    steps: torch.Tensor | None = None,
                    config: SamplingGuidanceConfig | None = None) -> LatentSamplingGuidance:
        """The bank from the target's clean chunks (N, H, U) in the policy's units."""
        cfg = config or SamplingGuidanceConfig()
        chunks = chunks[: cfg.bank_size].to(view.device)
        steps = None if steps is None else steps[: cfg.bank_size].to(view.device)
        mu, _ = view(chunks, steps)
        return cls(view, mu, cfg)

    def to(self, device: str | torch.device) -> LatentSamplingGuidance:
        """Move encoder and bank (in place) and return self."""
        self.view.to(device)
        self.bank = self.bank.to(device)
        return self

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """The bank latent nearest each row of z (B, d): (B, d)."""
        return self.bank[torch.cdist(z.detach(), self.bank).argmin(dim=1)]

    def __call__(self, x0_hat: torch.Tensor) -> torch.Tensor:
        """delta (B, H, U) for clean estimates x0_hat (B, H, U); zero outside the target's
        slots; no graph kept."""
        if self.config.scale == 0:
            return torch.zeros_like(x0_hat)
        device = self.view.device
        x = x0_hat.detach().to(device).requires_grad_(True)
        with torch.enable_grad():
            mu, _ = self.view(x)
            distance = (mu - self.nearest(mu)).pow(2).mean(-1).sum()
            (grad,) = torch.autograd.grad(distance, x)
        return (-self.config.scale * grad).to(x0_hat.device, x0_hat.dtype)
