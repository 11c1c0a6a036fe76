"""The action-chunk VAE of the authors' release (Motion Latent Diffusion's transformer VAE).

Encoder: [2 learned distribution tokens ; linear embedding of each action] + learned
positions -> transformer encoder with long skips between its first and second half; the
outputs at the two distribution tokens are mu and log-variance of a (1, latent_dim)
Gaussian. Decoder: queries are learned positions of the H output steps, cross-attending to
z, through a skip-connected transformer decoder, then a linear head to D.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors.torch import save_file
from torch import nn

from ate.align.config import ModelConfig
from ate.checkpoint import read_json, read_tensors
from ate.errors import ConfigError


@dataclass
class VAEConfig(ModelConfig):
    """A concrete ``ActionVAE``: the architecture (``ModelConfig``) plus the data's sizes.

    Attributes:
        action_dim: D (or U for a unified vector), per-step input and output size.
        max_chunk_length: longest chunk H the positional tables hold (> 0 here).
    """

    action_dim: int = field(kw_only=True)

    def __post_init__(self) -> None:
        if self.num_layers < 1 or self.num_layers % 2 == 0:
            raise ConfigError(f"vae.num_layers must be odd (skips pair the first and second "
                              f"half around a middle layer), got {self.num_layers}.")
        if self.width % self.num_heads:
            raise ConfigError(f"vae width {self.width} is not divisible by num_heads "
                              f"{self.num_heads}.")
        for name in ("action_dim", "max_chunk_length", "latent_dim", "ff_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"vae.{name} must be positive, got {getattr(self, name)}.")

    @property
    def width(self) -> int:
        """The transformer's model dimension."""
        return self.hidden_dim or self.latent_dim


class VAEOutput(NamedTuple):
    """``recon`` (B, H, D); ``mu``, ``logvar``, ``z`` (B, latent_dim)."""

    recon: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor


class SkipStack(nn.Module):
    """Odd number of layers; the outputs of the first half feed the second half, mirrored,
    through a linear merge of [x ; skip] (MLD's SkipTransformerEncoder/Decoder)."""

    def __init__(self, make_layer: Callable[[], nn.Module], num_layers: int, width: int) -> None:
        super().__init__()
        half = (num_layers - 1) // 2
        self.down = nn.ModuleList(make_layer() for _ in range(half))
        self.middle = make_layer()
        self.up = nn.ModuleList(make_layer() for _ in range(half))
        self.merge = nn.ModuleList(nn.Linear(2 * width, width) for _ in range(half))
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, run: Callable[[nn.Module, torch.Tensor], torch.Tensor]
                ) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = run(layer, x)
            skips.append(x)
        x = run(self.middle, x)
        for layer, merge in zip(self.up, self.merge, strict=True):
            x = run(layer, merge(torch.cat([x, skips.pop()], dim=-1)))
        return self.norm(x)


