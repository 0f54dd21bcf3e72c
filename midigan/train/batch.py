"""Typed batches: the tensors of a batch of real training windows.

:func:`midigan.train.dataset.collate` makes every batch the trainer sees; tests and
benchmarks that need synthetic ones build the same :class:`Batch` by keyword. The
model stage reads a batch through protocols that name only the fields it uses
(:class:`midigan.model.generator.TeacherBatch`, :class:`midigan.model.unroll.UnrollBatch`),
so it never imports training code.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class Batch:
    """A batch of B windows of at most T events, padded (see `mask`).

    The lookback fields are set for lookback models only, the history fields only
    where the adversarial unroll needs them (it reads candidates from them).
    """

    pitch: torch.Tensor  # (B, T) target ids
    duration: torch.Tensor  # (B, T)
    velocity: torch.Tensor  # (B, T)
    conditions: torch.Tensor  # (B, T, 5) chord, position, bars remaining, meter, bar index ids
    mask: torch.Tensor  # (B, T) bool: True on real events
    prev: torch.Tensor  # (B, 3) ids of the event before the window (begin-of-piece ids at a start)
    mode: torch.Tensor  # (B,)
    style: torch.Tensor  # (B,)
    start: torch.Tensor  # (B,) onset tick of each window's first event
    candidates: torch.Tensor | None = None  # (B, T, L, 2) each event's lookback candidates
    repeat_states: torch.Tensor | None = None  # (B, T, L) the previous event's repeat states
    history_pitch: torch.Tensor | None = None  # (B, ticks) each whole piece's pitch ids by onset
    history_duration: torch.Tensor | None = None  # (B, ticks) and its duration ids

    @property
    def size(self) -> int:
        """B, the number of windows."""
        return self.pitch.shape[0]

    def to(self, device: torch.device) -> Batch:
        """The batch on `device`: on CUDA through pinned memory with non-blocking copies;
        elsewhere the batch itself (no copy)."""
        if device.type != "cuda":
            return self
        moved = {}
        for f in fields(self):
            value = getattr(self, f.name)
            moved[f.name] = None if value is None else value.pin_memory().to(device, non_blocking=True)
        return Batch(**moved)
