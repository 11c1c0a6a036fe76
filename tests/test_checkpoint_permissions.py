"""Every file of a checkpoint folder gets the mode a plain open gives (safetensors writes
0600 on its own), so weights are as readable as the config.json beside them."""

from __future__ import annotations

import stat

import torch
from safetensors.torch import save_file

from ate.checkpoint import write_folder_atomically


def test_weights_are_as_readable_as_the_json_beside_them(tmp_path) -> None:
    def write(folder) -> None:
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        save_file({"w": torch.zeros(2)}, str(folder / "model.safetensors"))

    write_folder_atomically(tmp_path / "ckpt", write)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "ckpt").iterdir()}
    assert modes["model.safetensors"] == modes["config.json"]
