"""Guided training objectives for each generative family, as pure functions.

Every function folds a guidance vector g (B, H, U) into a family's regression target, in
the space the network predicts, so that at the loss minimum the clean-action estimate the
network implies moves against g (``sign="paper"``, the paper's and the release's form) or
along it (``sign="tilted"``, classifier guidance toward p(y|a) ~ exp(-J)).

Per family: what the model predicts; k(t), the coefficient of g in that space (paper sign:
target + lam * k g); r(t) = d x0_hat / d prediction at the true time, which turns a change of
the target into a change of the implied clean action; and the composed scale
s(t) = -r(t) k(t) (the implied clean action moves by -lam * s * g without a clamp).

| family | predicts | k(t) | r(t) | s(t) |
|---|---|---|---|---|
| ``epsilon`` | eps | sqrt(1 - abar) | -sqrt((1 - abar) / abar) | (1 - abar) / sqrt(abar) |
| ``v_prediction`` | v (below) | sqrt((1 - abar) / abar) | -sqrt(1 - abar) | as epsilon |
| ``sample`` (RDT) | a0 | -(1 - abar) / sqrt(abar) | 1 | (1 - abar) / sqrt(abar) |
| ``flow`` (tau = 1 data) | a0 - eps | -(1 - tau) / tau | 1 - tau | (1 - tau)^2 / tau |
| ``flow_pi0`` (t = 1 noise) | eps - a0 | t / (1 - t) | -t | t^2 / (1 - t) |

(v = sqrt(abar) eps - sqrt(1 - abar) a0.)

The clamp c and the order (``order``):
- ``scale_then_clamp`` (the release, RDT and Diffusion Policy alike): the term is
  lam * clamp(k g, -c, c), so the regression target moves by at most lam * c per element in
  the prediction's own units, and the implied clean action by at most lam * c * |r(t)|:
  lam * c for ``sample``; lam * c * sqrt(1 - abar) <= lam * c for ``v_prediction``;
  lam * c * (1 - tau) <= lam * c for ``flow``; lam * c * t <= lam * c for ``flow_pi0``; and
  lam * c * sqrt((1 - abar) / abar) for ``epsilon``, which grows at the noise end (there the
  epsilon network's x0 estimate is that sensitive to any change of its output). See
  ``shift_bound``.
- ``clamp_then_scale``: the term is lam * k * clamp(g, -c, c); k is unbounded at the noise
  end (1 / sqrt(abar), 1 / tau), so the shift of the implied clean action is bounded only by
  the time ``floor``.

``floor`` bounds abar, tau and 1 - t from below inside k only; r is taken at the true time,
so ``target_shift`` reports what the guided target really does, below the floor too. A
numerical guard (``GUARD``) keeps every legal time, both ends included, free of inf and NaN
when ``floor`` is 0.
"""

from __future__ import annotations

from typing import Literal

import torch

Family = Literal["epsilon", "v_prediction", "sample", "flow", "flow_pi0"]
Sign = Literal["paper", "tilted"]
Order = Literal["scale_then_clamp", "clamp_then_scale"]
FAMILIES: tuple[str, ...] = ("epsilon", "v_prediction", "sample", "flow", "flow_pi0")
ORDERS: tuple[str, ...] = ("scale_then_clamp", "clamp_then_scale")
# Smallest abar / tau / (1 - t) the time factors see: far below any real schedule's end
# (1000-step squared-cosine DDPM ends near abar 2.5e-9), large enough that float32 factors
# stay finite and 0 * factor stays 0 on masked slots.
GUARD = 1e-12


def _per_sample(x: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """A (B,) or scalar time quantity shaped to broadcast over (B, H, U), in at least
    float32 (half precision cannot hold the guarded factors)."""
    dtype = torch.promote_types(like.dtype, torch.float32)
    x = torch.as_tensor(x, dtype=dtype, device=like.device)
    return x.reshape(-1, *([1] * (like.ndim - 1))) if x.ndim else x


def _check(family: str, sign: str = "paper", order: str = "scale_then_clamp") -> None:
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} unknown; choose one of {FAMILIES}")
    if sign not in ("paper", "tilted"):
        raise ValueError(f"sign {sign!r} unknown; choose paper or tilted")
    if order not in ORDERS:
        raise ValueError(f"order {order!r} unknown; choose one of {ORDERS}")


def clamp_guidance(g: torch.Tensor, clamp: float | None) -> torch.Tensor:
    """Element-wise clamp to [-clamp, clamp]; None leaves g as is."""
    return g if clamp is None else g.clamp(-clamp, clamp)


