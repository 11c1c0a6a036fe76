"""The config of ``ate bench``: one ``SuiteConfig`` per simulator suite.

Every task set, robot set, arm set, demo count and seed list is a value here, so any split
can be benchmarked from YAML or the command line (``--metaworld.target-tasks ...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from ate.align.config import AdaptConfig, ModelConfig, PriorConfig
from ate.errors import ConfigError
from ate.policies.config import PolicyConfig
from ate.steer.guidance import GuidanceConfig
from ate.steer.latent_loss import LatentLossConfig

Arm = Literal["direct", "ate_paper", "ate_tilted", "single_stage", "scratch",
              "latent_consistency", "latent_manifold", "rehearsal", "ate_rehearsal",
              "action_space"]
ARMS: tuple[Arm, ...] = ("direct", "ate_paper", "ate_tilted", "single_stage", "scratch")
# arms beyond the paper (run only when named in ``arms``): the plain loss plus a latent term
# of ``ate.steer.latent_loss`` read through the same stage-2 VAE as ``ate_paper``
LATENT_ARMS: tuple[Arm, ...] = ("latent_consistency", "latent_manifold")
# the usual remedy for forgetting (run only when named): plain fine-tuning co-trained on the
# pre-training demos, ``rehearsal_share`` of every epoch
REHEARSAL: Arm = "rehearsal"
# Steer on top of it (run only when named): ``ate_paper``'s guidance on the target's rows of
# the same co-training batches, the plain loss on the pre-training rows
ATE_REHEARSAL: Arm = "ate_rehearsal"
# a control for Steer (run only when named): the same guidance with no VAE, J taken in action
# space (``ate.steer.action_space``); does Steer need a learned latent space at all?
ACTION_SPACE_ARM: Arm = "action_space"

# Meta-World's ML45 split (metaworld.ML45): 45 train tasks, 5 held-out test tasks.
ML45_TEST = ("bin-picking-v3", "box-close-v3", "hand-insert-v3", "door-lock-v3",
             "door-unlock-v3")
ML45_TRAIN = (
    "assembly-v3", "basketball-v3", "button-press-topdown-v3",
    "button-press-topdown-wall-v3", "button-press-v3", "button-press-wall-v3",
    "coffee-button-v3", "coffee-pull-v3", "coffee-push-v3", "dial-turn-v3", "disassemble-v3",
    "door-close-v3", "door-open-v3", "drawer-close-v3", "drawer-open-v3", "faucet-open-v3",
    "faucet-close-v3", "hammer-v3", "handle-press-side-v3", "handle-press-v3",
    "handle-pull-side-v3", "handle-pull-v3", "lever-pull-v3", "peg-insert-side-v3",
    "pick-place-wall-v3", "pick-out-of-hole-v3", "reach-v3", "push-back-v3", "push-v3",
    "pick-place-v3", "plate-slide-v3", "plate-slide-side-v3", "plate-slide-back-v3",
    "plate-slide-back-side-v3", "peg-unplug-side-v3", "soccer-v3", "stick-push-v3",
    "stick-pull-v3", "push-wall-v3", "reach-wall-v3", "shelf-place-v3", "sweep-into-v3",
    "sweep-v3", "window-open-v3", "window-close-v3")


@dataclass
class SuiteConfig:
    """One benchmark suite: what is pre-trained on, what is adapted to, how it is scored.

    Attributes:
        suite: ``metaworld``, ``robosuite`` (joint-position actions) or ``robosuite-eef``
            (end-effector actions).
        pretrain_tasks / pretrain_robots: the pre-training corpus (robots: robosuite only).
        target_tasks / target_robots: the held-out side; one multi-task policy is fine-tuned
            per (arm, N, seed) on N demos of every target (task, robot).
        pretrain_episodes: expert demos per pre-training (task, robot).
        demos: the N values; target demos are drawn from a pool of ``pool`` per task,
            a different subset per seed, the same subset for every arm (paired design).
        pool: target demos recorded per task (None: max(demos)). Subsets are drawn from
            the first ``pool`` of them, so a run of one N (``--metaworld.demos 5``) trains
            on the full grid's subsets, not on 5 demos shared by every seed; at N = pool
            every seed gets all of them.
        seeds: training seeds (also choose the demo subsets).
        arms: comparison arms (default ``ARMS``; ``LATENT_ARMS``, ``rehearsal``,
            ``ate_rehearsal`` and ``action_space`` when named).
        eval_episodes: evaluation episodes per target (task, robot); seeds from 1e9 up.
        eval_batch: environments stepped in lock step (one batched policy call per
            re-plan). Building an environment costs 0.3 s / 37 MB (Meta-World) and 1.9 s /
            170 MB (robosuite), so a batch of 50 spends more time building than 10 saves
            in policy calls; results differ from another batch only by sampling noise.
        execute: actions executed from each predicted chunk before re-planning.
        max_steps: evaluation step limit (None: the suite's own).
        chunk_length / obs_horizon: H and the observation history of policy and VAE.
        policy: policy family and size.
        pretrain_steps / finetune_steps: optimiser steps of policy pre-training and of each
            fine-tuning (every arm gets the same number).
        lengths: fine-tuning lengths as a grid axis (like ``demos``); empty: ``finetune_steps``
            alone. Each (arm, N, seed) trains once, to the longest, and is evaluated at each
            length (the L-step job is the first L steps of the longer run: see
            ``ate.bench.jobs``). A length other than ``finetune_steps`` trains in
            ``runs/<arm>/n<N>-s<seed>-k<length>``.
        retention_tasks: pre-training tasks on which every fine-tuned policy (and the
            pre-trained one, "before") is also evaluated, with the pre-training normalisers:
            what fine-tuning on the targets alone keeps of them (Meta-World).
        val_demos: expert demos per target (task, robot) recorded apart from the pool (their
            own seeds) as a validation set: each job reports the policy's loss on them.
        batch_size / lr: policy optimiser batch and learning rate.
        vae_pretrain_steps / vae_adapt_steps: optimiser steps of Align's stage 1 and of each
            stage-2 (and single-stage) VAE.
        vae: the VAEs' architecture (default: the CPU preset of configs/align/cpu.yaml).
        prior: how stage 1 estimates q_phi (the prior-estimator variant).
        adapt: stage 2's KL direction, MMD reference, initialisation and KL weight.
        guidance: Steer settings of the ATE arms (the tilted arm flips ``sign``); default
            the paper's setting in the authors' arithmetic (release preset, lambda 2).
        latent_loss: the latent term of the ``latent_*`` arms (its ``kind`` is the arm's);
            tag each strength (``--metaworld.latent-loss.beta 0.3 --metaworld.tag b0.3``).
        rehearsal_share: the ``rehearsal`` and ``ate_rehearsal`` arms' share of
            pre-training chunks in every epoch (the rest: each target chunk once), in
            (0, 1); tag each value.
        workers: processes for demo generation, fine-tuning and evaluation.
        tag: a name for a variant (e.g. ``lam0.5``): its arms train in ``runs/<arm>-<tag>``
            and its report is ``results-<tag>.md``, while demos, cached pre-training and the
            VAEs are shared with the untagged suite in the same ``out``.
    """

    suite: Literal["metaworld", "robosuite", "robosuite-eef"] = "metaworld"
    pretrain_tasks: tuple[str, ...] = ML45_TRAIN
    pretrain_robots: tuple[str, ...] = ()
    target_tasks: tuple[str, ...] = ML45_TEST
    target_robots: tuple[str, ...] = ()
    pretrain_episodes: int = 50
    demos: tuple[int, ...] = (5, 10, 25)
    pool: int | None = 25
    seeds: tuple[int, ...] = (0, 1, 2)
    arms: tuple[Arm, ...] = ARMS
    eval_episodes: int = 50
    eval_batch: int = 10
    execute: int = 8
    max_steps: int | None = 200
    chunk_length: int = 16
    obs_horizon: int = 2
    policy: PolicyConfig = field(default_factory=lambda: PolicyConfig(
        kind="flow", width=128, layers=4, heads=4, inference_steps=10))
    pretrain_steps: int = 3000
    finetune_steps: int = 300
    lengths: tuple[int, ...] = ()
    retention_tasks: tuple[str, ...] = ()
    val_demos: int = 0
    batch_size: int = 64
    lr: float = 3e-4
    vae_pretrain_steps: int = 1500
    vae_adapt_steps: int = 300
    vae: ModelConfig = field(default_factory=lambda: ModelConfig(
        latent_dim=32, hidden_dim=64, num_layers=3, num_heads=4, ff_dim=128))
    prior: PriorConfig = field(default_factory=PriorConfig)
    adapt: AdaptConfig = field(default_factory=lambda: AdaptConfig(kl_weight=1e-2))
    guidance: GuidanceConfig = field(default_factory=lambda: GuidanceConfig.release(lam=2.0))
    latent_loss: LatentLossConfig = field(default_factory=LatentLossConfig)
    rehearsal_share: float = 0.5
    workers: int = 2
    tag: str = ""

    def __post_init__(self) -> None:
        if not self.target_tasks or not self.pretrain_tasks:
            raise ConfigError("a suite needs pretrain_tasks and target_tasks.")
        if self.suite.startswith("robosuite") and not (self.pretrain_robots
                                                       and self.target_robots):
            raise ConfigError("robosuite suites need pretrain_robots and target_robots.")
        if not self.demos or min(self.demos) < 1:
            raise ConfigError("demos must hold positive demo counts, e.g. (5, 10, 25).")
        if self.pool is not None and self.pool < max(self.demos):
            raise ConfigError(f"pool = {self.pool} is smaller than the largest N, "
                              f"{max(self.demos)}: set pool >= max(demos) or leave it unset.")
        if min(self.eval_episodes, self.eval_batch, self.finetune_steps, *self.lengths) < 1:
            raise ConfigError("eval_episodes, eval_batch, finetune_steps and lengths must be "
                              ">= 1.")
        if self.val_demos < 0:
            raise ConfigError("val_demos must be >= 0.")
        if not 0 < self.rehearsal_share < 1:
            raise ConfigError(f"rehearsal_share = {self.rehearsal_share}: give the share of "
                              "pre-training chunks per epoch, strictly between 0 and 1.")
        unknown = sorted(set(self.retention_tasks) - set(self.pretrain_tasks))
        if unknown:
            raise ConfigError(f"retention_tasks {unknown} are not pre-training tasks; choose "
                              "from pretrain_tasks.")
        if self.retention_tasks and self.target_robots:
            raise ConfigError("retention_tasks are measured on single-robot suites "
                              "(Meta-World): a fine-tuned policy acts in the target arm's "
                              "slots, not the pre-training arms'.")

    @property
    def grid_lengths(self) -> tuple[int, ...]:
        """The fine-tuning lengths of the grid, shortest first."""
        return tuple(sorted(set(self.lengths or (self.finetune_steps,))))

    @property
    def pool_size(self) -> int:
        """Target demos recorded per (task, robot): ``pool``, or max(demos) when unset."""
        return self.pool or max(self.demos)


def robosuite_default() -> SuiteConfig:
    """Cross-embodiment: four 7-DoF arms pre-trained on Lift and Stack, adapted to UR5e
    (6-DoF, Robotiq gripper)."""
    return SuiteConfig(
        suite="robosuite", pretrain_tasks=("Lift", "Stack"),
        pretrain_robots=("Panda", "Sawyer", "IIWA", "XArm7"), target_tasks=("Lift", "Stack"),
        target_robots=("UR5e",), pretrain_episodes=40, max_steps=None)


def robosuite_eef_default() -> SuiteConfig:
    """Cross-embodiment where actions share their meaning: the same four 7-DoF arms and
    tasks, every arm commanding its end effector through OSC_POSE (7-d deltas + gripper on
    every arm), adapted to UR5e (or, as a config value, Kinova3)."""
    return replace(robosuite_default(), suite="robosuite-eef")


@dataclass
class BenchConfig:
    """``ate bench``: which suites run, and each suite's settings.

    Attributes:
        suite: ``metaworld``, ``robosuite``, ``robosuite-eef`` or ``all`` (the first two).
        metaworld: the cross-task suite.
        robosuite: the cross-embodiment suite, joint-position actions.
        robosuite_eef: the cross-embodiment suite, end-effector actions
            (``--robosuite-eef.*`` on the command line).
        out: working folder: demos, cached pre-training, every run, results.md/json, plots.
    """

    suite: Literal["metaworld", "robosuite", "robosuite-eef", "all"] = "metaworld"
    metaworld: SuiteConfig = field(default_factory=SuiteConfig)
    robosuite: SuiteConfig = field(default_factory=robosuite_default)
    robosuite_eef: SuiteConfig = field(default_factory=robosuite_eef_default)
    out: str = "runs/bench"

    def selected(self) -> list[SuiteConfig]:
        """The suites this run covers."""
        names = ("metaworld", "robosuite") if self.suite == "all" else (self.suite,)
        return [getattr(self, n.replace("-", "_")) for n in names]


def quick(config: SuiteConfig) -> SuiteConfig:
    """A tiny version of a suite: two pre-training and one target (task, robot), N = 2,
    one seed, a few steps and episodes (for tests and smoke runs, not for conclusions)."""
    return replace(
        config, pretrain_tasks=config.pretrain_tasks[:2], target_tasks=config.target_tasks[:1],
        pretrain_robots=config.pretrain_robots[:2], target_robots=config.target_robots[:1],
        pretrain_episodes=3, demos=(2,), pool=None, seeds=(0,), eval_episodes=2, max_steps=40,
        policy=replace(config.policy, width=32, layers=1, inference_steps=2),
        pretrain_steps=4, finetune_steps=3, vae_pretrain_steps=4, vae_adapt_steps=3,
        batch_size=16, workers=1, lengths=(3, 6) if config.lengths else (),
        retention_tasks=config.pretrain_tasks[:1] if config.retention_tasks else (),
        val_demos=min(config.val_demos, 2))
