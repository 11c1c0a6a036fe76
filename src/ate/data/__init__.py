"""Action data: episodes from disk, chunk windows, normalisers, embodiment slots."""

from ate.data.chunks import ChunkDataset, MixedChunkDataset, collate_chunks
from ate.data.config import DataConfig, SlotConfig
from ate.data.episodes import Episodes, RawEpisode
from ate.data.formats import FORMATS, detect_format
from ate.data.formats.hdf5 import write_episode_files as write_hdf5_episodes
from ate.data.formats.lerobot import write_lerobot
from ate.data.load import load_episodes
from ate.data.normalizer import Normalizer
from ate.data.prepare import PreparedChunks, prepare_chunks
from ate.data.slots import EmbodimentSlots, rdt_slot
from ate.data.split import split_episodes
from ate.data.summary import summarize

__all__ = [
    "FORMATS",
    "ChunkDataset",
    "DataConfig",
    "EmbodimentSlots",
    "Episodes",
    "MixedChunkDataset",
    "Normalizer",
    "PreparedChunks",
    "RawEpisode",
    "SlotConfig",
    "collate_chunks",
    "detect_format",
    "load_episodes",
    "prepare_chunks",
    "rdt_slot",
    "split_episodes",
    "summarize",
    "write_hdf5_episodes",
    "write_lerobot",
]
