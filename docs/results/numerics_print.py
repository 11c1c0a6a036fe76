"""Does this machine compute what another did? A fingerprint of a short, seeded training of
the benches' U-Net (``ConditionalUnet1D``, AdamW, 10 steps on seeded random chunks, the
thread counts the bench uses), to compare across machines before trusting kept job records
(docs/results/job_records.sh): a bench resumes from another machine's records only when
this machine rebuilds the same pre-trained weights, and it cannot do that if the two
machines' kernels round differently.

    ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 \
        python docs/results/numerics_print.py      # the pins docs/results/queue.sh sets

prints the kernels torch found, the pins in force and one 16-hex-digit hash per thread count;
equal hashes on two machines mean the same arithmetic on this network, not a proof for every
op a bench uses.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ate.bench.cache import kernels
from ate.policies.unet1d import ConditionalUnet1D


def training_print(threads: int, steps: int = 10) -> str:
    """SHA-256 (16 hex digits) of the weights after ``steps`` AdamW steps of an x0 regression
    on chunks (64, 16, 4) with a 32-d condition, run on ``threads`` threads."""
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = ConditionalUnet1D(action_dim=4, cond_dim=32, down_dims=(64, 128, 256))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    for _ in range(steps):
        x = torch.randn(64, 16, 4, generator=gen)
        t = torch.randint(0, 100, (64,), generator=gen)
        cond = torch.randn(64, 32, generator=gen)
        loss = (net(x + 0.5 * torch.randn(x.shape, generator=gen), t, cond) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    digest = hashlib.sha256()
    for tensor in net.state_dict().values():
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def cpu() -> str:
    """The CPU as /proc/cpuinfo names it (model name, family, model and its widest vector
    extensions), to tell apart machine kinds whose hashes differ; "unknown" elsewhere."""
    info = Path("/proc/cpuinfo")
    if not info.exists():
        return "unknown"
    fields: dict[str, str] = {}
    for line in info.read_text().splitlines():
        if not line.strip():
            break  # the first processor describes them all
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    wide = [f for f in ("avx2", "avx512f", "avx512_fp16", "amx_tile") if f in flags]
    return (
        f"{fields.get('model name', '?')}, family {fields.get('cpu family', '?')} "
        f"model {fields.get('model', '?')}, {' '.join(wide) or 'no avx2'}"
    )


def main() -> None:
    print(f"cpu {cpu()}")
    print(f"kernels {kernels()}")
    for threads in (1, 2):
        print(f"threads {threads}: {training_print(threads)}")


if __name__ == "__main__":
    main()
