"""What both reference policies share: normalisers, slots, save/load, ``act``, the loss.

A policy predicts chunks in normalised units in a unified action vector of U slots; its
normalisers and slot layout travel in its checkpoint folder (``config.json``,
``model.safetensors``, ``normalizer.json``, ``obs_normalizer.json``). The Steer guidance is
an argument of ``compute_loss`` only: it is never stored on the policy, so a policy trained
with guidance saves, loads and acts exactly like one trained without.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from ate.checkpoint import read_json, read_tensors
from ate.config import from_dict
from ate.data.normalizer import Normalizer
from ate.data.slots import EmbodimentSlots
from ate.errors import ConfigError
from ate.policies.conditioning import ObsTaskEncoder
from ate.policies.config import PolicyConfig
from ate.steer.guidance import LatentGuidance
from ate.steer.latent_loss import LatentLoss
from ate.steer.objectives import Family, masked_mse

# a clean-estimate correction: x0_hat (B, H, U) in, delta (B, H, U) out
Guide = Callable[[torch.Tensor], torch.Tensor]


class GenerativePolicy(nn.Module):
    """Base class: subclasses define ``corrupt`` (noisy input, target, time) and ``sample``.

    Args:
        config: architecture.
        slots: where the robot's D dims sit in the U-slot vector.
        normalizer: action normaliser for those D dims.
        obs_normalizer: observation normaliser (None without observations).
    """

    family: Family

    def __init__(self, config: PolicyConfig, slots: EmbodimentSlots,
                 normalizer: Normalizer | None = None,
                 obs_normalizer: Normalizer | None = None) -> None:
        super().__init__()
        if slots.size != config.action_dim:
            raise ConfigError(f"slot layout has {slots.size} slots, policy.action_dim is "
                              f"{config.action_dim}.")
        self.config, self.slots = config, slots
        self.normalizer, self.obs_normalizer = normalizer, obs_normalizer
        self.cond = ObsTaskEncoder(config)
        self.task_names: list[str] = []  # row i of the task table is task_names[i]
        self.register_buffer("action_mask", torch.as_tensor(slots.mask), persistent=False)

    # -- training ----------------------------------------------------------------------------
    def corrupt(self, a0: torch.Tensor, generator: torch.Generator | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(noisy input, network time input, regression target, time quantity for the
        guided objective) for clean chunks a0 (B, H, U)."""
        raise NotImplementedError

    def predict(self, noisy: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
                ) -> torch.Tensor:
        """The network's output for noisy chunks at network times t."""
        raise NotImplementedError

    def compute_loss(self, batch: dict[str, torch.Tensor],
                     guidance: LatentGuidance | None = None,
                     generator: torch.Generator | None = None,
                     latent_loss: LatentLoss | None = None) -> torch.Tensor:
        """The family's loss on a batch of ``ChunkDataset`` items, guided when given.

        Args:
            batch: ``action`` (B, H, U) normalised; ``step_mask`` (B, H); optional ``obs``
                (B, n_obs, S), ``task`` (B,) and ``embodiment`` (B,): in a co-training
                batch (``data`` plus ``data_extra``) the guidance and the latent term read
                only the target's rows, embodiment 0; the others get the plain loss.
            guidance: a ``LatentGuidance`` for the target robot; None = direct fine-tuning.
            generator: source of the noise and times.
            latent_loss: a ``LatentLoss`` term added to the (guided or plain) loss, its
                gradient reaching the network through the clean chunk its output implies.
        """
        a0 = batch["action"]
        noisy, t_net, target, t_guid = self.corrupt(a0, generator)
        pred = self.predict(noisy, t_net, self.cond(batch.get("obs"), batch.get("task")))
        mask = batch.get("action_mask", self.action_mask)
        steps, index = batch.get("step_mask"), batch.get("index")
        rows = target_rows(batch) if guidance is not None or latent_loss is not None else None
        if guidance is None:
            loss = masked_mse(pred, target, mask, steps)
        else:
            g = guidance(noisy, a0, steps, index=index, rows=rows)
            loss = guidance.loss(self.family, pred, target, g, t_guid, clean=a0, mask=mask,
                                 step_mask=steps, rows=rows)
        if latent_loss is not None:
            loss = loss + latent_loss(self.family, pred, noisy, a0, t_guid, steps,
                                      index=index, rows=rows)
        return loss

    def forward(self, batch: dict[str, torch.Tensor], guidance: LatentGuidance | None = None,
                generator: torch.Generator | None = None,
                latent_loss: LatentLoss | None = None) -> torch.Tensor:
        """``compute_loss``: the training forward (so DistributedDataParallel can wrap it)."""
        return self.compute_loss(batch, guidance, generator, latent_loss)

    # -- acting ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, cond: torch.Tensor | None, batch: int,
               generator: torch.Generator | None = None, guide: Guide | None = None
               ) -> torch.Tensor:
        """Normalised chunks (B, H, U) for a condition batch; with ``guide`` (e.g.
        ``LatentSamplingGuidance``), each step's clean estimate x0_hat (B, H, U) moves by
        ``guide(x0_hat)`` and the next sample by its signal coefficient times that."""
        raise NotImplementedError

    @torch.no_grad()
    def act(self, obs: torch.Tensor | None = None, task: torch.Tensor | None = None,
            batch: int | None = None, generator: torch.Generator | None = None,
            guide: Guide | None = None) -> torch.Tensor:
        """Action chunks in the robot's own units.

        Args:
            obs: (B, n_obs, S) raw observations, S = ``obs_real_dim`` (normalised and
                zero-padded to ``config.obs_dim`` here), if the policy uses them.
            task: (B,) task ids, if the policy uses them.
            batch: B when neither obs nor task is given.
            guide: sampling-time guidance (``sample``); costs inference time.

        Returns:
            (B, H, D): the real slots, un-normalised.
        """
        self.eval()
        if obs is not None and self.config.obs_dim:
            obs = self._observe(obs.float())
        b = len(obs) if obs is not None else len(task) if task is not None else batch or 1
        chunks = self.sample(self.cond(obs, task), b, generator, guide)
        real = self.slots.extract(chunks)
        return self.normalizer.inverse(real) if self.normalizer is not None else real

    @property
    def obs_real_dim(self) -> int:
        """S of the robot the policy acts for: its observation normaliser's width, which
        ``config.obs_dim`` exceeds when the policy reads zero-padded observations."""
        norm = self.obs_normalizer
        return norm.dim if norm is not None and self.config.obs_dim else self.config.obs_dim

    def _observe(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw (B, n_obs, S) observations -> normalised, zero-padded to ``obs_dim``."""
        if obs.shape[-1] != self.obs_real_dim:
            raise ConfigError(f"the policy reads {self.obs_real_dim}-d observations of its "
                              f"robot, got {obs.shape[-1]}-d ones.")
        if self.obs_normalizer is not None:
            obs = self.obs_normalizer.transform(obs)
        pad = self.config.obs_dim - obs.shape[-1]
        return F.pad(obs, (0, pad)) if pad else obs

    # -- files -------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, extra: dict | None = None) -> None:
        """``config.json`` (plus ``extra``), ``model.safetensors`` and the normalisers."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {**(extra or {}), "policy": asdict(self.config), "task_names": self.task_names,
                "slots": {"indices": list(self.slots.indices), "size": self.slots.size}}
        (folder / "config.json").write_text(json.dumps(meta, indent=2))
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()},
                  str(folder / "model.safetensors"))
        for name, norm in (("normalizer.json", self.normalizer),
                           ("obs_normalizer.json", self.obs_normalizer)):
            if norm is not None:
                norm.save(folder / name)

    @staticmethod
    def from_pretrained(folder: str | Path) -> GenerativePolicy:
        """Load either family from a folder written by ``save_pretrained`` (safetensors)."""
        from ate.policies.diffusion import DiffusionPolicy
        from ate.policies.flow import FlowPolicy

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ConfigError(f"{folder}: no config.json; not a policy checkpoint folder.")
        meta = read_json(folder / "config.json", "policy checkpoint")
        if "policy" not in meta or "slots" not in meta:
            raise ConfigError(f"{folder / 'config.json'}: no 'policy' and 'slots' sections; "
                              "not a policy checkpoint (a VAE's? pass a policy run folder).")
        config = from_dict(PolicyConfig, meta["policy"], str(folder / "config.json"))
        slots = EmbodimentSlots(tuple(meta["slots"]["indices"]), int(meta["slots"]["size"]))
        norms = [Normalizer.load(folder / n) if (folder / n).is_file() else None
                 for n in ("normalizer.json", "obs_normalizer.json")]
        cls = DiffusionPolicy if config.kind == "diffusion" else FlowPolicy
        policy = cls(config, slots, *norms)
        state = read_tensors(folder / "model.safetensors")
        expected = policy.state_dict()
        wrong = [k for k in state.keys() & expected.keys() if state[k].shape != expected[k].shape]
        if wrong or state.keys() != expected.keys():
            raise ConfigError(f"{folder / 'model.safetensors'}: weights do not fit config.json "
                              f"(e.g. {(wrong or sorted(state.keys() ^ expected.keys()))[:3]}).")
        policy.load_state_dict(state)
        policy.task_names = list(meta.get("task_names", []))
        return policy


def target_rows(batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """(B,) bool, True at the target robot's rows (``embodiment`` 0, the corpus's ``data``)
    of a co-training batch; None when every row is the target's (a plain fine-tuning batch),
    so Steer and the latent terms run exactly as without co-training."""
    embodiment = batch.get("embodiment")
    if embodiment is None or not bool((embodiment != 0).any()):
        return None
    return embodiment == 0
