"""What guidance costs per training step, side by side in one run.

A reference denoiser (Diffusion Policy's 1-D conv U-Net, ~16.6M parameters) trains on
chunks of 16 x 14, batch 64; per step we time:
  plain      the plain epsilon loss (forward, backward, AdamW step)
  ours       + LatentGuidance: E(a0) without autograd, E(a_k) forward + backward, means
  batched    + LatentGuidance(batched=True): one forward over [a_k ; a0], backward over 2B
  cached     + LatentGuidance with E(a0) computed once per dataset (clean_latents=)
  floor      + one encoder forward + backward on the noisy chunk only (the physical floor)
  release    + the release's way: two encoder calls with graphs, sampled latents,
             anomaly detection on in the hot path
  latent     + the latent consistency term (beyond the paper): E(a0) without autograd, E of
             the implied clean chunk with the backward reaching the U-Net
  lat-cache  + the same term with E(a0) looked up in a CleanLatentTable (what
             `ate finetune` does)
for the CPU-preset VAE and the release-size VAE (512 latent, 9 layers, ff 1024).

    python benchmarks/guidance_overhead.py [--steps 10] [--batch 64]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from ate.align.vae import ActionVAE, VAEConfig
from ate.policies import ConditionalUnet1D
from ate.steer import GuidanceConfig, LatentGuidance, guided_loss
from ate.steer.chunk_encoder import PolicyChunkEncoder
from ate.steer.clean_latents import CleanLatentTable, chunk_checksum
from ate.steer.latent_loss import LatentLoss, LatentLossConfig

PRESETS = {
    "cpu": dict(latent_dim=32, hidden_dim=64, num_layers=3, num_heads=4, ff_dim=128),
    "release": dict(latent_dim=512, num_layers=9, num_heads=4, ff_dim=1024),
}


def release_guidance(encoder: ActionVAE, noisy: torch.Tensor, clean: torch.Tensor
                     ) -> torch.Tensor:
    """The release's way: both latents through autograd, sampled, anomaly detection on."""
    with torch.autograd.set_detect_anomaly(True):
        x = noisy.detach().requires_grad_(True)
        mu_hat, logvar_hat = encoder.encode(x)
        mu, logvar = encoder.encode(clean)
        eps = torch.randn_like(mu)
        z_hat = mu_hat + (0.5 * logvar_hat).exp() * eps
        z = mu + (0.5 * logvar).exp() * eps
        distance = torch.nn.functional.mse_loss(z_hat, z)
        (grad,) = torch.autograd.grad(distance, x)
    return -grad


def floor_cost(encoder: ActionVAE, noisy: torch.Tensor) -> torch.Tensor:
    x = noisy.detach().requires_grad_(True)
    mu, _ = encoder.encode(x)
    (grad,) = torch.autograd.grad(mu.pow(2).sum(), x)
    return grad


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    torch.manual_seed(0)
    h, d, b = 16, 14, args.batch
    unet = ConditionalUnet1D(d)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    abar = torch.linspace(0.999, 0.01, 100)
    print(f"# guidance overhead: U-Net {sum(q.numel() for q in unet.parameters()) / 1e6:.1f}M "
          f"params, chunks {h}x{d}, batch {b}, median of {args.steps} steps; torch "
          f"{torch.__version__}, python {platform.python_version()}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'VAE':8} {'plain':>7} {'ours':>7} {'batched':>8} {'cached':>7} {'floor':>7} "
          f"{'release':>8} {'latent':>7} {'lat-cache':>9}   added ms: {'ours':>6} {'cached':>7} "
          f"{'floor':>6} {'release':>8} {'latent':>7} {'lat-cache':>9}   release/ours  "
          "release/cached")
    for name, arch in PRESETS.items():
        encoder = ActionVAE(VAEConfig(action_dim=d, max_chunk_length=h, **arch))
        guide = LatentGuidance(encoder, GuidanceConfig(lam=2.0, clamp=0.1))
        batched = LatentGuidance(encoder, GuidanceConfig(lam=2.0, clamp=0.1, batched=True))
        latent = LatentLoss(PolicyChunkEncoder(encoder),
                            LatentLossConfig(kind="consistency", beta=1.0))

        def step(mode: str, guide: LatentGuidance = guide,
                 batched: LatentGuidance = batched, latent: LatentLoss = latent) -> float:
            a0, noise = torch.randn(b, h, d), torch.randn(b, h, d)
            t = torch.randint(0, 100, (b,))
            noisy = abar[t].sqrt().view(-1, 1, 1) * a0 + (1 - abar[t]).sqrt().view(-1, 1, 1) \
                * noise
            cache = guide.clean_latents(a0)  # once per dataset in practice: not timed
            latent.table = CleanLatentTable(*cache, chunk_checksum(a0, None))
            index = torch.arange(b) if mode == "lat-cache" else None
            tic = time.perf_counter()
            g = torch.zeros_like(a0)
            if mode == "ours":
                g = guide(noisy, a0)
            elif mode == "batched":
                g = batched(noisy, a0)
            elif mode == "cached":
                g = guide(noisy, clean_latents=cache)
            elif mode == "floor":
                floor_cost(guide.encoder, noisy)
            elif mode == "release":
                g = release_guidance(guide.encoder, noisy, a0)
            pred = unet(noisy, t)
            unguided = mode in ("plain", "floor", "latent", "lat-cache")
            loss = guided_loss("epsilon", pred, noise, g, abar[t], lam=0.0 if unguided else 2.0)
            if mode in ("latent", "lat-cache"):
                loss = loss + latent("epsilon", pred, noisy, a0, abar[t], index=index)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return time.perf_counter() - tic

        times = {}
        for mode in ("plain", "ours", "batched", "cached", "floor", "release", "latent",
                     "lat-cache"):
            for _ in range(2):
                step(mode)
            times[mode] = 1e3 * float(np.median([step(mode) for _ in range(args.steps)]))
        added = {m: times[m] - times["plain"]
                 for m in ("ours", "cached", "floor", "release", "latent", "lat-cache")}

        def ratio(num: float, den: float, plain: float = times["plain"]) -> str:
            return f"{num / den:.2f}x" if den > 0.05 * plain else "(noise)"

        print(f"{name:8} {times['plain']:7.0f} {times['ours']:7.0f} {times['batched']:8.0f} "
              f"{times['cached']:7.0f} {times['floor']:7.0f} {times['release']:8.0f} "
              f"{times['latent']:7.0f} {times['lat-cache']:9.0f}             "
              f"{added['ours']:6.0f} {added['cached']:7.0f} {added['floor']:6.0f} "
              f"{added['release']:8.0f} {added['latent']:7.0f} {added['lat-cache']:9.0f}   "
              f"{ratio(added['release'], added['ours']):>12}  "
              f"{ratio(added['release'], added['cached']):>14}")
    print("\nall times ms per training step (median). 'added' = minus the plain step; floor = "
          "one encoder forward+backward on the noisy chunk. '(noise)' = the added cost is under "
          "5% of the plain step, below this machine's step-to-step spread.")


if __name__ == "__main__":
    main()