class ActionVAE(nn.Module):
    """Transformer VAE over action chunks (see the module docstring).

    ``encode`` is deterministic and differentiable with respect to its input, so a frozen
    encoder can sit inside another model's training step (the Steer guidance).
    """

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        w, d = config.width, config.latent_dim

        def encoder_layer() -> nn.Module:
            return nn.TransformerEncoderLayer(w, config.num_heads, config.ff_dim,
                                              config.dropout, config.activation,
                                              batch_first=True)

        def decoder_layer() -> nn.Module:
            return nn.TransformerDecoderLayer(w, config.num_heads, config.ff_dim,
                                              config.dropout, config.activation,
                                              batch_first=True)

        self.input_proj = nn.Linear(config.action_dim, w)
        self.dist_tokens = nn.Parameter(torch.randn(2, w) * 0.02)
        self.encoder_pos = nn.Parameter(torch.randn(config.max_chunk_length + 2, w) * 0.02)
        self.encoder = SkipStack(encoder_layer, config.num_layers, w)
        self.to_mu = nn.Linear(w, d) if w != d else nn.Identity()
        self.to_logvar = nn.Linear(w, d) if w != d else nn.Identity()
        self.latent_proj = nn.Linear(d, w) if w != d else nn.Identity()
        self.decoder_pos = nn.Parameter(torch.randn(config.max_chunk_length, w) * 0.02)
        self.decoder = SkipStack(decoder_layer, config.num_layers, w)
        self.output_proj = nn.Linear(w, config.action_dim)

    def encode(self, chunks: torch.Tensor, step_mask: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior of chunks.

        Args:
            chunks: (B, H, D) normalised actions, H <= max_chunk_length.
            step_mask: (B, H) bool, True at real steps (padded steps are not attended).

        Returns:
            ``(mu, logvar)``, each (B, latent_dim).
        """
        b, h, _ = self._check(chunks)
        x = self.input_proj(chunks)
        x = torch.cat([self.dist_tokens.expand(b, -1, -1), x], dim=1) + self.encoder_pos[:h + 2]
        pad = None
        if step_mask is not None:
            pad = torch.cat([step_mask.new_ones(b, 2), step_mask], dim=1).logical_not()
        out = self.encoder(x, lambda layer, t: layer(t, src_key_padding_mask=pad))
        return self.to_mu(out[:, 0]), self.to_logvar(out[:, 1]).clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor, length: int) -> torch.Tensor:
        """Chunks of ``length`` steps from latents z (B, latent_dim); returns (B, length, D)."""
        if length > self.config.max_chunk_length:
            raise ConfigError(f"cannot decode {length} steps: this VAE's max_chunk_length is "
                              f"{self.config.max_chunk_length}.")
        memory = self.latent_proj(z)[:, None]
        queries = self.decoder_pos[:length].expand(len(z), -1, -1)
        out = self.decoder(queries, lambda layer, t: layer(t, memory))
        return self.output_proj(out)

    def forward(self, chunks: torch.Tensor, step_mask: torch.Tensor | None = None,
                sample: bool = True, generator: torch.Generator | None = None) -> VAEOutput:
        """Encode, draw z (reparameterised; the mean when ``sample`` is False), decode."""
        mu, logvar = self.encode(chunks, step_mask)
        z = mu
        if sample:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + torch.exp(0.5 * logvar) * eps
        return VAEOutput(self.decode(z, chunks.shape[1]), mu, logvar, z)

    def _check(self, chunks: torch.Tensor) -> tuple[int, int, int]:
        if chunks.ndim != 3 or chunks.shape[-1] != self.config.action_dim:
            raise ConfigError(f"ActionVAE expects (B, H, {self.config.action_dim}) chunks, got "
                              f"{tuple(chunks.shape)}.")
        if chunks.shape[1] > self.config.max_chunk_length:
            raise ConfigError(f"chunk of {chunks.shape[1]} steps exceeds this VAE's "
                              f"max_chunk_length {self.config.max_chunk_length}.")
        return chunks.shape  # type: ignore[return-value]

    def save_pretrained(self, folder: str | Path, extra: dict[str, object] | None = None
                        ) -> None:
        """Write ``config.json`` (the ``vae`` section plus ``extra``) and
        ``model.safetensors`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"vae": asdict(self.config), **(extra or {})}
        (folder / "config.json").write_text(json.dumps(meta, indent=2))
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(state, folder / "model.safetensors")

    @classmethod
    def from_pretrained(cls, folder: str | Path, map_location: str = "cpu") -> ActionVAE:
        """Load a folder written by ``save_pretrained`` (safetensors; no pickle)."""
        folder = Path(folder)
        config = load_vae_config(folder)
        model = cls(config)
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise ConfigError(f"{folder}: no model.safetensors beside config.json.")
        state = read_tensors(weights, map_location)
        expected = model.state_dict()
        wrong = sorted(k for k in state.keys() & expected.keys()
                       if state[k].shape != expected[k].shape)
        missing, unexpected = expected.keys() - state.keys(), state.keys() - expected.keys()
        if wrong or missing or unexpected:
            detail = (f"{wrong[0]} is {tuple(state[wrong[0]].shape)} in the file but "
                      f"{tuple(expected[wrong[0]].shape)} in config.json's architecture"
                      if wrong else f"missing {sorted(missing)[:3]}, unexpected "
                                    f"{sorted(unexpected)[:3]}")
            raise ConfigError(f"{weights}: weights do not fit config.json ({detail}). The "
                              "folder mixes files of two different models.")
        model.load_state_dict(state)
        return model


def load_vae_config(folder: Path) -> VAEConfig:
    """The ``vae`` section of a checkpoint's ``config.json``."""
    path = folder / "config.json"
    if not path.is_file():
        raise ConfigError(f"{folder}: no config.json; is this an ate VAE checkpoint folder "
                          "(it holds config.json and model.safetensors)?")
    data = read_json(path)
    if "vae" not in data:
        raise ConfigError(f"{path}: no 'vae' section; this checkpoint is not an ActionVAE.")
    try:
        return VAEConfig(**data["vae"])
    except TypeError as exc:
        raise ConfigError(f"{path}: 'vae' section does not fit VAEConfig ({exc}).") from exc
