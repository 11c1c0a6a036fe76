"""The config of ``ate policy pretrain`` and ``ate finetune``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ate.data.config import DataConfig
from ate.errors import ConfigError
from ate.policies.config import PolicyConfig
from ate.steer.guidance import GuidanceConfig
from ate.steer.latent_loss import LatentLossConfig
from ate.training.config import OptimConfig, TrainConfig


@dataclass
class PolicyRunConfig:
    """Everything a policy training run reads.

    Attributes:
        data: the demos (set ``obs_key`` / ``obs_horizon`` to condition on observations).
            The policy acts for this robot: its normalisers and slots are the ones saved.
        data_extra: further datasets trained on together with ``data`` (other robots: each
            read, split and normalised on its own and placed by its own ``slots`` into the
            same unified vector; same chunk length, unified size, observation size and
            horizon). A task name shared by two datasets is one task. Set in YAML as a list
            of data sections. With ``guidance_from`` or ``latent_loss_from``, Steer and the
            latent term read only ``data``'s rows of each batch (the VAE is the target's);
            the others' rows get the plain loss.
        data_shares: each dataset's share of every epoch's chunks (``data`` first, then
            ``data_extra``; any positive scale, e.g. ``1 1`` for half and half): ``data``'s
            chunks each once per epoch, the others' drawn in proportion from a seeded
            cycle through them (rehearsal: co-training on a large pre-training set without
            it swamping the target). Empty: every chunk of every dataset once per epoch.
        policy: architecture and family; action_dim, chunk_length, obs_dim and num_tasks
            are taken from the data.
        optim: optimiser and schedule.
        train: run length and device.
        guidance: Steer settings, used when ``guidance_from`` is set.
        guidance_from: a stage-2 ``ate align`` folder; empty = direct fine-tuning.
        latent_loss: a latent term added to the loss (``LatentLossConfig``: latent
            consistency or the pre-training-manifold penalty), used when
            ``latent_loss_from`` is set; with or without Steer.
        latent_loss_from: the stage-2 ``ate align`` folder whose encoder the latent term
            uses; empty = no latent term.
        init_from: a pre-trained policy folder to fine-tune; empty = train from scratch.
        task_features: a ``TaskFeatures`` file (text features of the task instructions).
            Pre-training with it conditions on a linear map of the features; fine-tuning
            a policy trained so takes the new tasks' features from it.
        ema: keep an exponential moving average of the weights (diffusers' EMAModel with
            warm-up, as Diffusion Policy); checkpoints and validation use the average.
        ema_power: warm-up power (decay = 1 - (1 + step)^-power, capped at ema_max_decay).
        ema_max_decay: the decay's ceiling.
        out: output folder.
    """

    data: DataConfig = field(default_factory=DataConfig)
    data_extra: tuple[DataConfig, ...] = ()
    data_shares: tuple[float, ...] = ()
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-4, lr_decay=1.0))
    train: TrainConfig = field(default_factory=TrainConfig)
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    guidance_from: str = ""
    latent_loss: LatentLossConfig = field(default_factory=LatentLossConfig)
    latent_loss_from: str = ""
    init_from: str = ""
    task_features: str = ""
    ema: bool = True
    ema_power: float = 0.75
    ema_max_decay: float = 0.9999
    out: str = "runs/policy"

    def __post_init__(self) -> None:
        if self.data_shares and (len(self.data_shares) != 1 + len(self.data_extra)
                                 or min(self.data_shares) <= 0):
            raise ConfigError(
                f"data_shares {list(self.data_shares)}: give one positive share per dataset, "
                f"data first, then the {len(self.data_extra)} of data_extra (e.g. "
                f"--data-shares {' '.join(['1'] * (1 + len(self.data_extra)))}).")
