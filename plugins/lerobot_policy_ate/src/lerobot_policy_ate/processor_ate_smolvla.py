"""Pre- and post-processing of ``ate_smolvla``: the stock SmolVLA's."""

from lerobot.policies.smolvla.processor_smolvla import make_smolvla_pre_post_processors

make_ate_smolvla_pre_post_processors = make_smolvla_pre_post_processors
