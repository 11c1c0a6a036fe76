"""The VAE training stage: a ``Trainer`` whose step is the VAE's forward and objective."""

from __future__ import annotations

from pathlib import Path

import torch

from ate.align.config import AlignConfig
from ate.align.objectives import PretrainObjective
from ate.align.vae import ActionVAE
from ate.config import to_dict
from ate.data.prepare import PreparedChunks
from ate.training.trainer import (  # re-exported: the align stages use them
    Trainer,
    TrainingDiverged,
    TrainResult,
    choose_device,
    finish_stage,
)

__all__ = ["TrainResult", "TrainingDiverged", "VAETrainer", "choose_device", "finish_stage"]


class VAETrainer(Trainer):
    """Trains ``vae`` with ``objective`` (reparameterised z in training, z = mu otherwise).

    Args:
        vae: the model.
        objective: maps (VAEOutput, batch, generator) to loss terms.
        data: prepared chunks.
        config: the whole align config (saved in ``config.json`` for resume).
        out: the stage's folder.
        stage: ``stage1``, ``stage2`` or ``single``.
    """

    def __init__(self, vae: ActionVAE, objective: PretrainObjective, data: PreparedChunks,
                 config: AlignConfig, out: Path, stage: str) -> None:
        super().__init__(vae, data, config.optim, config.train, out, stage,
                         {"align": to_dict(config)})
        self.config, self.objective, self.vae = config, objective, self.net

    def terms(self, batch: dict[str, torch.Tensor], generator: torch.Generator,
              training: bool) -> dict[str, torch.Tensor]:
        model = self.model if training else self.vae
        out = model(batch["action"], batch["step_mask"], sample=training, generator=generator)
        return self.objective(out, batch, generator)

    def write_model(self, folder: Path, meta: dict) -> None:
        self.vae.save_pretrained(folder, meta)
        self.data.normalizer.save(folder / "normalizer.json")
