"""Diffusion Policy: a conditional 1-D U-Net, DDPM training, DDIM sampling (diffusers)."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, DDPMScheduler

from ate.data.normalizer import Normalizer
from ate.data.slots import EmbodimentSlots
from ate.policies.config import PolicyConfig
from ate.policies.policy import GenerativePolicy, Guide
from ate.policies.unet1d import ConditionalUnet1D


class DiffusionPolicy(GenerativePolicy):
    """Predicts the noise (``epsilon``), the clean chunk (``sample``) or the velocity
    (``v_prediction``) of a DDPM."""

    def __init__(self, config: PolicyConfig, slots: EmbodimentSlots,
                 normalizer: Normalizer | None = None,
                 obs_normalizer: Normalizer | None = None) -> None:
        super().__init__(config, slots, normalizer, obs_normalizer)
        self.family = config.prediction
        self.net = ConditionalUnet1D(config.action_dim, self.cond.cond_dim,
                                     down_dims=config.down_dims)
        kwargs = dict(num_train_timesteps=config.train_timesteps,
                      beta_schedule=config.beta_schedule, prediction_type=config.prediction,
                      clip_sample=False)
        self.train_scheduler = DDPMScheduler(**kwargs)
        self.sample_scheduler = DDIMScheduler(**kwargs)
        self.register_buffer("alphas_cumprod", self.train_scheduler.alphas_cumprod.clone(),
                             persistent=False)

    def corrupt(self, a0: torch.Tensor, generator: torch.Generator | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        noise = torch.randn(a0.shape, generator=generator, device=a0.device) \
            * self.action_mask.to(a0.dtype)
        t = torch.randint(0, self.config.train_timesteps, (len(a0),), generator=generator,
                          device=a0.device)
        abar = self.alphas_cumprod[t].view(-1, 1, 1)
        noisy = abar.sqrt() * a0 + (1 - abar).sqrt() * noise
        target = {"epsilon": noise, "sample": a0,
                  # diffusers' get_velocity: v = sqrt(abar) eps - sqrt(1 - abar) a0
                  "v_prediction": abar.sqrt() * noise - (1 - abar).sqrt() * a0,
                  }[self.config.prediction]
        return noisy, t, target, self.alphas_cumprod[t]

    def predict(self, noisy: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
                ) -> torch.Tensor:
        return self.net(noisy, t, cond)

    @torch.no_grad()
    def sample(self, cond: torch.Tensor | None, batch: int,
               generator: torch.Generator | None = None, guide: Guide | None = None
               ) -> torch.Tensor:
        device = self.alphas_cumprod.device
        shape = (batch, self.config.chunk_length, self.config.action_dim)
        x = torch.randn(shape, generator=generator, device=device)
        scheduler = self.sample_scheduler
        scheduler.set_timesteps(self.config.inference_steps)
        stride = scheduler.config.num_train_timesteps // scheduler.num_inference_steps
        for t in scheduler.timesteps:
            out = self.net(x, t.expand(batch).to(device), cond)
            step = scheduler.step(out, t, x, generator=generator)
            x = step.prev_sample
            if guide is not None:  # DDIM: x_prev = sqrt(abar_prev) x0_hat + ..., so moving
                prev = int(t) - stride  # x0_hat by delta moves x_prev by sqrt(abar_prev) delta
                abar = (scheduler.alphas_cumprod[prev] if prev >= 0
                        else scheduler.final_alpha_cumprod)
                x = x + abar.to(x).sqrt() * guide(step.pred_original_sample)
        return x * self.action_mask.to(x.dtype)
