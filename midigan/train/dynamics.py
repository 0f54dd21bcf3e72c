"""Training the velocity model (`midigan train-dynamics`) on a corpus with real dynamics.

The two corpora do different jobs: the folk corpus teaches the generator pitch and rhythm
(its velocities are a template, so they teach nothing), and the dynamics corpus
(:mod:`midigan.corpus.dynamics`, or any folder of MIDI files whose velocities vary) teaches
this model how loudness follows a melody's metre, phrases and contour. The model reads
only a melody's notes and bar grid, so what it learns on quartets and game songs applies
to any folk melody the generator writes.

Each piece is cut into windows of `window` notes (features computed on the whole piece
first, so "place in the piece" stays true); a window's level is its own mean velocity
(:func:`midigan.corpus.dynamics.level_of`): a quartet movement wanders from pp to ff, and a
composed piece of 16 bars is about one window long, so the level asked for is the level of a
passage that long, and holds. Adam on the bins' cross-entropy; the
weights with the best validation loss are kept and written atomically with their metrics.
"""

from __future__ import annotations

import hashlib
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from midigan.corpus.dynamics import MIN_DISTINCT_VELOCITIES, level_of
from midigan.corpus.manifest import corpus_entries
from midigan.errors import ConfigError, MidiganError
from midigan.io.midi import read_midi
from midigan.model.dynamics import (
    DynamicsConfig,
    DynamicsModel,
    bin_values_of,
    save_dynamics,
    velocity_bins,
)
from midigan.model.dynamics_features import LEVEL_COLUMN, MelodyGrid, features

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DynamicsTraining:
    """Optimisation settings of :func:`fit_dynamics`."""

    steps: int = 700
    batch: int = 32
    lr: float = 3e-3
    window: int = 128  # notes per training window (about a 16-bar folk tune)
    eval_every: int = 100
    seed: int = 0


@dataclass
class Windows:
    """Padded training windows: ids (W, T, 4), values (W, T, C), bins (W, T), mask (W, T)."""

    ids: torch.Tensor
    values: torch.Tensor
    bins: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def windows_of(grids: list[MelodyGrid], config: DynamicsConfig, window: int) -> Windows:
    """Every melody's notes in windows of at most `window`, with their level from its mean."""
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for grid in grids:
        if not len(grid.pitch):
            continue
        ids, values = features(grid, 0)
        ids[:, LEVEL_COLUMN] = window_levels(grid.velocity, window)
        bins = velocity_bins(grid.velocity, config)
        for start in range(0, len(bins), window):
            rows.append(
                (ids[start : start + window], values[start : start + window], bins[start : start + window])
            )
    if not rows:
        raise ConfigError("no melody notes to train the velocity model on")
    T = max(len(b) for _, _, b in rows)
    W = len(rows)
    ids = np.zeros((W, T, rows[0][0].shape[1]), dtype=np.int64)
    values = np.zeros((W, T, rows[0][1].shape[1]), dtype=np.float32)
    bins = np.zeros((W, T), dtype=np.int64)
    mask = np.zeros((W, T), dtype=bool)
    for w, (i, v, b) in enumerate(rows):
        n = len(b)
        ids[w, :n], values[w, :n], bins[w, :n], mask[w, :n] = i, v, b, True
    return Windows(*(torch.from_numpy(a) for a in (ids, values, bins, mask)))


def window_levels(velocity: np.ndarray, window: int) -> np.ndarray:
    """(N,) each note's level id: that of the mean velocity of its window of `window` notes."""
    out = np.zeros(len(velocity), dtype=np.int64)
    for start in range(0, len(velocity), window):
        out[start : start + window] = level_of(float(np.mean(velocity[start : start + window])))
    return out


