"""The run folder of `midigan train`: the files a run writes, starting over, reading back a checkpoint.

A run folder holds ``config.toml`` and ``run.json`` (the resolved configuration and the
seed, :mod:`midigan.train.config`), ``train_log.jsonl``, ``data_log.jsonl`` (one row per
corpus file, :mod:`midigan.train.data_report`) and one checkpoint folder per phase
(``mle/``, ``gan/``). What `--resume` reads back is checked before the trainer
touches it: a checkpoint damaged on disk or edited by hand is refused with one
:class:`~midigan.errors.CheckpointError` line naming the file and the field, never a
traceback in the middle of training.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from midigan.errors import CheckpointError
from midigan.model.checkpoint import (
    MODEL_FILE,
    TRAINER_META,
    check_finite,
    read_config,
    read_tensors,
    read_trainer_state,
    recover_folder,
)
from midigan.train.config import RUN_CONFIG_FILE, RUN_FILE
from midigan.train.data_report import DATA_LOG_FILE

PHASES = ("mle", "gan")
LOG_FILE = "train_log.jsonl"
OPTIMIZERS = {"mle": ("g",), "gan": ("g", "d")}  # the optimizers each phase checkpoints
_TRAINER_KEYS = {"position": True, "optimizers": True, "scaler": False}  # key -> required


@dataclass
class Position:
    """Where a run stands; saved in every checkpoint's trainer.json."""

    phase: str = "mle"
    epoch: int = 0
    batch: int = 0  # next batch of `epoch`
    phase_step: int = 0
    step: int = 0  # optimizer steps over both phases
    phase_done: bool = False


@dataclass
class ResumeState:
    """A checkpoint read back and checked for `--resume` (see :func:`read_resume_state`)."""

    folder: Path
    phase: str
    config: dict[str, Any]  # the checkpoint's config.json
    weights: dict[str, torch.Tensor]  # the generator's
    tensors: dict[str, torch.Tensor]  # trainer.safetensors: optimizer moments, critic, RNG states
    position: Position
    optimizers: dict[str, Any]  # per optimizer: param_groups and plain state (JSON)
    scaler: dict[str, Any] | None


def clear_previous_run(out: Path) -> None:
    """Remove what an earlier run wrote in `out` (`--force`); other files stay."""
    names = [RUN_CONFIG_FILE, RUN_FILE, LOG_FILE, DATA_LOG_FILE]
    for phase in PHASES:
        names += [phase, f".{phase}.old", *(p.name for p in out.glob(f".{phase}.*.tmp"))]
    for name in names:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def latest_checkpoint(out: Path) -> tuple[str, Path]:
    """The phase and folder of the run's last resumable checkpoint.

    Raises:
        CheckpointError: neither mle/ nor gan/ holds training state.
    """
    for phase in reversed(PHASES):
        folder = recover_folder(out / phase)
        if (folder / TRAINER_META).exists():
            return phase, folder
    raise CheckpointError(f"{out}: no checkpoint to resume (no mle/ or gan/ with trainer.json)")


def read_resume_state(out: Path) -> ResumeState:
    """Read and check the last checkpoint of the run folder `out`.

    Raises:
        CheckpointError: nothing to resume, or a file or field that is missing,
            unreadable, of the wrong type, or holds NaN / Inf weights.
    """
    phase, folder = latest_checkpoint(out)
    tensors, meta = read_trainer_state(folder)
    where = folder / TRAINER_META
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: not a table of training state; the checkpoint is damaged")
    unknown = sorted(set(meta) - set(_TRAINER_KEYS))
    missing = sorted(k for k, required in _TRAINER_KEYS.items() if required and k not in meta)
    if unknown or missing:
        what = "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else [])
            + ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
        )
        raise CheckpointError(f"{where}: {what}; the checkpoint is damaged")
    config = read_config(folder)
    weights = read_tensors(folder / MODEL_FILE)
    check_finite(weights, folder / MODEL_FILE)
    check_finite(
        {k: v for k, v in tensors.items() if k.startswith("critic.")}, folder / "trainer.safetensors"
    )
    scaler = meta.get("scaler")
    if scaler is not None and not isinstance(scaler, dict):
        raise CheckpointError(f"{where}: 'scaler' must be a table or null (got {scaler!r})")
    return ResumeState(
        folder=folder,
        phase=phase,
        config=config,
        weights=weights,
        tensors=tensors,
        position=position_from_json(meta["position"], phase, where),
        optimizers=_optimizer_meta(meta["optimizers"], phase, where),
        scaler=scaler,
    )


def position_from_json(data: Any, phase: str, where: Path) -> Position:
    """The :class:`Position` stored in trainer.json, every field present and of its type.

    Raises:
        CheckpointError: a missing or unknown field, a wrong type, a negative count, or
            a phase other than the checkpoint folder's.
    """
    if not isinstance(data, dict):
        raise CheckpointError(f"{where}: 'position' must be a table (got {data!r})")
    names = [f.name for f in fields(Position)]
    missing, unknown = sorted(set(names) - set(data)), sorted(set(data) - set(names))
    if missing or unknown:
        detail = f"missing {', '.join(missing)}" if missing else f"unknown key(s) {', '.join(unknown)}"
        raise CheckpointError(f"{where}: position has {detail}; the checkpoint is damaged")
    for name in ("epoch", "batch", "phase_step", "step"):
        value = data[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CheckpointError(f"{where}: position.{name} must be a count >= 0 (got {value!r})")
    if not isinstance(data["phase_done"], bool):
        raise CheckpointError(
            f"{where}: position.phase_done must be true or false (got {data['phase_done']!r})"
        )
    if data["phase"] != phase:
        raise CheckpointError(f"{where}: position.phase is {data['phase']!r} in the {phase}/ checkpoint")
    return Position(**data)


def _optimizer_meta(data: Any, phase: str, where: Path) -> dict[str, Any]:
    """The optimizers' JSON state: one table per optimizer of `phase`, each with its groups."""
    expected = OPTIMIZERS[phase]
    if not isinstance(data, dict) or sorted(data) != sorted(expected):
        got = sorted(data) if isinstance(data, dict) else data
        raise CheckpointError(f"{where}: 'optimizers' must hold {', '.join(expected)} (got {got!r})")
    for name, value in data.items():
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("param_groups"), list)
            or not all(isinstance(g, dict) for g in value["param_groups"])
            or not isinstance(value.get("plain_state", {}), dict)
        ):
            raise CheckpointError(
                f"{where}: optimizers.{name} is not an optimizer state; the checkpoint is damaged"
            )
    return data
