"""`act` latency of a policy fine-tuned with guidance vs one fine-tuned without: the guidance
lives in the loss only, so the two must act equally fast (ratio ~1.0). Also the cost of the
optional sampling-time latent guidance (``LatentSamplingGuidance``: an encoder forward and
backward per denoising step), which does change inference.

Both policies are built, trained for a few steps (one with LatentGuidance), saved, reloaded
from disk and timed side by side, interleaved, in one process; the direct-trained one is
timed a third way, acting with sampling-time guidance (the CPU-preset VAE, a bank of 256
target latents).

    python benchmarks/inference_latency.py [--kind diffusion|flow] [--calls 20] [--batch 1]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ate.align.vae import ActionVAE, VAEConfig
from ate.data import EmbodimentSlots, Normalizer
from ate.policies import DiffusionPolicy, FlowPolicy, GenerativePolicy, PolicyConfig
from ate.steer import GuidanceConfig, LatentGuidance
from ate.steer.chunk_encoder import PolicyChunkEncoder
from ate.steer.sampling_guidance import LatentSamplingGuidance


def trained(kind: str, guidance: LatentGuidance | None, folder: Path) -> GenerativePolicy:
    torch.manual_seed(0)
    cfg = PolicyConfig(kind=kind, action_dim=14, chunk_length=16, obs_dim=20, obs_horizon=2,
                       num_tasks=5, inference_steps=10)
    slots = EmbodimentSlots.identity(14)
    cls = DiffusionPolicy if kind == "diffusion" else FlowPolicy
    rng = np.random.default_rng(0)
    policy = cls(cfg, slots, Normalizer.fit(rng.normal(size=(100, 14))),
                 Normalizer.fit(rng.normal(size=(100, 20))))
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    for _ in range(3):
        batch = {"action": torch.randn(16, 16, 14), "obs": torch.randn(16, 2, 20),
                 "task": torch.randint(0, 5, (16,))}
        loss = policy.compute_loss(batch, guidance)
        opt.zero_grad()
        loss.backward()
        opt.step()
    policy.save_pretrained(folder)
    return GenerativePolicy.from_pretrained(folder)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=["diffusion", "flow"], default="diffusion")
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--batch", type=int, default=1)
    args = p.parse_args()
    encoder = ActionVAE(VAEConfig(action_dim=14, max_chunk_length=16, latent_dim=32,
                                  hidden_dim=64, num_layers=3, num_heads=4, ff_dim=128))
    guide = LatentGuidance(encoder, GuidanceConfig(lam=2.0, clamp=0.1))
    with tempfile.TemporaryDirectory() as tmp:
        policies = {"direct": trained(args.kind, None, Path(tmp) / "direct"),
                    "guided": trained(args.kind, guide, Path(tmp) / "guided")}
    obs, task = torch.randn(args.batch, 2, 20), torch.zeros(args.batch, dtype=torch.long)
    steer = LatentSamplingGuidance.from_chunks(PolicyChunkEncoder(encoder),
                                               torch.randn(256, 16, 14))
    runs = {"direct": (policies["direct"], None), "guided": (policies["guided"], None),
            "sampling": (policies["direct"], steer)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(2):
        for policy, guide in runs.values():
            policy.act(obs, task, guide=guide)
    for _ in range(args.calls):  # interleaved, so drift hits all alike
        for name, (policy, guide) in runs.items():
            tic = time.perf_counter()
            policy.act(obs, task, guide=guide)
            times[name].append(time.perf_counter() - tic)
    med = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    print(f"# act latency, {args.kind} policy, batch {args.batch}, "
          f"{policies['direct'].config.inference_steps} sampling steps, median of "
          f"{args.calls}; torch {torch.__version__}, python {platform.python_version()}")
    print(f"direct-trained {med['direct']:.2f} ms, guidance-trained {med['guided']:.2f} ms, "
          f"ratio {med['guided'] / med['direct']:.3f}")
    print(f"direct-trained with sampling-time latent guidance {med['sampling']:.2f} ms, "
          f"ratio {med['sampling'] / med['direct']:.3f}")


if __name__ == "__main__":
    main()
