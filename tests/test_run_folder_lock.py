"""One writer per run folder: a second run on the same --out is refused with one line naming
the holder, and a lock left by a killed process is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import ate
from ate.cli import main
from ate.config import save_yaml
from ate.errors import ConfigError
from ate.folder_lock import exclusive

from .align_helpers import make_robots, tiny_config

SRC = str(Path(ate.__file__).resolve().parents[1])


def _env() -> dict[str, str]:
    paths = [SRC, *filter(None, [os.environ.get("PYTHONPATH")])]  # keep a PYTHONPATH's site
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1"}


def test_two_runs_started_together_on_one_out_one_is_refused(tmp_path) -> None:
    pre, tgt = make_robots(tmp_path, episodes=6)
    save_yaml(tiny_config(pre, tgt, epochs=400, max_steps=150, device="cpu",
                          val_every=50, save_every=50, log_every=50), tmp_path / "tiny.yaml")
    out = tmp_path / "run"
    procs = {seed: subprocess.Popen(
        [sys.executable, "-m", "ate", "align", "pretrain", "--config", str(tmp_path / "tiny.yaml"),
         "--out", str(out), "--train.seed", str(seed)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed in (1, 2)}
    done = {seed: (p.wait(timeout=300), p.stdout.read(), p.stderr.read())
            for seed, p in procs.items()}
    codes = sorted(rc for rc, _, _ in done.values())
    assert codes == [0, 2], done
    winner = next(seed for seed, (rc, _, _) in done.items() if rc == 0)
    loser_err = next(err for rc, _, err in done.values() if rc == 2)
    assert "Traceback" not in loser_err
    # together: the lock refuses; if one finished before the other started: the run check
    assert ("another run is writing there (pid" in loser_err
            or "already holds a stage1 run" in loser_err), loser_err
    meta = json.loads((out / "last/config.json").read_text())
    assert meta["align"]["train"]["seed"] == winner and meta["step"] == 150


def test_a_held_folder_is_refused_naming_the_holder(tmp_path, capsys) -> None:
    pre, tgt = make_robots(tmp_path, episodes=4)
    save_yaml(tiny_config(pre, tgt), tmp_path / "tiny.yaml")
    with exclusive(tmp_path / "run", "run"):
        code = main(["align", "pretrain", "--config", str(tmp_path / "tiny.yaml"),
                     "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"(pid {os.getpid()}: " in err and err.count("\n") == 1
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".lock"]


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, caplog) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from ate.folder_lock import exclusive\n"
         f"with exclusive(Path({str(tmp_path)!r}), 'run'):\n"
         "    print('held', flush=True)\n    time.sleep(60)\n"],
        env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"another run is writing there \(pid {holder.pid}"):
            with exclusive(tmp_path, "run"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with exclusive(tmp_path, "run"):
        assert (tmp_path / ".lock").read_text().startswith(f"{os.getpid()} ")
    assert f"pid {holder.pid}" in caplog.text and "killed" in caplog.text
    assert (tmp_path / ".lock").read_text() == ""  # a clean exit leaves no holder behind


def test_an_out_that_cannot_be_created_is_one_line(tmp_path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    pre, tgt = make_robots(tmp_path, episodes=4)
    save_yaml(tiny_config(pre, tgt), tmp_path / "tiny.yaml")
    code = main(["align", "pretrain", "--config", str(tmp_path / "tiny.yaml"),
                 "--out", str(tmp_path / "file/run")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write there" in err and "Traceback" not in err
