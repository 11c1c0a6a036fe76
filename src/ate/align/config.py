"""The typed config of ``ate align``: data, model, losses, prior, optimiser, schedule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ate.align.losses import KLReduction
from ate.align.prior import KLDirection, PriorKind
from ate.data.config import DataConfig
from ate.errors import ConfigError
from ate.training.config import OptimConfig, TrainConfig


@dataclass
class ModelConfig:
    """The ``ActionVAE`` architecture; action dim and chunk length come from the data.

    Attributes:
        latent_dim: d of the (1, d) latent (release / paper: 512).
        hidden_dim: transformer width; None ties it to latent_dim (release).
        num_layers: odd number of layers in encoder and decoder (release: 9).
        num_heads: attention heads (release: 4).
        ff_dim: feed-forward width (release: 1024).
        dropout: transformer dropout (release: 0).
        activation: ``gelu`` (release) or ``relu``.
        max_chunk_length: positions the model holds; 0 = the data's chunk length.
    """

    latent_dim: int = 512
    hidden_dim: int | None = None
    num_layers: int = 9
    num_heads: int = 4
    ff_dim: int = 1024
    dropout: float = 0.0
    activation: Literal["gelu", "relu"] = "gelu"
    max_chunk_length: int = 0


@dataclass
class LossConfig:
    """Weights and forms of the VAE loss (release defaults).

    Attributes:
        recon_weight: SmoothL1 reconstruction weight (1.0).
        kl_weight: KL weight (7.5e-5).
        mmd_weight: MMD weight (1.0).
        kl_reduction: ``mean_dims`` (release: mean over batch and latent dims) or
            ``sum_dims`` (per-sample KL in nats, batch mean).
        mmd_scale: the IMQ kernel's C = 2 * d * mmd_scale (2.0).
        smooth_l1_beta: SmoothL1's quadratic-to-linear switch (1.0).
    """

    recon_weight: float = 1.0
    kl_weight: float = 7.5e-5
    mmd_weight: float = 1.0
    kl_reduction: KLReduction = "mean_dims"
    mmd_scale: float = 2.0
    smooth_l1_beta: float = 1.0


@dataclass
class PriorConfig:
    """How stage 1 summarises its latents as q_phi (see ``LatentPrior``).

    Attributes:
        kind: ``release`` (mean of means, mean of stds), ``gaussian`` (aggregate-posterior
            mean and full covariance) or ``mixture`` (K-component Gaussian mixture).
        components: K for ``mixture``.
        noise: encode chunks with a little DDPM noise first, as the release does (10-step
            squared-cosine schedule, t drawn from {0, 1, 2}).
        bank_size: pre-training latents kept beside the prior (MMD reference, reports).
    """

    kind: PriorKind = "gaussian"
    components: int = 4
    noise: bool = False
    bank_size: int = 4096


@dataclass
class AdaptConfig:
    """Stage 2 (psi): how the target VAE is pulled into q_phi.

    Attributes:
        kl_direction: ``paper``: KL(q_psi(z|a) || q_phi), mode-seeking; ``release``:
            KL(q_phi || q_psi(z|a)).
        mmd_reference: what target latents are compared with: ``standard`` N(0, I)
            (release), ``prior`` samples of q_phi, ``bank`` real pre-training latents (the
            paper's D(q_psi || q_phi)).
        init: ``random`` (release) or ``stage1`` (stage-1 weights, new input/output layers
            when D differs).
        kl_samples: Monte Carlo samples for a mixture prior.
        kl_weight: the stage-2 KL weight; None = ``loss.kl_weight``. A stage-1 KL weak
            enough to leave q_phi structured (the release's 7.5e-5) is too weak a pull in
            stage 2: this sets the two apart.
    """

    kl_direction: KLDirection = "paper"
    mmd_reference: Literal["standard", "prior", "bank"] = "bank"
    init: Literal["random", "stage1"] = "random"
    kl_samples: int = 8
    kl_weight: float | None = None


@dataclass
class AlignConfig:
    """Everything ``ate align pretrain | adapt | run`` reads.

    Attributes:
        pretrain_data: stage-1 chunks (the pre-training corpus).
        pretrain_extra: further stage-1 datasets (other robots), each read, split and
            normalised on its own and placed by its own ``slots`` into the same unified
            vector (same ``chunk_length`` and ``slots.size`` as ``pretrain_data``); set in
            YAML as a list of data sections.
        target_data: stage-2 chunks (the target robot's demos).
        model: VAE architecture, shared by both stages.
        loss: loss weights, shared by both stages.
        prior: how q_phi is estimated after stage 1.
        adapt: stage-2 specifics.
        optim: optimiser and schedule.
        train: run length and device.
        out: output folder.
        prior_from: stage-1 checkpoint folder for ``adapt`` (holds prior.safetensors).
    """

    pretrain_data: DataConfig = field(default_factory=DataConfig)
    pretrain_extra: tuple[DataConfig, ...] = ()
    target_data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    out: str = "runs/align"
    prior_from: str = ""

    def __post_init__(self) -> None:
        if self.model.num_layers % 2 == 0:
            raise ConfigError(f"model.num_layers must be odd, got {self.model.num_layers}.")
