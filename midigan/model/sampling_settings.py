"""A checkpoint's tuned sampling: read it, and write a new choice into its config.json.

The temperature and the head shares (:class:`~midigan.model.stepper.HeadTemperatures`) are
chosen after training, by comparing settings with `midigan evaluate --user-path` on the
valid split. :func:`set_sampling` records the choice in the checkpoint (`run.sampling` of
config.json) so that `compose`, `vary`, `interpolate` and `evaluate` use it without options;
the weights are not touched. `midigan set-sampling` is the command.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from midigan.errors import ConfigError
from midigan.io.atomic import write_atomic
from midigan.model.checkpoint import (
    CONFIG_FILE,
    SAMPLING_KEYS,
    in_sampling_range,
    read_config,
    resolve_checkpoint,
    sampling_section,
)
from midigan.model.config import config_json_bytes
from midigan.model.stepper import HeadTemperatures

DEFAULTS = {"temperature": 1.0, **asdict(HeadTemperatures())}
"""What a checkpoint without a value samples at."""


def read_sampling(path: str | Path | None) -> dict[str, float]:
    """The sampling a checkpoint uses when the caller names none (a missing value: its default).

    Raises:
        CheckpointError: not a checkpoint.
    """
    meta = read_config(resolve_checkpoint(path))
    found = sampling_section(meta)
    return {key: float(found.get(key, DEFAULTS[key])) for key in SAMPLING_KEYS}


def set_sampling(path: str | Path, **values: float | None) -> dict[str, float]:
    """Write `values` (any of :data:`SAMPLING_KEYS`; None = keep) into a checkpoint's config.json.

    The file is replaced atomically; every other key is kept as it was.

    Returns:
        The checkpoint's sampling after the change.

    Raises:
        ConfigError: an unknown key, or a value that is not a number in (0, 10].
        CheckpointError: not a checkpoint (or the shipped model: name a folder).
        MidiWriteError: the config cannot be written (read-only folder, full disk).
    """
    unknown = sorted(set(values) - set(SAMPLING_KEYS))
    if unknown:
        raise ConfigError(f"unknown sampling setting {unknown[0]!r}; choose from {', '.join(SAMPLING_KEYS)}")
    for key, value in values.items():
        if value is not None and not in_sampling_range(value):
            raise ConfigError(f"--{key} must be a number above 0 and at most 10 (got {value!r})")
    folder = resolve_checkpoint(Path(path))
    meta = read_config(folder)
    run = meta.setdefault("run", {})
    if not isinstance(run, dict):
        raise ConfigError(
            f"{folder / CONFIG_FILE}: its 'run' section is not a table; retrain or fix the file"
        )
    section = run.setdefault("sampling", {})
    section.update({key: float(value) for key, value in values.items() if value is not None})
    data = config_json_bytes(meta)
    write_atomic(folder / CONFIG_FILE, lambda: data)
    return read_sampling(folder)