def target_coefficient(family: Family, time: torch.Tensor, floor: float = 0.0
                       ) -> torch.Tensor:
    """k(t): the coefficient of g in the space the network predicts (paper sign: the guided
    target is target + lam * k * g before any clamp). abar, tau and 1 - t are bounded below
    by ``floor`` (and ``GUARD``) here.

    ``time`` is alphas_cumprod[t] for the diffusion families, tau (1 = data) for ``flow``,
    t (1 = noise) for ``flow_pi0``; any shape.
    """
    low = max(floor, GUARD)
    if family in ("epsilon", "v_prediction", "sample"):
        abar = time.clamp(min=low, max=1.0)
        return {"epsilon": (1 - abar).sqrt(), "v_prediction": ((1 - abar) / abar).sqrt(),
                "sample": -(1 - abar) / abar.sqrt()}[family]
    tau = (time if family == "flow" else 1 - time).clamp(min=low, max=1.0)
    return (-1.0 if family == "flow" else 1.0) * (1 - tau) / tau


def x0_factor(family: Family, time: torch.Tensor) -> torch.Tensor:
    """r(t) = d x0_hat / d prediction at the true time: how a change of the regression target
    moves the clean-action estimate the network implies (epsilon: x0_hat =
    (x_t - sqrt(1 - abar) eps_hat) / sqrt(abar); v: sqrt(abar) x_t - sqrt(1 - abar) v_hat;
    flow: a_tau + (1 - tau) v_hat; flow_pi0: x_t - t u_hat). No floor: only ``GUARD``."""
    if family in ("epsilon", "v_prediction", "sample"):
        abar = time.clamp(min=GUARD, max=1.0)
        return {"epsilon": -((1 - abar) / abar).sqrt(), "v_prediction": -(1 - abar).sqrt(),
                "sample": torch.ones_like(abar)}[family]
    if family == "flow":
        return 1 - time.clamp(0.0, 1.0)
    return -time.clamp(0.0, 1.0)


def implied_clean(family: Family, pred: torch.Tensor, noisy: torch.Tensor,
                  time: torch.Tensor | float) -> torch.Tensor:
    """The clean chunk x0_hat a network output implies, at the true time, with the graph
    through ``pred`` kept: ``noisy`` / sqrt(abar) + r(t) * pred (``epsilon``), sqrt(abar) *
    noisy + r(t) * pred (``v_prediction``), pred (``sample``), noisy + r(t) * pred (``flow``,
    ``flow_pi0``), r = ``x0_factor``. Shapes (B, H, U); time (B,) or scalar. With the exact
    regression target as ``pred`` it returns the clean chunk the noisy one was made from
    (``epsilon`` divides by sqrt(abar), which is only as exact as abar is far from 0)."""
    _check(family)
    t = _per_sample(time, pred)
    r = x0_factor(family, t)
    if family == "sample":
        return pred
    if family in ("flow", "flow_pi0"):
        return noisy + r * pred
    abar = t.clamp(min=GUARD, max=1.0)
    keep = abar.rsqrt() if family == "epsilon" else abar.sqrt()
    return (keep * noisy + r * pred).to(pred.dtype)


def signal_level(family: Family, time: torch.Tensor | float) -> torch.Tensor:
    """The share of signal in the noisy sample, in [0, 1] (1 = clean): abar (diffusion
    families), tau (``flow``), 1 - t (``flow_pi0``); the shape of ``time``."""
    time = torch.as_tensor(time)
    if family == "flow_pi0":
        return (1 - time).clamp(0, 1)
    return time.clamp(0, 1)


def x0_scale(family: Family, time: torch.Tensor, floor: float = 0.0) -> torch.Tensor:
    """s(t) = -r(t) k(t): the implied clean action moves by -lam * s * g (paper sign, no
    clamp). With a floor, k uses the floored time and r the true one, so below the floor
    s is (1 - tau) (1 - tau_f) / tau_f (flow), not the floored (1 - tau_f)^2 / tau_f."""
    return -x0_factor(family, time) * target_coefficient(family, time, floor)


def guidance_term(family: Family, g: torch.Tensor, time: torch.Tensor | float, *,
                  lam: float, clamp: float | None, order: Order = "scale_then_clamp",
                  floor: float = 0.0) -> torch.Tensor:
    """What the paper sign adds to the regression target: lam * clamp(k g, -c, c)
    (``scale_then_clamp``) or lam * k * clamp(g, -c, c) (``clamp_then_scale``); (B, H, U)
    in the prediction's units, in g's dtype (the factors in at least float32)."""
    _check(family, order=order)
    g = g.detach()
    k = target_coefficient(family, _per_sample(time, g), floor)
    term = (clamp_guidance(k * g, clamp) if order == "scale_then_clamp"
            else k * clamp_guidance(g, clamp))
    return (lam * term).to(g.dtype)


