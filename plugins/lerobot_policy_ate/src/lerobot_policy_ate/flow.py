"""Steer for LeRobot's flow-matching policies (pi0, pi0.5, SmolVLA): their convention is
``flow_pi0`` (x_t = t * noise + (1 - t) * actions, t = 1 at noise, target u = noise - actions).

Each inner model's ``forward(..., actions, noise, time)`` returns the per-element loss
(u_t - v_t)^2 with v_t = ``action_out_proj(...)``. The guided forward draws noise and time
exactly as the stock one would (same methods, same order), runs the stock forward with them,
captures v_t from ``action_out_proj``, and returns (goal - v_t)^2 with the guided goal.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from ate.steer import LatentGuidance, guided_target
from lerobot_policy_ate.steer import ShiftLog, captured


class GuidedFlowModel:
    """Mixin put before a stock inner flow model class (``PI0Pytorch``, ``PI05Pytorch``,
    ``VLAFlowMatching``); ``step_mask`` (B, H) is set by the policy for one forward."""

    guidance: LatentGuidance | None = None
    step_mask: Tensor | None = None
    shift_log: ShiftLog | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        stock = super().forward  # type: ignore[misc]
        if self.guidance is None:
            return stock(*args, **kwargs)
        bound = inspect.signature(stock).bind(*args, **kwargs)
        bound.apply_defaults()
        given = bound.arguments
        actions = given["actions"]
        if given.get("noise") is None:  # the stock order: noise first, then time
            given["noise"] = self.sample_noise(actions.shape, actions.device)  # type: ignore
        if given.get("time") is None:
            given["time"] = self.sample_time(actions.shape[0], actions.device)  # type: ignore
        noise, time = given["noise"], given["time"]
        with captured(self.action_out_proj) as seen:  # type: ignore[attr-defined]
            stock(*bound.args, **bound.kwargs)
        v_t = seen["out"]
        t = time[:, None, None]
        x_t = t * noise + (1 - t) * actions
        u_t = noise - actions
        guidance, cfg = self.guidance, self.guidance.config
        g = guidance(x_t, actions, self.step_mask)
        if self.training and self.shift_log is not None:  # type: ignore[attr-defined]
            self.shift_log.observe(guidance, "flow_pi0", g, time, actions, self.step_mask)
        goal = guided_target("flow_pi0", u_t, g, time, lam=guidance.lam, clamp=cfg.clamp,
                             sign=cfg.sign, order=cfg.order, floor=cfg.floor)
        return F.mse_loss(goal, v_t, reduction="none")


def guided_class(stock: type) -> type:
    """``GuidedFlowModel`` over a stock inner model class (one class per stock class)."""
    name = f"Guided{stock.__name__}"
    if name not in _CLASSES:
        _CLASSES[name] = type(name, (GuidedFlowModel, stock), {})
    return _CLASSES[name]


_CLASSES: dict[str, type] = {}


def forward_with_steps(policy: Any, stock_forward: Any, batch: dict, *args: Any,
                       **kwargs: Any) -> Any:
    """The stock policy forward with the batch's real steps (``~action_is_pad``) handed to
    the guided inner model for this call."""
    model = policy.model
    pad = batch.get("action_is_pad")
    model.step_mask = None if pad is None else ~pad
    try:
        return stock_forward(batch, *args, **kwargs)
    finally:
        model.step_mask = None


class ATEFlowPolicy:
    """The ATE side of a LeRobot flow policy (bases: this, ``ATEPolicyMixin``'s users, the
    stock policy): the inner ``model`` becomes its guided class; ``forward`` hands it the
    batch's real steps."""

    inner = "model"

    def __init__(self, config: Any, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)  # type: ignore[call-arg]
        self.attach_guidance(guided_class(type(self.model)),  # type: ignore[attr-defined]
                             kwargs.get("dataset_stats"))

    def forward(self, batch: dict, *args: Any, **kwargs: Any) -> Any:
        return forward_with_steps(self, super().forward, batch, *args, **kwargs)  # type: ignore
