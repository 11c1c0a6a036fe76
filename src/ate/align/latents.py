"""Encode every chunk of a dataset; the inputs of the prior and of the alignment report."""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler

from ate.align.vae import ActionVAE
from ate.data.chunks import ChunkDataset


def release_noise_levels(steps: int = 10) -> torch.Tensor:
    """alphas_cumprod of the release's 10-step squared-cosine DDPM schedule (diffusers)."""
    scheduler = DDPMScheduler(num_train_timesteps=steps, beta_schedule="squaredcos_cap_v2")
    return scheduler.alphas_cumprod.clone()


@torch.no_grad()
def encode_dataset(vae: ActionVAE, dataset: ChunkDataset, batch_size: int = 256,
                   noise_timesteps: tuple[int, ...] = (), seed: int = 0,
                   max_chunks: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior (mu, logvar), each (N, d), of the dataset's chunks, in eval mode.

    Args:
        vae: the encoder.
        dataset: chunks (its action tensor is fed as is).
        batch_size: chunks per forward pass.
        noise_timesteps: if given, each chunk is first noised to a timestep drawn from these
            of the 10-step squared-cosine schedule (the release's prior estimate uses 0, 1, 2).
        seed: seed of the noise and of the subsample.
        max_chunks: encode a seeded random subset of at most this many chunks.
    """
    vae.eval()
    device = next(vae.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    n = len(dataset)
    order = torch.randperm(n, generator=gen)[:max_chunks] if max_chunks and max_chunks < n \
        else torch.arange(n)
    abar = release_noise_levels()
    mus, logvars = [], []
    for start in range(0, len(order), batch_size):
        batch = dataset.__getitems__(order[start:start + batch_size].tolist())
        x = batch["action"]
        if noise_timesteps:
            t = torch.tensor(noise_timesteps)[torch.randint(len(noise_timesteps), (len(x),),
                                                            generator=gen)]
            a = abar[t].view(-1, 1, 1)
            noise = torch.randn(x.shape, generator=gen) * batch["action_mask"][:, None]
            x = a.sqrt() * x + (1 - a).sqrt() * noise
        mu, logvar = vae.encode(x.to(device), batch["step_mask"].to(device))
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    return torch.cat(mus), torch.cat(logvars)
