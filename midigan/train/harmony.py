"""Training the chord-progression model (:mod:`midigan.model.harmony`) on a corpus's chord labels.

Every piece's timeline gives its chords (roots moved to C): the chord in force at each
bar's downbeat and middle makes its two slots. Teacher-forced cross-entropy over all
slots of the train split, Adam, a fixed number of epochs; the valid split's NLL per
slot is logged. The run is seeded and draws from its own RNG state (torch's global one
is saved and restored), so adding this phase leaves the generator's training unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from midigan.model.harmony import (
    HARMONY_CONFIG,
    HARMONY_WEIGHTS,
    HarmonyConfig,
    HarmonyModel,
    SlotConditions,
    harmony_files,
    load_harmony,
)
from midigan.model.threads import torch_threads
from midigan.representations.streams import PieceTimeline
from midigan.train.config import HarmonyTrainConfig, RunConfig, TrainOptions
from midigan.train.dataset import TokenizedCorpus

log = logging.getLogger(__name__)


def slot_chords(timeline: PieceTimeline) -> np.ndarray:
    """(2 * bars,) chord id in force at each bar's downbeat and middle (0: none yet)."""
    starts = timeline.bar_starts
    ticks = np.stack([starts[:-1], (starts[:-1] + starts[1:]) // 2], 1).reshape(-1)
    if not len(timeline.chord_ids):
        return np.zeros(len(ticks), dtype=np.int64)
    label = np.searchsorted(timeline.chord_ticks, ticks, side="right") - 1
    return np.where(label >= 0, timeline.chord_ids[np.maximum(label, 0)], 0).astype(np.int64)


@dataclass
class SlotData:
    """The slot sequences of some pieces: chords, styles, modes and per-bar meters."""

    chords: list[np.ndarray]
    style: list[int]
    mode: list[int]
    meters: list[np.ndarray]

    @classmethod
    def of(cls, corpus: TokenizedCorpus, pieces: np.ndarray) -> SlotData:
        """The pieces with at least one bar and one chord label (a piece with none teaches nothing)."""
        keep = [
            int(p)
            for p in pieces
            if len(corpus.timelines[p].bar_meter) and corpus.timelines[p].chord_ids.any()
        ]
        return cls(
            [slot_chords(corpus.timelines[p]) for p in keep],
            [int(corpus.style[p]) for p in keep],
            [int(corpus.mode[p]) for p in keep],
            [corpus.timelines[p].bar_meter for p in keep],
        )

    def __len__(self) -> int:
        return len(self.chords)

    def batch(
        self, config: HarmonyConfig, rows: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor, SlotConditions]:
        """Chords (B, S), mask (B, S) and conditions of pieces `rows`, padded to the longest."""
        cond = SlotConditions.build(
            config,
            [self.style[i] for i in rows],
            [self.mode[i] for i in rows],
            [self.meters[i] for i in rows],
        )
        S = cond.meter.shape[1]
        chords = torch.zeros((len(rows), S), dtype=torch.long)
        mask = torch.zeros((len(rows), S), dtype=torch.bool)
        for j, i in enumerate(rows):
            n = len(self.chords[i])
            chords[j, :n] = torch.from_numpy(self.chords[i])
            mask[j, :n] = True
        return chords, mask, cond


def _batches(data: SlotData, batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """One epoch's batches: shuffled, then sorted by length within groups of 20 batches
    (pieces run from 4 to 200+ bars: a random batch would be mostly padding), batches shuffled."""
    order = rng.permutation(len(data)).tolist()
    group = batch_size * 20
    batches = []
    for g in range(0, len(order), group):
        chunk = sorted(order[g : g + group], key=lambda i: len(data.chords[i]))
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def slot_nll(model: HarmonyModel, data: SlotData, batch_size: int) -> float:
    """Mean NLL (nats) per slot of `data` under `model` (NaN when empty)."""
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for lo in range(0, len(data), batch_size):
            chords, mask, cond = data.batch(model.config, list(range(lo, min(lo + batch_size, len(data)))))
            nll = F.cross_entropy(model(chords, cond).transpose(1, 2), chords, reduction="none")
            total += float(nll[mask].sum())
            count += int(mask.sum())
    model.train()
    return total / count if count else float("nan")


def train_harmony(
    train: SlotData, valid: SlotData, cfg: HarmonyTrainConfig, seed: int
) -> tuple[HarmonyModel, dict[str, Any]]:
    """A chord model trained on the slots of `train`; and its record (metrics, settings).

    A train set without pieces gives an untrained model (its record says 0 pieces) rather
    than failing the generator's run.
    """
    config = HarmonyConfig(embed=cfg.embed, hidden=cfg.hidden, temperature=cfg.temperature)
    started = time.time()
    with torch_threads(1):  # small matrices: more threads only wait on each other (5x slower on 2 cores)
        model, history = _fit(train, valid, config, cfg, seed)
        metrics = {
            "train_nll_per_slot": slot_nll(model, train, 256),
            "valid_nll_per_slot": slot_nll(model, valid, 256),
        }
    metrics |= {
        "train_pieces": len(train),
        "valid_pieces": len(valid),
        "seconds": round(time.time() - started, 1),
    }
    training = {"epochs": cfg.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size, "seed": seed}
    return model, {"metrics": metrics, "history": history, "training": training}


def _fit(
    train: SlotData, valid: SlotData, config: HarmonyConfig, cfg: HarmonyTrainConfig, seed: int
) -> tuple[HarmonyModel, list[dict[str, float]]]:
    """The training loop, seeded apart from torch's global RNG (saved and restored)."""
    history: list[dict[str, float]] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 0x4A12)
        model = HarmonyModel(config)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        rng = np.random.default_rng([seed, 0x4A12])
        for epoch in range(cfg.epochs):
            for rows in _batches(train, cfg.batch_size, rng):
                chords, mask, cond = train.batch(config, rows)
                nll = F.cross_entropy(model(chords, cond).transpose(1, 2), chords, reduction="none")
                loss = nll[mask].mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
            if epoch == cfg.epochs - 1 or (epoch + 1) % max(1, cfg.epochs // 5) == 0:
                row = {"epoch": epoch + 1, "valid_nll_per_slot": slot_nll(model, valid, 256)}
                history.append(row)
                log.info("harmony epoch %d: valid NLL %.4f per slot", epoch + 1, row["valid_nll_per_slot"])
    return model.eval(), history


def harmony_phase(
    corpus: TokenizedCorpus, config: RunConfig, options: TrainOptions, log_record: Callable[[dict], None]
) -> dict[str, bytes]:
    """The harmony files every checkpoint of the run carries: trained here, or on a resume
    taken from the run's last checkpoint (so a resumed run keeps the chord model it had).

    Returns:
        {} when `[harmony] epochs` is 0 (the run has no chord model).

    Raises:
        CheckpointError: a resumed run's harmony files are damaged.
    """
    cfg = config.harmony
    if cfg.epochs <= 0:
        return {}
    if options.resume:
        for phase in ("gan", "mle"):
            folder = Path(options.out) / phase
            if load_harmony(folder) is not None:  # checked before it is copied on
                return {name: (folder / name).read_bytes() for name in (HARMONY_WEIGHTS, HARMONY_CONFIG)}
    usable = corpus.lengths() <= config.data.max_events
    train, valid = corpus.pieces("train"), corpus.pieces("valid")
    train_data = SlotData.of(corpus, train[usable[train]])
    model, record = train_harmony(train_data, SlotData.of(corpus, valid[usable[valid]]), cfg, options.seed)
    log_record({"event": "harmony", **record["metrics"], "history": record["history"]})
    return harmony_files(model, record)
