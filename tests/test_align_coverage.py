"""The stage-1 coverage numbers: masked RMS against a closed form, and their warnings."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ate.align.coverage import coverage, coverage_warnings, reconstruction_rms
from ate.data.chunks import spaced_chunks

g = torch.Generator().manual_seed(0)


class OffsetVAE(nn.Module):
    """decode(encode(x)) = x + offset exactly (the latent is the chunk itself)."""

    def __init__(self, offset: float, action_dim: int) -> None:
        super().__init__()
        self.offset = offset
        self.config = type("Config", (), {"action_dim": action_dim})()

    def encode(self, x, step_mask=None):
        return x.flatten(1), torch.zeros(1)

    def decode(self, z, length):
        return z.view(len(z), length, -1) + self.offset


def test_rms_counts_only_real_steps_and_dims() -> None:
    x = torch.randn(10, 6, 3, generator=g)
    steps = torch.ones(10, 6, dtype=torch.bool)
    steps[:, 4:] = False
    dims = torch.tensor([True, True, False])
    vae = OffsetVAE(0.3, 3)
    assert reconstruction_rms(vae, x, steps, dims) == pytest.approx(0.3)
    assert reconstruction_rms(vae, x) == pytest.approx(0.3)

    class PaddingWrong(OffsetVAE):  # errs by 5 where nothing is real, 0.3 elsewhere
        def decode(self, z, length):
            out = z.view(len(z), length, -1) + 0.3
            out[:, 4:] += 4.7
            out[..., 2] += 4.7
            return out

    bad = PaddingWrong(0.0, 3)
    assert reconstruction_rms(bad, x, steps, dims, batch_size=3) == pytest.approx(0.3)
    # unmasked, the padding counts: of 18 entries per chunk 8 err by 0.3, 8 by 5 (padded
    # step or dim) and 2 by 9.7 (both)
    full = ((8 * 0.3**2 + 8 * 5.0**2 + 2 * 9.7**2) / 18) ** 0.5
    assert reconstruction_rms(bad, x) == pytest.approx(full)


def test_coverage_ratio_and_its_warnings() -> None:
    x = torch.randn(20, 4, 2, generator=g)
    batch = {"action": x, "step_mask": torch.ones(20, 4, dtype=torch.bool),
             "action_mask": torch.ones(20, 2, dtype=torch.bool)}
    cov = coverage(OffsetVAE(0.2, 2), batch, {"noise": x}, pretraining=batch)
    assert cov["ratio"] == pytest.approx(1.0) and cov["control: noise"] == pytest.approx(0.2)
    (warning,) = coverage_warnings(cov)  # the control reconstructs as well as the target
    assert "noise chunks about as well" in warning
    assert coverage(OffsetVAE(0.2, 2), batch, {}, None)["ratio"] is None
    uncovered = {"pre-training": 0.1, "target": 0.2, "control: noise": 0.6, "ratio": 2.0}
    (warning,) = coverage_warnings(uncovered)
    assert "2.0x worse" in warning and "unlike the pre-training" in warning
    # an uncovered target is expected to reconstruct about as badly as a control: one warning
    assert coverage_warnings({**uncovered, "control: noise": 0.21}) == [warning]
    assert coverage_warnings({**uncovered, "target": 0.14, "ratio": 1.4}) == []


def test_spaced_chunks_reach_the_end_of_the_dataset() -> None:
    class Rows:
        def __len__(self):
            return 1001

        def __getitems__(self, idx):
            return {"index": torch.tensor(idx)}

    idx = spaced_chunks(Rows(), 11)["index"].tolist()
    assert idx == list(range(0, 1001, 100)) and spaced_chunks(Rows(), 5000)["index"].numel() \
        == 1001


def test_the_align_report_measures_coverage_when_the_slots_match(tmp_path) -> None:
    from ate.align.report import pretraining_splits
    from ate.align.vae import ActionVAE
    from ate.cli import main
    from ate.config import save_yaml

    from .align_helpers import make_robots, tiny_config

    pre, tgt = make_robots(tmp_path, pretrain_dim=4, target_dim=4)
    save_yaml(tiny_config(pre, tgt, epochs=2), tmp_path / "tiny.yaml")
    assert main(["align", "run", "--config", str(tmp_path / "tiny.yaml"), "--pretrain-data",
                 str(pre), "--target-data", str(tgt), "--out", str(tmp_path / "run")]) == 0
    cov = json.loads((tmp_path / "run/report/report.json").read_text())["coverage"]
    assert set(cov) == {"pre-training", "target", "control: time-shuffled",
                        "control: uniform noise", "ratio"}
    assert cov["ratio"] == pytest.approx(cov["target"] / cov["pre-training"])
    stage1 = tmp_path / "run/stage1/best"
    (val, _), = pretraining_splits(stage1).values()
    batch = spaced_chunks(val, 2048)
    again = reconstruction_rms(ActionVAE.from_pretrained(stage1), batch["action"],
                               batch["step_mask"], batch["action_mask"])
    assert cov["pre-training"] == pytest.approx(again, rel=1e-6)


def test_coverage_without_pretraining_data_on_disk_has_no_ratio() -> None:
    from ate.align.report import stage1_coverage

    x = torch.randn(6, 4, 2, generator=g)
    target = {"action": x, "step_mask": torch.ones(6, 4, dtype=torch.bool),
              "action_mask": torch.ones(6, 2, dtype=torch.bool)}
    cov = stage1_coverage(OffsetVAE(0.1, 2), [], target, {})
    assert cov["pre-training"] is None and cov["ratio"] is None
    assert cov["target"] == pytest.approx(0.1) and coverage_warnings(cov) == []
    assert stage1_coverage(OffsetVAE(0.1, 3), [], target, {}) is None  # other slot count
