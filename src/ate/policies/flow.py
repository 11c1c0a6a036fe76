"""A flow-matching policy in the style of pi0's action expert.

pi0's convention: x_t = t * noise + (1 - t) * actions, t = 1 at noise, t drawn from a
Beta(1.5, 1) law (most mass near the noise end), the network regresses u = noise - actions,
and acting integrates dx/dt = u with Euler steps from t = 1 to t = 0. The network is a small
transformer over the H action tokens plus one condition token (observation history, task
embedding); the time embedding is added to every token.
"""

from __future__ import annotations

import torch
from torch import nn

from ate.data.normalizer import Normalizer
from ate.data.slots import EmbodimentSlots
from ate.policies.config import PolicyConfig
from ate.policies.policy import GenerativePolicy, Guide
from ate.policies.unet1d import SinusoidalEmbedding


class FlowPolicy(GenerativePolicy):
    """Velocity network for the ``flow_pi0`` family."""

    family = "flow_pi0"

    def __init__(self, config: PolicyConfig, slots: EmbodimentSlots,
                 normalizer: Normalizer | None = None,
                 obs_normalizer: Normalizer | None = None) -> None:
        super().__init__(config, slots, normalizer, obs_normalizer)
        w = config.width
        self.action_in = nn.Linear(config.action_dim, w)
        self.positions = nn.Parameter(torch.randn(config.chunk_length + 1, w) * 0.02)
        self.time = nn.Sequential(SinusoidalEmbedding(w), nn.Linear(w, w), nn.SiLU(),
                                  nn.Linear(w, w))
        self.cond_in = nn.Linear(self.cond.cond_dim, w) if self.cond.cond_dim else None
        layer = nn.TransformerEncoderLayer(w, config.heads, 4 * w, dropout=0.0,
                                           activation="gelu", batch_first=True,
                                           norm_first=True)
        self.body = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.action_out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, config.action_dim))

    def corrupt(self, a0: torch.Tensor, generator: torch.Generator | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # torch's Beta sampler takes no generator: times follow the global RNG (trainers
        # seed it per step), the noise follows ``generator``
        beta = torch.distributions.Beta(*(torch.tensor(v, device=a0.device)
                                          for v in self.config.time_beta))
        t = beta.sample((len(a0),)) * 0.999 + 0.001
        noise = torch.randn(a0.shape, generator=generator, device=a0.device) \
            * self.action_mask.to(a0.dtype)
        x_t = t.view(-1, 1, 1) * noise + (1 - t.view(-1, 1, 1)) * a0
        return x_t, t, noise - a0, t

    def predict(self, noisy: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
                ) -> torch.Tensor:
        tokens = self.action_in(noisy)
        first = (self.cond_in(cond) if self.cond_in is not None
                 else tokens.new_zeros(len(tokens), tokens.shape[-1]))
        x = torch.cat([first[:, None], tokens], dim=1) + self.positions[:tokens.shape[1] + 1]
        x = x + self.time(t * 1000.0)[:, None]
        return self.action_out(self.body(x)[:, 1:])

    @torch.no_grad()
    def sample(self, cond: torch.Tensor | None, batch: int,
               generator: torch.Generator | None = None, guide: Guide | None = None
               ) -> torch.Tensor:
        device = self.positions.device
        shape = (batch, self.config.chunk_length, self.config.action_dim)
        x = torch.randn(shape, generator=generator, device=device)
        steps = self.config.inference_steps
        for i in range(steps):
            t_now = 1.0 - i / steps
            t = torch.full((batch,), t_now, device=device)
            u = self.predict(x, t, cond)
            delta = None if guide is None else guide(x - t_now * u)
            x = x - (1.0 / steps) * u
            if delta is not None:  # where a sample with the moved clean estimate would be
                x = x + (1.0 - (t_now - 1.0 / steps)) * delta
        return x * self.action_mask.to(x.dtype)
