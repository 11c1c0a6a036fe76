"""What every ATE variant of a LeRobot policy shares: its options (``--policy.ate.*``), the
guidance built from a stage-2 folder in LeRobot's action units, the guided per-element loss
computed from tensors the stock forward produced, and the export to the plain policy type.

The stock loss code runs untouched: a forward hook captures the network's prediction (and,
for Diffusion Policy, the noise the stock code drew), and the guided loss is recomputed from
those tensors with the stock reduction. With lambda 0 the stock loss is returned as is.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ate.data.normalizer import Normalizer
from ate.errors import ConfigError
from ate.steer import GuidanceConfig, LatentGuidance
from ate.steer.objectives import Family
from ate.steer.shift import SHIFT_WARNING, ShiftAccumulator

log = logging.getLogger(__name__)


@dataclass
class SteerOptions(GuidanceConfig):
    """``--policy.ate.*``: the stage-2 folder and every ``ate.steer.GuidanceConfig`` field
    (default: the release preset, lambda 3).

    Attributes:
        guidance_path: the stage-2 folder ``ate align`` wrote (``runs/align/stage2``); empty
            trains the stock loss (plain fine-tuning).
        init_from: a stock LeRobot checkpoint folder of the same policy kind (e.g. a
            ``pretrained_model`` folder); its config fields are taken where this config is
            left at its defaults, and its weights are loaded (LeRobot's ``pretrained_path``).
    """

    guidance_path: str = ""
    init_from: str = ""
    preset: Literal["release", "floored"] | None = "release"


def lerobot_normalizer(stats: dict[str, Any], mode: str, dim: int) -> Normalizer:
    """LeRobot's normalisation of a feature as ``ate``'s affine map (raw = y * scale +
    offset), for the first ``dim`` dims: MEAN_STD (std + 1e-8, as LeRobot), MIN_MAX,
    QUANTILES (q01/q99), QUANTILE10 (q10/q90), IDENTITY."""
    def get(key: str) -> np.ndarray:
        if key not in stats:
            raise ConfigError(f"the dataset's action stats have no '{key}', which LeRobot's "
                              f"{mode} normalisation needs; recompute the dataset stats.")
        value = stats[key]
        value = value.detach().cpu().numpy() if torch.is_tensor(value) else np.asarray(value)
        return value.astype(np.float64).reshape(-1)[:dim]

    mode = getattr(mode, "value", mode)
    if mode == "MEAN_STD":
        offset, scale = get("mean"), get("std") + 1e-8
    elif mode in ("MIN_MAX", "QUANTILES", "QUANTILE10"):
        lo, hi = {"MIN_MAX": ("min", "max"), "QUANTILES": ("q01", "q99"),
                  "QUANTILE10": ("q10", "q90")}[mode]
        low, denom = get(lo), get(hi) - get(lo)
        denom = np.where(denom == 0, 1e-8, denom)
        offset, scale = low + denom / 2, denom / 2
    elif mode == "IDENTITY":
        offset, scale = np.zeros(dim), np.ones(dim)
    else:
        raise ConfigError(f"LeRobot normalisation mode {mode!r} is not one ate can map.")
    return Normalizer("meanstd" if mode == "MEAN_STD" else "minmax", offset, scale,
                      {"lerobot_mode": [0.0], "offset": offset.tolist()})


def build_guidance(options: SteerOptions, config: Any, dataset_stats: dict | None
                   ) -> LatentGuidance | None:
    """The frozen stage-2 guidance in the policy's normalised action units (None without a
    ``guidance_path``). The stage-2 VAE's D dims are the first D of LeRobot's action vector
    (pi0 pads it to ``max_action_dim`` after them)."""
    if not options.guidance_path:
        return None
    fields = {f.name: getattr(options, f.name) for f in dataclasses.fields(GuidanceConfig)}
    probe = LatentGuidance.from_pretrained(options.guidance_path, **fields)
    dim = probe.vae_slots.dim
    mode = config.normalization_mapping.get("ACTION", "IDENTITY")
    stats = (dataset_stats or {}).get("action")
    if stats is None and getattr(mode, "value", mode) != "IDENTITY":
        raise ConfigError("ATE needs the dataset's action statistics to map LeRobot's "
                          "normalised actions to the stage-2 VAE's units; train through "
                          "lerobot-train (it passes them) or give dataset_stats=.")
    policy_norm = (lerobot_normalizer(stats, mode, dim) if stats is not None
                   else Normalizer("identity", np.zeros(dim), np.ones(dim), {}))
    return LatentGuidance.from_pretrained(options.guidance_path, slots=list(range(dim)),
                                          policy_normalizer=policy_norm, **fields)


class ShiftLog:
    """Steer's displacement of the implied clean actions over the first ``batches`` guided
    training batches (RMS of ``target_shift`` over the RMS of the clean actions, real slots
    and steps), logged once, with a warning above ``ate.steer.shift.SHIFT_WARNING``: what
    ``ate finetune`` measures before training, measured here on the run's own batches."""

    def __init__(self, batches: int = 20) -> None:
        self.batches, self.seen = batches, 0
        self.pooled: ShiftAccumulator | None = None
        self.ratio: float | None = None

    @torch.no_grad()
    def observe(self, guidance: LatentGuidance, family: Family, g: torch.Tensor,
                time: torch.Tensor, clean: torch.Tensor, steps: torch.Tensor | None) -> None:
        """Add one batch (g, clean (B, H, U), time (B,), steps (B, H)); logs on the last."""
        if self.ratio is not None:
            return
        self.pooled = self.pooled or ShiftAccumulator(guidance)
        self.pooled.add(family, g, time, clean.float(), steps)
        self.seen += 1
        if self.seen < self.batches:
            return
        self.ratio = self.pooled.ratio
        log.info("Steer displaces the implied clean actions by %.1f%% of the actions' RMS "
                 "(%d training chunks, lambda %.3g, %s)", 100 * self.ratio, self.pooled.count,
                 guidance.lam, guidance.config.order.replace("_", " "))
        if self.ratio > SHIFT_WARNING:
            log.warning("Steer's displacement %.1f%% is above %.0f%%: on Meta-World every "
                        "setting above that lost success against plain fine-tuning "
                        "(ate's docs/results.md); lower --policy.ate.lam (now %.3g).",
                        100 * self.ratio, 100 * SHIFT_WARNING, guidance.lam)


