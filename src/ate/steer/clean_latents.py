"""``CleanLatentTable``: the stage-2 latents of a training set's clean chunks, encoded once.

Steer's g and the latent consistency term both compare an encoding against E(a0), the latent
of the batch's clean demo chunk. The demo chunks never change between epochs, so their
posterior means and log-variances can be computed once per dataset and looked up by window
index (the ``index`` of a ``ChunkDataset`` batch): each training step then encodes only what
depends on the noise or the network. The table is built in fixed batches before training, so
a resumed run looks up exactly the values an uninterrupted one does.

A row's checksum (the float64 sum of its chunk over the real steps) is compared on the first
``CHECKED_LOOKUPS`` lookups (later ones skip it: it would synchronise a GPU every step), so a
table used with another dataset's batches fails loudly instead of steering toward the wrong
demos.
"""

from __future__ import annotations

import logging

import torch

from ate.data.chunks import ChunkDataset, MixedChunkDataset
from ate.steer.chunk_encoder import PolicyChunkEncoder

log = logging.getLogger(__name__)

# Above this many chunks the table is not built (2 x 4 bytes x latent dim per chunk in
# memory; at d = 64, 250k chunks are 128 MB) and the latents are encoded per step instead.
TABLE_LIMIT = 250_000
BUILD_BATCH = 1024
CHECKED_LOOKUPS = 8


class CleanLatentTable:
    """(N, d) posterior means and log-variances of a dataset's N windows, by window index.

    Args:
        mu / logvar: (N, d) E(a0) of every window, in window order.
        checksum: (N,) float64 sums of each window's chunk over its real steps.
    """

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor, checksum: torch.Tensor) -> None:
        self.mu, self.logvar, self.checksum = mu, logvar, checksum
        self.checked = 0

    @classmethod
    @torch.no_grad()
    def build(cls, view: PolicyChunkEncoder, dataset: ChunkDataset | MixedChunkDataset
              ) -> CleanLatentTable | None:
        """Encode every window of ``dataset`` (policy units) with ``view``; None when it has
        more than ``TABLE_LIMIT`` windows (then encode per step)."""
        if len(dataset) > TABLE_LIMIT:
            log.info("%d training chunks: their latents are encoded per step (a table is "
                     "kept up to %d)", len(dataset), TABLE_LIMIT)
            return None
        param = next(view.encoder.parameters())
        mus, logvars, sums = [], [], []
        for start in range(0, len(dataset), BUILD_BATCH):
            batch = dataset.__getitems__(list(range(start, min(start + BUILD_BATCH,
                                                               len(dataset)))))
            steps = batch.get("step_mask")
            mu, logvar = view(batch["action"].to(param.device, param.dtype),
                              None if steps is None else steps.to(param.device))
            mus.append(mu)
            logvars.append(logvar)
            sums.append(chunk_checksum(batch["action"], steps))
        return cls(torch.cat(mus), torch.cat(logvars), torch.cat(sums))

    def __len__(self) -> int:
        return len(self.mu)

    def to(self, device: str | torch.device) -> CleanLatentTable:
        """Move the latents (in place; the checksums stay on the CPU) and return self."""
        self.mu, self.logvar = self.mu.to(device), self.logvar.to(device)
        return self

    def lookup(self, index: torch.Tensor, clean: torch.Tensor,
               steps: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each (B, d), of windows ``index`` (B,), whose chunks ``clean``
        (B, H, U) must be the ones the table was built from (checked by checksum)."""
        if self.checked < CHECKED_LOOKUPS:
            self._check(index, clean, steps)
            self.checked += 1
        index = index.to(self.mu.device)
        return self.mu[index], self.logvar[index]

    def _check(self, index: torch.Tensor, clean: torch.Tensor, steps: torch.Tensor | None
               ) -> None:
        index = index.long().cpu()
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= len(self)):
            raise ValueError(f"window index out of range for a table of {len(self)} chunks")
        got, want = chunk_checksum(clean, steps), self.checksum[index]
        if not torch.allclose(got, want, rtol=1e-5, atol=1e-4 * clean[0].numel()):
            raise ValueError("these chunks are not the ones this clean-latent table was built "
                             "from (another dataset's batches?); build it from the training "
                             "set whose batches it serves.")


def chunk_checksum(clean: torch.Tensor, steps: torch.Tensor | None) -> torch.Tensor:
    """(B,) float64 sums of each chunk (B, H, U) over its real steps (CPU)."""
    x = clean.detach().double().cpu()
    if steps is not None:
        x = x * steps.detach().cpu()[..., None]
    return x.sum((1, 2))