def window_loss(model: DynamicsModel, data: Windows, index: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats per note) of the windows `index`."""
    ids, values, bins, mask = (t[index] for t in (data.ids, data.values, data.bins, data.mask))
    logits = model(ids, values, bins)  # (B, T, bins)
    return F.cross_entropy(logits[mask], bins[mask])


def evaluate_loss(model: DynamicsModel, data: Windows) -> float:
    """Validation loss over all windows (eval mode, no gradient)."""
    model.eval()
    with torch.no_grad():
        total, count = 0.0, 0
        for start in range(0, len(data), 64):
            index = torch.arange(start, min(start + 64, len(data)))
            notes = int(data.mask[index].sum())
            total += float(window_loss(model, data, index)) * notes
            count += notes
    model.train()
    return total / max(count, 1)


def fit_dynamics(
    train: list[MelodyGrid],
    valid: list[MelodyGrid],
    config: DynamicsConfig | None = None,
    training: DynamicsTraining | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[DynamicsModel, dict[str, Any]]:
    """Train a velocity model on melodies with velocities; returns it and its metrics.

    The weights with the lowest validation loss are returned (the last ones without `valid`).
    None = the defaults of :class:`DynamicsConfig` / :class:`DynamicsTraining`.
    """
    config = config or DynamicsConfig()
    training = training or DynamicsTraining()
    torch.manual_seed(training.seed)
    generator = torch.Generator().manual_seed(training.seed)
    model = DynamicsModel(config)
    model.bin_value.copy_(bin_values_of(np.concatenate([g.velocity for g in train]), config))
    data = windows_of(train, config, training.window)
    held = windows_of(valid, config, training.window) if valid else None
    optimizer = torch.optim.Adam(model.parameters(), lr=training.lr)
    best, best_state, log_rows = float("inf"), None, []
    model.train()
    started = time.perf_counter()
    for step in range(1, training.steps + 1):
        index = torch.randint(len(data), (min(training.batch, len(data)),), generator=generator)
        loss = window_loss(model, data, index)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % training.eval_every == 0 or step == training.steps:
            row: dict[str, Any] = {"step": step, "train_nll": round(float(loss.detach()), 4)}
            if held is not None:
                row["valid_nll"] = round(evaluate_loss(model, held), 4)
            row["seconds"] = round(time.perf_counter() - started, 1)
            score = row.get("valid_nll", row["train_nll"])
            if held is None or score < best:
                best = score
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                row["best"] = True
            log_rows.append(row)
            if progress is not None:
                progress(row)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    metrics = {
        "best_nll": best,
        "log": log_rows,
        "train_windows": len(data),
        "train_notes": int(data.mask.sum()),
        "valid_notes": int(held.mask.sum()) if held else 0,
    }
    return model, metrics


def read_grids(
    corpus: str | Path, split: str | None = None
) -> tuple[dict[str, list[MelodyGrid]], dict[str, int]]:
    """The melodies of a corpus (a built dynamics corpus, or any folder of MIDI files) by split.

    Files that do not read, or whose melody's velocities are flat, are skipped and counted.

    Raises:
        ConfigError: not a corpus folder, or no usable melody at all.
    """
    by_split: dict[str, list[MelodyGrid]] = {"train": [], "valid": [], "test": []}
    skipped = {"unreadable": 0, "flat velocities": 0}
    for entry in corpus_entries(corpus, split):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                grid = MelodyGrid.from_score(read_midi(entry.path))
        except MidiganError:
            skipped["unreadable"] += 1
            continue
        if len(set(grid.velocity.tolist())) < MIN_DISTINCT_VELOCITIES:
            skipped["flat velocities"] += 1
            continue
        by_split[entry.split].append(grid)
    if not by_split["train"]:
        raise ConfigError(f"{corpus}: no training melody with varying velocities")
    return by_split, skipped


def train_dynamics(
    corpus: str | Path,
    out: str | Path,
    *,
    config: DynamicsConfig | None = None,
    training: DynamicsTraining | None = None,
    split: str | None = None,
    temperature: float = 1.0,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train on `corpus` and write the velocity-model folder `out`; returns the summary saved.

    `temperature` is saved as the model's sampling temperature (`sampling.temperature`).
    """
    training = training or DynamicsTraining()
    grids, skipped = read_grids(corpus, split)
    model, metrics = fit_dynamics(grids["train"], grids["valid"], config, training, progress)
    manifest = Path(corpus) / "manifest.jsonl"
    fingerprint = hashlib.sha1(manifest.read_bytes()).hexdigest() if manifest.is_file() else None
    summary = {
        "corpus": {"path": Path(corpus).name, "manifest_sha1": fingerprint, "skipped": skipped,
                   "pieces": {k: len(v) for k, v in grids.items()}},
        "training": asdict(training),
        "sampling": {"temperature": temperature},
        "metrics": metrics,
    }  # fmt: skip
    save_dynamics(model, out, summary)
    return summary