@contextmanager
def captured(module: nn.Module) -> Iterator[dict[str, Any]]:
    """The last output of ``module`` during the block, under ``"out"``."""
    seen: dict[str, Any] = {}
    handle = module.register_forward_hook(lambda _m, _i, out: seen.__setitem__("out", out))
    try:
        yield seen
    finally:
        handle.remove()


def plain_config(config: Any, base: type) -> Any:
    """The same settings as the stock config class ``base`` (no ``ate`` field): what a
    fine-tuned checkpoint is saved as, so stock LeRobot loads it as the plain policy."""
    names = [f.name for f in dataclasses.fields(base) if f.init]
    return base(**{n: getattr(config, n) for n in names})


def take_base_fields(config: Any, base: type, kind: str) -> None:
    """``ate.init_from``: copy the stock checkpoint's config fields onto ``config`` where it
    is at the class default, and load its weights (LeRobot's ``pretrained_path``)."""
    import draccus

    folder = Path(config.ate.init_from)
    path = folder / "config.json"
    if not path.is_file():
        raise ConfigError(f"{folder}: no config.json; --policy.ate.init_from wants a LeRobot "
                          "checkpoint folder (the one holding config.json and "
                          "model.safetensors).")
    saved = json.loads(path.read_text())
    if saved.get("type") != kind:
        raise ConfigError(f"{folder} holds a '{saved.get('type')}' policy; ate_{kind} "
                          f"fine-tunes a '{kind}' one.")
    stock = draccus.decode(base, {k: v for k, v in saved.items() if k != "type"})
    for field in dataclasses.fields(base):
        if not field.init:
            continue
        default = (field.default_factory() if field.default_factory is not dataclasses.MISSING
                   else field.default)
        if getattr(config, field.name) == default:
            setattr(config, field.name, getattr(stock, field.name))
    config.pretrained_path = folder


class ATEPolicyMixin:
    """The ATE side of a LeRobot policy class (put it first in the bases): the guidance on
    the inner model that computes the loss, device moves, and saving as the stock type.

    Subclasses set ``stock_config`` (the stock config class) and ``inner`` (the attribute
    name of the inner model: ``diffusion`` or ``model``).
    """

    stock_config: type
    inner: str

    def attach_guidance(self, guided_class: type, dataset_stats: dict | None) -> None:
        """Turn the inner model into ``guided_class`` (same weights, same object: building a
        second model would draw other initial weights) and give it the guidance."""
        model = getattr(self, self.inner)
        model.__class__ = guided_class
        model.guidance = build_guidance(self.config.ate, self.config, dataset_stats)
        model.shift_log = ShiftLog()

    @property
    def guidance(self) -> LatentGuidance | None:
        """The frozen stage-2 guidance (outside ``parameters()`` and the state dict)."""
        return getattr(self, self.inner).guidance

    def _save_pretrained(self, save_directory: Any, state_dict: dict | None = None) -> None:
        ate_config = self.config
        self.config = plain_config(ate_config, self.stock_config)
        try:
            super()._save_pretrained(save_directory, state_dict)  # type: ignore[misc]
        finally:
            self.config = ate_config

    def to(self, *args: Any, **kwargs: Any) -> Any:
        out = super().to(*args, **kwargs)  # type: ignore[misc]
        if self.guidance is not None:
            self.guidance.to(next(self.parameters()).device)  # type: ignore[attr-defined]
        return out


def ate_config(stock: type, kind: str, module: str) -> type:
    """The config class of ``--policy.type=ate_<kind>``: every field of the stock config
    class plus ``ate`` (``SteerOptions``), registered with LeRobot. ``module`` is the
    ``configuration_ate_<kind>`` module it is published from: LeRobot finds the policy and
    processors by rewriting that name to ``modeling_`` / ``processor_``."""
    from lerobot.configs.policies import PreTrainedConfig

    def post_init(self: Any) -> None:
        if self.ate.init_from:
            take_base_fields(self, stock, kind)
        stock.__post_init__(self)

    name = f"ATE{stock.__name__}"
    cls = dataclasses.make_dataclass(
        name, [("ate", SteerOptions, dataclasses.field(default_factory=SteerOptions))],
        bases=(stock,), module=module,
        namespace={"__post_init__": post_init,
                   "__doc__": f"``{stock.__name__}`` with Steer's options under ``ate`` "
                              "(``SteerOptions``)."})
    return PreTrainedConfig.register_subclass(f"ate_{kind}")(cls)
