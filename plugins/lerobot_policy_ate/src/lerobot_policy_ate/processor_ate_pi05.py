"""Pre- and post-processing of ``ate_pi05``: the stock PI05's."""

from lerobot.policies.pi05.processor_pi05 import make_pi05_pre_post_processors

make_ate_pi05_pre_post_processors = make_pi05_pre_post_processors
