"""Does the pre-training VAE cover the target's chunks?

A second reading of "the target sits on the pre-training action manifold", one that does not
go through q_phi's density (which, on the Meta-World bench's Aligns, found uniform noise as
likely as demos; docs/results.md): pass the target's chunks through the stage-1 VAE, which
saw only pre-training actions, and compare its reconstruction error with that on held-out
pre-training chunks. About the same error: the target's chunks are of a kind pre-training
covered. Much larger: they are not (the paper's stated failure case), and stage 2 can only
map them onto pre-training chunks they are not. That reads the VAE, not the policy, whose
pre-training can transfer all the same. The same error on chunks no robot would execute
(the report's negative controls) shows whether this VAE tells motions apart at all.

Errors are RMS in the VAE's normalised units (each dataset normalised on its own train split,
as the VAEs were trained), over real steps and real action dims.
"""

from __future__ import annotations

import torch

from ate.align.vae import ActionVAE
from ate.data.chunks import Batch

# target / pre-training error above this: the target lies outside what pre-training covered
UNCOVERED_RATIO = 1.5
# control / target error below this: the VAE reconstructs non-motions about as well
CONTROL_RATIO = 1.25
SAMPLE_CHUNKS = 2048


@torch.no_grad()
def reconstruction_rms(vae: ActionVAE, chunks: torch.Tensor,
                       step_mask: torch.Tensor | None = None,
                       action_mask: torch.Tensor | None = None, batch_size: int = 256) -> float:
    """RMS of ``decode(mu(x)) - x`` over real steps and dims, in normalised units.

    Args:
        vae: the VAE (its posterior mean is decoded: no sampling).
        chunks: (N, H, U) normalised actions in the VAE's unified slots.
        step_mask: (N, H) bool, True at real steps (default: all).
        action_mask: (N, U) or (U,) bool, True at real slots (default: all).
    """
    vae.eval()
    n, h, u = chunks.shape
    steps = torch.ones(n, h, dtype=torch.bool) if step_mask is None else step_mask.bool()
    dims = torch.ones(u, dtype=torch.bool) if action_mask is None else action_mask.bool()
    weight = (steps[:, :, None] & dims.expand(n, u)[:, None, :]).double()
    total = 0.0
    for i in range(0, n, batch_size):
        x = chunks[i:i + batch_size]
        mask = steps[i:i + batch_size]
        mu, _ = vae.encode(x, mask)
        err = (vae.decode(mu, h) - x).double().pow(2)
        total += float((err * weight[i:i + batch_size]).sum())
    return (total / max(float(weight.sum()), 1.0)) ** 0.5


def coverage(stage1: ActionVAE, target: Batch, controls: dict[str, torch.Tensor],
             pretraining: Batch | None = None) -> dict[str, float | None]:
    """Stage-1 reconstruction RMS of pre-training, target and control chunks.

    Args:
        stage1: the pre-training VAE.
        target: a batch of target chunks (``action`` (N, H, U), ``step_mask``, ``action_mask``).
        controls: name -> (M, H, U) control chunks made from the target (every step real, the
            target's real dims).
        pretraining: a batch of held-out pre-training chunks; None when not on disk.

    Returns:
        ``pre-training``, ``target`` and one ``control: <name>`` key per control (RMS, or
        None), and ``ratio``: target / pre-training (None without pre-training).
    """
    real = target["action_mask"][0]
    out: dict[str, float | None] = {
        "pre-training": None if pretraining is None else reconstruction_rms(
            stage1, pretraining["action"], pretraining["step_mask"], pretraining["action_mask"]),
        "target": reconstruction_rms(stage1, target["action"], target["step_mask"],
                                     target["action_mask"]),
    }
    out.update({f"control: {k}": reconstruction_rms(stage1, x, action_mask=real)
                for k, x in controls.items()})
    out["ratio"] = None if out["pre-training"] is None else out["target"] / out["pre-training"]
    return out


def coverage_warnings(cov: dict[str, float | None]) -> list[str]:
    """Human warnings from ``coverage``'s numbers (empty when nothing is off): the target
    uncovered, or else a control reconstructed about as well as the target."""
    target = cov["target"]
    if cov.get("ratio") is not None and cov["ratio"] > UNCOVERED_RATIO:
        return [
            f"the pre-training VAE reconstructs the target's chunks {cov['ratio']:.1f}x worse "
            f"than held-out pre-training chunks (RMS {target:.3f} against "
            f"{cov['pre-training']:.3f}, normalised units): the target's chunks are unlike "
            "the pre-training chunks this VAE learned (the paper's stated failure case), so "
            "stage 2 maps them onto pre-training chunks they are not. Expect little from "
            "Steer. This is no verdict on pre-training the policy, which can transfer all "
            "the same: compare scratch with direct fine-tuning for that."]
    # only a "covered" verdict needs the controls' backing: non-motions must not be covered
    warnings = []
    for key, value in cov.items():
        if key.startswith("control: ") and value is not None and value < CONTROL_RATIO * target:
            warnings.append(
                f"the pre-training VAE reconstructs {key[9:]} chunks about as well as the "
                f"target's (RMS {value:.3f} against {target:.3f}): it does not tell motions "
                "from non-motions here, so its coverage ratio says little.")
    return warnings
