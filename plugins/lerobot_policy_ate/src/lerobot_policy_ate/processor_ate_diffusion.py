"""Pre- and post-processing of ``ate_diffusion``: the stock Diffusion Policy's."""

from lerobot.policies.diffusion.processor_diffusion import make_diffusion_pre_post_processors

make_ate_diffusion_pre_post_processors = make_diffusion_pre_post_processors
