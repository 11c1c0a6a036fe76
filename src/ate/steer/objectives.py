"""Guided training objectives for each generative family, as pure functions.

Every function folds a guidance vector g (B, H, U) into a family's regression target so
that, at the loss minimum, the implied clean-action estimate moves by -lam * s * g
(``sign="paper"``, the paper's and the release's form) or +lam * s * g (``sign="tilted"``,
classifier guidance toward p(y|a) ~ exp(-J)), where s is the family's time scale:

Per family: what the model predicts; its guided target (paper sign); s.
- ``epsilon``: noise eps; eps + sqrt(1 - abar) lam G; s = (1 - abar) / sqrt(abar).
- ``v_prediction``: v = sqrt(abar) eps - sqrt(1 - abar) a0;
  v + sqrt(1 - abar) / sqrt(abar) lam G; the same s.
- ``sample`` (RDT): a0; a0 - lam clamp(s g, -c, c); the same s.
- ``flow``: a0 - eps with a_tau = tau a0 + (1 - tau) eps (tau = 1 is data);
  (a0 - eps) - (1 - tau) / tau lam G; s = (1 - tau)^2 / tau.
- ``flow_pi0`` (pi0, SmolVLA, LeRobot): eps - a0 with x_t = t eps + (1 - t) a0 (t = 1 is
  noise); (eps - a0) + t / (1 - t) lam G; s = t^2 / (1 - t).

G = clamp(g, -c, c) (element-wise; ``sample`` clamps after scaling, as the release does).
The factors that grow without bound at the noise end use abar >= ``floor`` and tau >= ``floor``
(t <= 1 - floor), so no legal time gives inf or NaN.
"""

from __future__ import annotations

from typing import Literal

import torch

Family = Literal["epsilon", "v_prediction", "sample", "flow", "flow_pi0"]
Sign = Literal["paper", "tilted"]
FAMILIES: tuple[str, ...] = ("epsilon", "v_prediction", "sample", "flow", "flow_pi0")


