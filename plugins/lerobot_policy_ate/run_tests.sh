#!/usr/bin/env bash
# The plugin's tests against the real lerobot 0.6.1, in its own Python 3.12 environment
# (lerobot 0.6.1 needs Python >= 3.12 and torch < 2.12; the core's CI environment is 3.11).
# Creates .venv-lerobot at the repository root on first use (~6 GB: PyPI's torch for 3.12 is
# a CUDA build, which runs on the CPU), then reuses it.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-lerobot
if [ ! -x "$venv/bin/python" ]; then
  PYENV_VERSION=3.12.1 python3.12 -m venv "$venv"
fi
"$venv/bin/pip" install -q -e ".[metaworld]" -e "plugins/lerobot_policy_ate[dev]"
HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 "$venv/bin/python" -m pytest -q plugins/lerobot_policy_ate/tests
