"""Pre- and post-processing of ``ate_pi0``: the stock PI0's."""

from lerobot.policies.pi0.processor_pi0 import make_pi0_pre_post_processors

make_ate_pi0_pre_post_processors = make_pi0_pre_post_processors
