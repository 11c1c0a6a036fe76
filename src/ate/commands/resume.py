"""``--resume``: the run's own saved config, with only the settings that are safe to change
mid-run taken from the command line; any other flag is refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from ate.config import diff_fields, from_dict, to_dict
from ate.errors import ConfigError

T = TypeVar("T")

# Changing these mid-run leaves the data order, the model and the optimiser's state as they
# were: the learning rate and clip of the steps still to come, the run's length, cadences,
# and the device (checkpoints hold none: a GPU run continues on a CPU and back).
RESUMABLE = ("optim.lr", "optim.grad_clip", "train.epochs", "train.max_steps",
             "train.log_every", "train.val_every", "train.save_every", "train.device")


def merge_resume(given: T, saved: T, resume: Path) -> T:
    """``saved`` with the command line's changes to ``RESUMABLE`` fields applied.

    What the command line changed is what ``given`` sets apart from the config class's
    defaults (a flag set to its default value cannot be told from no flag). The trainer
    records the applied changes in the run's history (``config.json``).

    Raises:
        ConfigError: the command line changes a field outside ``RESUMABLE``.
    """
    changed = diff_fields(to_dict(type(given)()), to_dict(given))
    refused = [name for name in changed if name not in RESUMABLE]
    if refused:
        shown = ", ".join(refused[:6]) + (f" and {len(refused) - 6} more" if len(refused) > 6
                                          else "")
        raise ConfigError(
            f"--resume {resume} continues the run with its own settings, so {shown} cannot "
            f"change (on resume only {', '.join(RESUMABLE)} can; --config counts as setting "
            "every field in it). Drop them, or start a new run in another --out.")
    data = to_dict(saved)
    for name, (_, new) in changed.items():
        *parents, leaf = name.split(".")
        section = data
        for part in parents:
            section = section[part]
        section[leaf] = new
    return from_dict(type(saved), data, f"--resume {resume}")
