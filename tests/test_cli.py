"""The ``ate`` command as a user runs it (in-process, and once as a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ate import __version__
from ate.cli import main
from ate.data import load_episodes, write_hdf5_episodes

from .conftest import random_episodes


def test_inspect_json_matches_the_data(rng, tmp_path, capsys) -> None:
    arrays = random_episodes(rng, n=4, dim=3, lengths=(10, 20))
    arrays[1][:, 2] = 0.5  # a constant dim...
    for a in arrays:
        a[:, 2] = 0.5
    arrays[3][2, 0] = np.nan  # ...and one bad episode
    write_hdf5_episodes(tmp_path, arrays)
    assert main(["data", "inspect", str(tmp_path), "--json", "--chunk-length", "12"]) == 0
    out = json.loads(capsys.readouterr().out)
    lengths = [len(a) for a in arrays]
    stacked = np.concatenate(arrays)
    assert out["format"] == "hdf5" and out["action_key"] == "qpos"
    assert out["episodes"] == 4 and out["steps"] == sum(lengths) and out["action_dim"] == 3
    assert out["length"] == {"min": min(lengths), "median": float(np.median(lengths)),
                             "max": max(lengths)}
    assert out["constant_dims"] == [2]
    assert out["nonfinite_episodes"] == 1 and out["dims"][0]["nonfinite"] == 1
    np.testing.assert_allclose(out["dims"][1]["std"], stacked[:, 1].std(), rtol=1e-5)
    np.testing.assert_allclose(out["dims"][0]["max"], np.nanmax(stacked[:, 0]), rtol=1e-6)
    assert out["chunks"]["windows"] == sum(max(n - 11, 0) for n in lengths)


def test_inspect_tables(rng, tmp_path, capsys) -> None:
    write_hdf5_episodes(tmp_path, random_episodes(rng, n=3))
    assert main(["data", "inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "hdf5" in out and "per action dim" in out and "episodes" in out


def test_synth_writes_readable_datasets(tmp_path) -> None:
    assert main(["data", "synth", "--out", str(tmp_path), "--dims", "3", "5", "--episodes",
                 "4", "--to", "lerobot"]) == 0
    assert load_episodes(tmp_path / "d3").dim == 3
    five = load_episodes(tmp_path / "d5")
    assert five.dim == 5 and len(five) == 4 and five.format == "lerobot"


def test_usage_errors_and_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert main(["frobnicate"]) == 2
    assert main(["data", "inspect"]) == 2  # missing PATH: tyro's usage error


def test_console_script_runs_demo(tmp_path) -> None:
    pytest.importorskip("metaworld")
    result = subprocess.run([sys.executable, "-m", "ate", "demo", "--out", str(tmp_path),
                             "--quick"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    # the results table, then the alignment report, are printed
    assert "Success rate" in result.stdout and "ate_paper" in result.stdout
    assert "alignment: target latents" in result.stdout
    assert load_episodes(tmp_path / "metaworld/data/pool", obs_key="observations/state"
                         ).obs_dim == 39
    report = json.loads((tmp_path / "align-report/report.json").read_text())
    assert {"aligned", "single_stage"} <= set(report["latents"])
    assert (tmp_path / "results.md").is_file()


def test_prepare_yaml_config_with_overrides(rng, tmp_path, capsys) -> None:
    from ate.commands.data import PrepareConfig
    from ate.config import load_yaml
    from ate.data import Normalizer

    write_hdf5_episodes(tmp_path / "ds", random_episodes(rng, n=5, lengths=(30, 40)))
    cfg = tmp_path / "prep.yaml"
    cfg.write_text(f"data:\n  path: {tmp_path / 'ds'}\n  chunk_length: 64\n"
                   "  slots: {layout: pad, size: 8}\n")
    # 64 is longer than every episode: the YAML alone fails, the override fixes it
    assert main(["data", "prepare", "--config", str(cfg)]) == 2
    assert "longer than every episode" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main(["data", "prepare", "--config", str(cfg), "--data.chunk-length", "8",
                 "--out", str(out)]) == 0
    saved = load_yaml(PrepareConfig, out / "config.yaml")
    assert saved.data.chunk_length == 8 and saved.data.slots.size == 8
    assert Normalizer.load(out / "normalizer.json").dim == 3
    assert main(["data", "prepare", "--config", str(cfg), "--data.chunk-length", "0"]) == 2
    cfg.write_text("data:\n  chunk_len: 3\n")
    assert main(["data", "prepare", "--config", str(cfg)]) == 2
    assert "unknown field(s) ['chunk_len']" in capsys.readouterr().err


@pytest.mark.parametrize("argv,expected", [
    (["finetune", "--data.chunk-lenght", "3"], "Perhaps you meant: --data.chunk-length"),
    (["finetune", "--bogus"], "Unrecognized options: --bogus"),
    (["eval"], "Missing from ate eval: --policy"),
    (["data", "frob"], "Available subcommands: inspect, convert"),
])
def test_a_usage_error_is_one_line(argv, expected, capsys) -> None:
    """tyro's boxes (unknown flag, missing flag, unknown subcommand) become one line, exit 2,
    naming the fix and where the options are listed."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err
    assert "--help` lists every option" in err and "╭" not in err