def _per_sample(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (B,) or scalar time quantity shaped to broadcast over (B, H, U)."""
    x = torch.as_tensor(x, dtype=like.dtype, device=like.device)
    return x.reshape(-1, *([1] * (like.ndim - 1))) if x.ndim else x


def clamp_guidance(g: torch.Tensor, clamp: float | None) -> torch.Tensor:
    """Element-wise clamp to [-clamp, clamp]; None leaves g as is."""
    return g if clamp is None else g.clamp(-clamp, clamp)


def x0_scale(family: Family, time: torch.Tensor, floor: float = 1e-3) -> torch.Tensor:
    """s(t): how far (per unit of lam * G) the clean-action estimate moves, per family.

    ``time`` is alphas_cumprod[t] for the diffusion families, tau (1 = data) for ``flow``,
    t (1 = noise) for ``flow_pi0``.
    """
    if family in ("epsilon", "v_prediction", "sample"):
        abar = time.clamp(min=floor)
        return (1 - abar) / abar.sqrt()
    tau = time if family == "flow" else 1 - time
    tau = tau.clamp(min=floor)
    return (1 - tau) ** 2 / tau


def target_shift(family: Family, g: torch.Tensor, time: torch.Tensor | float, *,
                 lam: float = 2.0, clamp: float | None = 0.1, sign: Sign = "paper",
                 floor: float = 1e-3) -> torch.Tensor:
    """How far ``guided_target`` moves the clean-action estimate at the loss minimum.

    Args: as ``guided_target`` (g (B, H, U), time (B,) or scalar).

    Returns:
        (B, H, U) in the policy's (normalised) action units: -lam * s * G for the paper
        sign, +lam * s * G for the tilted one (``sample``: lam * clamp(s * g)). Fine-tuning
        with Steer regresses onto the demos displaced by this much.
    """
    direction = -1.0 if sign == "paper" else 1.0
    g = g.detach()
    s = x0_scale(family, _per_sample(time, g).to(g.dtype), floor)
    if family == "sample":
        return direction * lam * clamp_guidance(s * g, clamp)
    return direction * lam * s * clamp_guidance(g, clamp)


def guided_target(
    family: Family,
    target: torch.Tensor,
    g: torch.Tensor,
    time: torch.Tensor | float,
    *,
    lam: float = 2.0,
    clamp: float | None = 0.1,
    sign: Sign = "paper",
    floor: float = 1e-3,
) -> torch.Tensor:
    """The family's regression target with the guidance folded in.

    Args:
        family: see the module table.
        target: the plain target, (B, H, U): eps for ``epsilon``, v for ``v_prediction``, a0
            for ``sample``, a0 - eps for ``flow``, eps - a0 for ``flow_pi0``.
        g: guidance, (B, H, U), e.g. from ``LatentGuidance`` (already masked).
        time: (B,) or scalar: alphas_cumprod[t] (diffusion families), tau (``flow``, 1 = data)
            or t (``flow_pi0``, 1 = noise).
        lam: guidance strength lambda (0 returns ``target`` itself, bit for bit).
        clamp: element-wise bound c on the guidance (None: no clamp).
        sign: ``paper`` or ``tilted``.
        floor: lower bound on abar or tau where the factors diverge.

    Returns:
        The guided target, same shape and dtype as ``target``; no graph through g.
    """
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} unknown; choose one of {FAMILIES}")
    if sign not in ("paper", "tilted"):
        raise ValueError(f"sign {sign!r} unknown; choose paper or tilted")
    if lam == 0:
        return target
    direction = 1.0 if sign == "paper" else -1.0
    g = g.detach().to(target.dtype)
    t = _per_sample(time, target)
    if family == "sample":
        shift = lam * clamp_guidance(x0_scale(family, t, floor) * g, clamp)
        return target - direction * shift
    G = lam * clamp_guidance(g, clamp)
    if family == "epsilon":
        abar = t.clamp(min=floor)
        return target + direction * (1 - abar).sqrt() * G
    if family == "v_prediction":
        abar = t.clamp(min=floor)
        return target + direction * ((1 - abar) / abar).sqrt() * G
    if family == "flow":
        tau = t.clamp(min=floor)
        return target - direction * (1 - tau) / tau * G
    one_minus_t = (1 - t).clamp(min=floor)  # flow_pi0: tau = 1 - t
    return target + direction * (1 - one_minus_t) / one_minus_t * G


def masked_mse(pred: torch.Tensor, target: torch.Tensor,
               mask: torch.Tensor | None = None, step_mask: torch.Tensor | None = None
               ) -> torch.Tensor:
    """Mean squared error over the real slots (mask (U,) or (B, U)) and real steps (B, H)."""
    err = (pred - target).pow(2)
    if mask is None and step_mask is None:
        return err.mean()
    weight = _weights(err, mask, step_mask)
    return (err * weight).sum() / weight.sum().clamp_min(1.0)


def masked_rms(x: torch.Tensor, mask: torch.Tensor | None = None,
               step_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample root mean square of x (B, H, U) over the real slots and steps: (B,)."""
    weight = _weights(x, mask, step_mask)
    sq = (x.pow(2) * weight).flatten(1).sum(1)
    return (sq / weight.flatten(1).sum(1).clamp_min(1.0)).sqrt()


def _weights(like: torch.Tensor, mask: torch.Tensor | None, step_mask: torch.Tensor | None
             ) -> torch.Tensor:
    weight = torch.ones_like(like)
    if mask is not None:
        weight = weight * (mask if mask.ndim == 2 else mask[None])[:, None, :].to(like.dtype)
    if step_mask is not None:
        weight = weight * step_mask[..., None].to(like.dtype)
    return weight


def guided_loss(
    family: Family,
    pred: torch.Tensor,
    target: torch.Tensor,
    g: torch.Tensor,
    time: torch.Tensor | float,
    *,
    lam: float = 2.0,
    clamp: float | None = 0.1,
    sign: Sign = "paper",
    mask: torch.Tensor | None = None,
    step_mask: torch.Tensor | None = None,
    floor: float = 1e-3,
) -> torch.Tensor:
    """MSE between the model's prediction and the guided target (see ``guided_target``).

    With ``lam=0`` this is exactly the plain masked MSE. ``mask`` (U,) or (B, U) limits the
    loss to the robot's real slots, ``step_mask`` (B, H) to real steps.
    """
    goal = guided_target(family, target, g, time, lam=lam, clamp=clamp, sign=sign, floor=floor)
    return masked_mse(pred, goal, mask, step_mask)
