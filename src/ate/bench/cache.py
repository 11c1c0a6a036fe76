"""Pre-training cached across benches: a folder per hash of what the stage depends on
(config and demo contents), with what building it cost."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import time
from dataclasses import asdict
from pathlib import Path

from ate.align.config import PriorConfig
from ate.bench.config import SuiteConfig
from ate.bench.demos import files_print, fingerprint

log = logging.getLogger(__name__)


def peak_mb(children: bool = False) -> float:
    """Peak resident set size of this process (or of its finished children), MB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def cache_key(payload: dict) -> str:
    """16 hex digits of the SHA-256 of a payload's sorted JSON."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def weights_print(run: dict) -> str:
    """16 hex digits of a SHA-256 over the weights a fine-tuning config starts from or is
    steered by (its ``init_from``, ``guidance_from`` and ``latent_loss_from`` folders'
    ``*.safetensors``). A bench is not reproduced from one machine to another (the same config
    rebuilt other weights), so two jobs pair only when they share these files, not just their
    config."""
    digest = hashlib.sha256()
    for key in ("init_from", "guidance_from", "latent_loss_from"):
        if source := run.get(key):
            folder = Path(source)
            digest.update(f"{key}:{files_print(folder, folder.rglob('*.safetensors'))}".encode())
    return digest.hexdigest()[:16]


# what makes torch, MKL and oneDNN choose their kernels other than by the CPU found
KERNEL_PINS = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")


def kernels() -> str:
    """The CPU kernels torch dispatches to and the pins in force, e.g. ``"AVX2
    (ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2)"`` or ``"AVX512
    (unpinned)"``: machines on other kernels round differently, so one config rebuilds other
    weights on them (``weights_print`` then differs)."""
    import torch

    pins = " ".join(f"{k}={os.environ[k]}" for k in KERNEL_PINS if k in os.environ)
    return f"{torch.backends.cpu.get_cpu_capability()} ({pins or 'unpinned'})"


def cached(cache: Path, kind: str, payload: dict, build) -> Path:
    """``cache/<kind>-<hash of payload>``, built by ``build(folder)`` unless done before."""
    folder = cache / f"{kind}-{cache_key(payload)}"
    if (folder / "done.json").exists():
        log.info("cached %s reused: %s", kind, folder)
        return folder
    start = time.perf_counter()
    build(folder)  # resumes from the folder's last checkpoint when a build was interrupted
    cost = {"seconds": time.perf_counter() - start,
            "peak_mb": max(peak_mb(), peak_mb(children=True))}
    (folder / "cost.json").write_text(json.dumps(cost, indent=2))
    (folder / "done.json").write_text(json.dumps(payload, indent=2))
    return folder


# PolicyConfig fields added after policies were cached: left out of the cache key while at
# these defaults (the behaviour before them), so those caches stay valid
POLICY_ADDED = {"task_text_dim": 0}


def pretrain_payload(config: SuiteConfig, data: Path) -> dict:
    """What the pre-trained policy depends on."""
    policy = {k: v for k, v in asdict(config.policy).items()
              if not (k in POLICY_ADDED and v == POLICY_ADDED[k])}
    return {"data": fingerprint(data), "policy": policy,
            "steps": config.pretrain_steps, "batch": config.batch_size, "lr": config.lr,
            "h": config.chunk_length, "obs": config.obs_horizon}


def vae_payload(config: SuiteConfig, data: Path) -> dict:
    """What the stage-1 VAE and its prior depend on."""
    payload = {"data": fingerprint(data), "model": asdict(config.vae),
               "steps": config.vae_pretrain_steps, "h": config.chunk_length}
    if config.prior != PriorConfig():  # keys only when set: older caches stay valid
        payload["prior"] = asdict(config.prior)
    return payload
