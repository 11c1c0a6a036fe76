"""Tiny pi0 / pi0.5 for CPU tests: LeRobot builds both from hard-coded full-size Gemma and
SigLIP configs, so the two factories are replaced (pytest's monkeypatch) by small ones."""

from __future__ import annotations

import pytest
import torch
from conftest import D, S

WIDTH, VISION, IMAGE = 64, 32, 32


@pytest.fixture
def tiny_pi(monkeypatch):
    """Patch pi0's and pi0.5's config factories for the duration of a test."""
    import lerobot.policies.pi0.modeling_pi0 as pi0
    import lerobot.policies.pi05.modeling_pi05 as pi05
    from transformers import AutoModel, PaliGemmaConfig, SiglipVisionConfig, SiglipVisionModel
    from transformers.models.auto import CONFIG_MAPPING

    class TinyVision(SiglipVisionConfig):
        """LeRobot sets projection_dim to 2048 (PaliGemma-3B's text width) after building the
        config; the tiny text width must win."""

        @property
        def projection_dim(self) -> int:
            return WIDTH

        @projection_dim.setter
        def projection_dim(self, value: int) -> None:
            pass

    class TinyVisionModel(SiglipVisionModel):
        config_class = TinyVision

    AutoModel.register(TinyVision, TinyVisionModel, exist_ok=True)

    def paligemma() -> PaliGemmaConfig:
        config = PaliGemmaConfig()
        config.vision_config = TinyVision(hidden_size=VISION, num_hidden_layers=1,
                                          num_attention_heads=2, intermediate_size=VISION,
                                          patch_size=16, image_size=IMAGE)
        return config

    class Mapping:
        def __getitem__(self, key: str):
            return paligemma if key == "paligemma" else CONFIG_MAPPING[key]

    for module in (pi0, pi05):
        # attention reshapes hard-code 8 heads
        monkeypatch.setattr(module, "get_gemma_config", lambda variant, m=module: m.GemmaConfig(
            width=WIDTH, depth=1, mlp_dim=WIDTH, num_heads=8, num_kv_heads=1, head_dim=8))
        monkeypatch.setattr(module, "CONFIG_MAPPING", Mapping())


def pi_kwargs() -> dict:
    from lerobot.configs.types import FeatureType, PolicyFeature

    return dict(input_features={
        "observation.state": PolicyFeature(type=FeatureType.STATE, shape=(S,)),
        "observation.images.cam": PolicyFeature(type=FeatureType.VISUAL, shape=(3, IMAGE, IMAGE))},
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(D,))},
        chunk_size=16, n_action_steps=8, image_resolution=(IMAGE, IMAGE), device="cpu",
        dtype="float32")


def pi_batch(n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    from lerobot.utils.constants import OBS_LANGUAGE_ATTENTION_MASK, OBS_LANGUAGE_TOKENS

    g = torch.Generator().manual_seed(seed)
    pad = torch.zeros(n, 16, dtype=torch.bool)
    pad[0, -4:] = True
    return {"observation.state": torch.randn(n, S, generator=g),
            "observation.images.cam": torch.rand(n, 3, IMAGE, IMAGE, generator=g),
            OBS_LANGUAGE_TOKENS: torch.randint(7, 100, (n, 6), generator=g),  # no special token
            OBS_LANGUAGE_ATTENTION_MASK: torch.ones(n, 6, dtype=torch.bool),
            "action": torch.randn(n, 16, D, generator=g), "action_is_pad": pad}


def write_tiny_vlm(folder) -> str:
    """A SmolVLM config and processor small enough for a CPU test, written locally (SmolVLA
    with ``load_vlm_weights=False`` reads only these): a word-level tokenizer with SmolVLM's
    special tokens, 32-pixel images, a 2-layer text model."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        SmolVLMConfig,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    special = ["<pad>", "<unk>", "<fake_token_around_image>", "<image>", "<global-img>",
               "<end_of_utterance>", "<|im_start|>"]
    vocab = {t: i for i, t in enumerate(special + [f"w{i}" for i in range(200)])}
    words = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=words, pad_token="<pad>", unk_token="<unk>",
        extra_special_tokens={"fake_image_token": "<fake_token_around_image>",
                              "image_token": "<image>", "global_image_token": "<global-img>",
                              "end_of_utterance_token": "<end_of_utterance>"})
    images = SmolVLMImageProcessor(size={"longest_edge": IMAGE}, do_image_splitting=False,
                                   max_image_size={"longest_edge": IMAGE})
    SmolVLMProcessor(image_processor=images, tokenizer=tokenizer,
                     video_processor=SmolVLMVideoProcessor(), image_seq_len=4
                     ).save_pretrained(folder)
    SmolVLMConfig(text_config=dict(model_type="llama", hidden_size=64, intermediate_size=64,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, vocab_size=len(vocab), head_dim=16),
                  vision_config=dict(hidden_size=VISION, intermediate_size=VISION,
                                     num_hidden_layers=1, num_attention_heads=2,
                                     image_size=IMAGE, patch_size=8),
                  scale_factor=2, image_token_id=vocab["<image>"]).save_pretrained(folder)
    return str(folder)


def smolvla_kwargs(vlm: str) -> dict:
    kwargs = pi_kwargs()
    for key in ("image_resolution", "dtype"):
        kwargs.pop(key)
    return {**kwargs, "vlm_model_name": vlm, "load_vlm_weights": False, "num_vlm_layers": 2,
            "num_expert_layers": 1, "resize_imgs_with_padding": (IMAGE, IMAGE)}