def target_shift(family: Family, g: torch.Tensor, time: torch.Tensor | float, *,
                 lam: float = 2.0, clamp: float | None = 0.1, sign: Sign = "paper",
                 order: Order = "scale_then_clamp", floor: float = 0.0) -> torch.Tensor:
    """How far ``guided_target`` moves the clean-action estimate at the loss minimum.

    Args: as ``guided_target`` (g (B, H, U), time (B,) or scalar).

    Returns:
        (B, H, U) in the policy's (normalised) action units: r(t) times the change of the
        regression target, r at the true time (below any floor too). Fine-tuning with Steer
        regresses onto the demos displaced by this much.
    """
    _check(family, sign, order)
    direction = 1.0 if sign == "paper" else -1.0
    term = guidance_term(family, g, time, lam=lam, clamp=clamp, order=order, floor=floor)
    r = x0_factor(family, _per_sample(time, g))
    return (direction * r * term).to(g.dtype)


def shift_bound(family: Family, time: torch.Tensor | float, *, lam: float, clamp: float,
                like: torch.Tensor | None = None) -> torch.Tensor:
    """Largest |``target_shift``| per element under ``scale_then_clamp``: lam * c * |r(t)|
    (lam * c for ``sample``, at most lam * c for ``v_prediction``, ``flow`` and
    ``flow_pi0``; lam * c * sqrt((1 - abar) / abar) for ``epsilon``). Shaped like ``time``
    broadcast over ``like`` (B, H, U) when given."""
    t = _per_sample(time, like) if like is not None else torch.as_tensor(time)
    return lam * clamp * x0_factor(family, t).abs()


def clamped_fraction(family: Family, g: torch.Tensor, time: torch.Tensor | float, *,
                     clamp: float | None, order: Order = "scale_then_clamp",
                     floor: float = 0.0, mask: torch.Tensor | None = None,
                     step_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per sample (B,): the share of the real elements (slots ``mask``, steps ``step_mask``)
    at which the clamp binds: |k g| > c (``scale_then_clamp``) or |g| > c."""
    if clamp is None:
        return torch.zeros(len(g), device=g.device)
    x = g.detach()
    if order == "scale_then_clamp":
        x = target_coefficient(family, _per_sample(time, x), floor) * x
    weight = _weights(x, mask, step_mask)
    hit = (x.abs() > clamp).to(weight.dtype) * weight
    return hit.flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1.0)


def guided_target(
    family: Family,
    target: torch.Tensor,
    g: torch.Tensor,
    time: torch.Tensor | float,
    *,
    lam: float = 2.0,
    clamp: float | None = 0.1,
    sign: Sign = "paper",
    order: Order = "scale_then_clamp",
    floor: float = 0.0,
) -> torch.Tensor:
    """The family's regression target with the guidance folded in (defaults: the paper's
    setting in the authors' arithmetic: lam 2, clamp 0.1, scale then clamp, no floor).

    Args:
        family: see the module table.
        target: the plain target, (B, H, U): eps for ``epsilon``, v for ``v_prediction``, a0
            for ``sample``, a0 - eps for ``flow``, eps - a0 for ``flow_pi0``.
        g: guidance, (B, H, U), e.g. from ``LatentGuidance`` (already masked).
        time: (B,) or scalar: alphas_cumprod[t] (diffusion families), tau (``flow``, 1 = data)
            or t (``flow_pi0``, 1 = noise).
        lam: guidance strength lambda (0 returns ``target`` itself, bit for bit).
        clamp: element-wise bound c (None: no clamp).
        sign: ``paper`` or ``tilted``.
        order: ``scale_then_clamp`` (the release) or ``clamp_then_scale``.
        floor: lower bound on abar, tau or 1 - t inside the coefficient k.

    Returns:
        The guided target, same shape and dtype as ``target``; no graph through g.
    """
    _check(family, sign, order)
    if lam == 0:
        return target
    direction = 1.0 if sign == "paper" else -1.0
    term = guidance_term(family, g.to(target.dtype), time, lam=lam, clamp=clamp, order=order,
                         floor=floor)
    return target + direction * term


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
    order: Order = "scale_then_clamp",
    mask: torch.Tensor | None = None,
    step_mask: torch.Tensor | None = None,
    floor: float = 0.0,
) -> torch.Tensor:
    """MSE between the model's prediction and the guided target (see ``guided_target``).

    With ``lam=0`` this is exactly the plain masked MSE. ``mask`` (U,) or (B, U) limits the
    loss to the robot's real slots, ``step_mask`` (B, H) to real steps.
    """
    goal = guided_target(family, target, g, time, lam=lam, clamp=clamp, sign=sign,
                         order=order, floor=floor)
    return masked_mse(pred, goal, mask, step_mask)
