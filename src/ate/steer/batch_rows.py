"""The target robot's rows of a co-training batch.

Under co-training a batch mixes the target's chunks with another dataset's; Steer and the
latent terms read only the target's rows, since the target's encoder cannot read the others.
"""

from __future__ import annotations

import torch


def take_rows(rows: torch.Tensor, x: torch.Tensor | float | None) -> torch.Tensor | float | None:
    """``x[rows]`` for a per-row ``x`` of shape (B, ...); ``x`` itself when it is None, a float
    or a 0-d tensor (shared by every row, as a scalar diffusion time).

    Args:
        rows: (B,) bool, the rows to keep.
        x: (B, ...) tensor, a 0-d tensor, a float or None.

    A quantity whose first dim is not the batch's (a (U,) slot mask) is the caller's to skip.
    """
    if isinstance(x, torch.Tensor) and x.ndim > 0:
        return x[rows]
    return x
