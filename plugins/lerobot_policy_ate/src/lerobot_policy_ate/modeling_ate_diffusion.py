"""LeRobot's Diffusion Policy trained with Steer folded into its loss."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot.policies.diffusion.modeling_diffusion import DiffusionModel, DiffusionPolicy
from torch import Tensor

from ate.steer import LatentGuidance, guided_target
from lerobot_policy_ate.configuration_ate_diffusion import ATEDiffusionConfig
from lerobot_policy_ate.steer import ATEPolicyMixin, ShiftLog, captured


class GuidedDiffusionModel(DiffusionModel):
    """``DiffusionModel`` whose ``compute_loss`` regresses onto the guided target.

    The stock ``compute_loss`` runs as it is; the noise and timesteps it drew (from
    ``noise_scheduler.add_noise``) and the U-Net's prediction are captured, and the loss is
    recomputed against the guided target with the stock padding mask and reduction.
    """

    guidance: LatentGuidance | None = None  # set by the policy; never a submodule
    shift_log: ShiftLog | None = None

    def compute_loss(self, batch: dict[str, Tensor]) -> Tensor:
        guidance = self.guidance
        if guidance is None:
            return super().compute_loss(batch)
        drawn: dict[str, Any] = {}
        scheduler = self.noise_scheduler
        add_noise, shadowed = scheduler.add_noise, scheduler.__dict__.get("add_noise")

        def recording(original, noise, timesteps):
            noisy = add_noise(original, noise, timesteps)
            drawn.update(clean=original, noise=noise, timesteps=timesteps, noisy=noisy)
            return noisy

        scheduler.add_noise = recording  # an instance attribute shadows the method
        try:
            with captured(self.unet) as seen:
                super().compute_loss(batch)
        finally:
            if shadowed is None:
                del scheduler.add_noise
            else:
                scheduler.add_noise = shadowed
        pred, clean = seen["out"], drawn["clean"]
        family = self.config.prediction_type
        target = drawn["noise"] if family == "epsilon" else clean
        abar = self.noise_scheduler.alphas_cumprod.to(clean.device)[drawn["timesteps"]]
        steps = ~batch["action_is_pad"] if "action_is_pad" in batch else None
        g = guidance(drawn["noisy"], clean, steps)
        if self.training and self.shift_log is not None:
            self.shift_log.observe(guidance, family, g, abar, clean, steps)
        cfg = guidance.config
        goal = guided_target(family, target, g, abar, lam=guidance.lam, clamp=cfg.clamp,
                             sign=cfg.sign, order=cfg.order, floor=cfg.floor)
        loss = F.mse_loss(pred, goal, reduction="none")
        if self.config.do_mask_loss_for_padding:
            mask = (~batch["action_is_pad"]).unsqueeze(-1)
            return (loss * mask).sum() / (mask.sum() * loss.shape[-1]).clamp_min(1)
        return loss.mean()


class ATEDiffusionPolicy(ATEPolicyMixin, DiffusionPolicy):
    """``DiffusionPolicy`` with Steer in training; inference, weights and the saved
    checkpoint are the stock policy's (``config.json`` says ``diffusion``, no encoder)."""

    config_class = ATEDiffusionConfig
    name = "ate_diffusion"
    stock_config = DiffusionConfig
    inner = "diffusion"

    def __init__(self, config: ATEDiffusionConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.attach_guidance(GuidedDiffusionModel, kwargs.get("dataset_stats"))
