"""The two stages' training objectives: a VAE output and a batch in, loss terms out."""

from __future__ import annotations

import torch

from ate.align.config import AdaptConfig, LossConfig
from ate.align.losses import kl_diag_to_standard, masked_smooth_l1, mmd, reduce_kl
from ate.align.prior import LatentPrior
from ate.align.vae import VAEOutput

Terms = dict[str, torch.Tensor]


class PretrainObjective:
    """Stage 1: recon + w_kl KL(q(z|a) || N(0, I)) + w_mmd MMD(z, N(0, I) samples)."""

    def __init__(self, loss: LossConfig) -> None:
        self.loss = loss
        self.kl_weight = loss.kl_weight

    def reference(self, n: int, d: int, generator: torch.Generator, device: torch.device
                  ) -> torch.Tensor:
        return torch.randn((n, d), generator=generator, device=device)

    def kl(self, out: VAEOutput, generator: torch.Generator) -> torch.Tensor:
        return kl_diag_to_standard(out.mu, out.logvar)

    def __call__(self, out: VAEOutput, batch: dict[str, torch.Tensor],
                 generator: torch.Generator) -> Terms:
        """Loss terms; ``loss`` is the weighted total."""
        d = out.mu.shape[-1]
        recon = masked_smooth_l1(out.recon, batch["action"], batch.get("step_mask"),
                                 batch.get("action_mask"), self.loss.smooth_l1_beta)
        kl = reduce_kl(self.kl(out, generator), d, self.loss.kl_reduction)
        ref = self.reference(len(out.z), d, generator, out.z.device)
        div = mmd(out.z, ref, self.loss.mmd_scale)
        total = (self.loss.recon_weight * recon + self.kl_weight * kl
                 + self.loss.mmd_weight * div)
        return {"loss": total, "recon": recon, "kl": kl, "mmd": div}


class AdaptObjective(PretrainObjective):
    """Stage 2: the KL is taken against q_phi (direction per ``adapt.kl_direction``) and
    the MMD against N(0, I), samples of q_phi, or a bank of pre-training latents."""

    def __init__(self, loss: LossConfig, adapt: AdaptConfig, prior: LatentPrior,
                 bank: torch.Tensor | None = None) -> None:
        super().__init__(loss)
        self.adapt = adapt
        if adapt.kl_weight is not None:
            self.kl_weight = adapt.kl_weight
        self.prior = prior
        if adapt.mmd_reference == "bank" and bank is None:
            raise ValueError("mmd_reference='bank' needs the stage-1 latent bank")
        self.bank = bank

    def reference(self, n: int, d: int, generator: torch.Generator, device: torch.device
                  ) -> torch.Tensor:
        if self.adapt.mmd_reference == "standard":
            return super().reference(n, d, generator, device)
        if self.adapt.mmd_reference == "prior":
            return self.prior.sample(n, generator)
        assert self.bank is not None
        idx = torch.randint(len(self.bank), (n,), generator=generator, device=device)
        return self.bank[idx]

    def kl(self, out: VAEOutput, generator: torch.Generator) -> torch.Tensor:
        return self.prior.kl_from_posterior(out.mu, out.logvar, self.adapt.kl_direction,
                                            self.adapt.kl_samples, generator)
