"""The condition timeline in torch: what the generator sees at each onset it reaches.

The generator keeps its own clock: every duration it emits moves its onset, and
the conditions of the next event (chord, position in the bar, bars remaining,
meter, bar index) are looked up at that onset. A :class:`Timeline` holds, per piece, the
barlines and the chord changes as padded tensors; `at(ticks)` answers with two
`searchsorted` calls, so the same object serves the sampler (one meter, chords
cycled from the user's request) and adversarial training (the real piece's own
barlines and chords, meter changes included). :class:`ConditionTables` holds
the embedding tables of those ids, the same for the generator and the critic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from midigan.model.config import ModelConfig
from midigan.representations.ids import (
    MAX_BAR_INDEX,
    MAX_BARS_REMAINING,
    MAX_POSITION,
)

if TYPE_CHECKING:
    from midigan.representations.streams import PieceTimeline

_FAR = 1 << 40  # padding tick: beyond any piece, so searchsorted never lands on it


@dataclass
class Timeline:
    """Barlines and chord changes of a batch of pieces.

    Attributes:
        bar_starts: (B, K+1) tick of every barline, the end included; padded with a far tick.
        bar_meter: (B, K) meter id of every bar; padded with 0.
        n_bars: (B,) bars of each piece.
        chord_ticks: (B, C) ticks of chord changes, ascending; padded with a far tick.
        chord_ids: (B, C) chord ids (roots already transposed to C); padded with 0.
        max_end: the longest piece in ticks, known on the host (so step loops on
            CUDA never wait for the device to tell them); None = read it from `end`.
    """

    bar_starts: torch.Tensor
    bar_meter: torch.Tensor
    n_bars: torch.Tensor
    chord_ticks: torch.Tensor
    chord_ids: torch.Tensor
    max_end: int | None = None

    @property
    def end(self) -> torch.Tensor:
        """(B,) the final barline of each piece, in ticks."""
        return self.bar_starts.gather(1, self.n_bars[:, None]).squeeze(1)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Timeline:
        return Timeline(*(t.to(device, non_blocking=non_blocking) for t in self._tensors()), self.max_end)

    def longest(self) -> int:
        """The longest piece in ticks (host value; a device sync only when unknown)."""
        return self.max_end if self.max_end is not None else int(self.end.max())

    @classmethod
    def stack(cls, pieces: Sequence[PieceTimeline]) -> Timeline:
        """Pad per-piece timelines into one batched timeline (on the CPU)."""
        return cls(
            max_end=max(int(p.bar_starts[-1]) for p in pieces),
            bar_starts=_pad([p.bar_starts for p in pieces], _FAR),
            bar_meter=_pad([p.bar_meter for p in pieces], 0),
            n_bars=torch.tensor([len(p.bar_meter) for p in pieces], dtype=torch.int64),
            chord_ticks=_pad([p.chord_ticks for p in pieces], _FAR),
            chord_ids=_pad([p.chord_ids for p in pieces], 0),
        )

    def _tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.bar_starts, self.bar_meter, self.n_bars, self.chord_ticks, self.chord_ids)

    def at(self, ticks: torch.Tensor) -> torch.Tensor:
        """Condition ids at `ticks`.

        Args:
            ticks: (B, M) absolute ticks, one row per piece.

        Returns:
            (B, M, 5) int64: chord, position, bars remaining, meter, bar index (a model
            without a form table reads the first four). Ticks at or past the end read
            as the last bar (those steps are masked by the caller).
        """
        assert ticks.dim() == 2 and ticks.shape[0] == self.bar_starts.shape[0], "ticks must be (B, M)"
        ticks = ticks.contiguous()
        bar, position = self.bar_position(ticks)
        position = position.clamp(0, MAX_POSITION - 1)
        remaining = (self.n_bars[:, None] - bar).clamp(1, MAX_BARS_REMAINING)
        meter = self.bar_meter.gather(1, bar)
        change = torch.searchsorted(self.chord_ticks, ticks, right=True) - 1  # (B, M)
        chord = self.chord_ids.gather(1, change.clamp(min=0)).masked_fill(change < 0, 0)
        form = bar.clamp(max=MAX_BAR_INDEX - 1)
        return torch.stack((chord, position, remaining, meter, form), dim=-1)

    def bar_position(self, ticks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, M) ticks -> the bar index of each (clamped to the piece) and the ticks since its barline."""
        bar = torch.searchsorted(self.bar_starts, ticks.contiguous(), right=True) - 1
        bar = torch.minimum(bar.clamp(min=0), (self.n_bars - 1)[:, None])  # (B, M)
        return bar, ticks - self.bar_starts.gather(1, bar)


class TickLookup:
    """Per-piece values at one tick per piece, as cheaply as a step loop needs.

    When `B * L` (pieces x longest piece in ticks) is at most `limit`, every tick's
    values are computed once and each step is one `index_select`; beyond that (very
    long pieces in big batches) each step computes them from the timeline.
    Subclasses say what the values are (:meth:`values`).

    Args:
        timeline: the batch's timelines.
        limit: most table rows to precompute.
    """

    def __init__(self, timeline: Timeline, limit: int = 1 << 22) -> None:
        self.timeline = timeline
        device = timeline.bar_starts.device
        batch = timeline.n_bars.shape[0]
        self.length = max(1, timeline.longest())
        self.table: torch.Tensor | None = None
        if batch * self.length <= limit:
            ticks = torch.arange(self.length, device=device).expand(batch, -1)
            self.table = self.values(ticks).flatten(0, 1)  # (B * L, K)
            self.base = torch.arange(batch, device=device) * self.length

    def values(self, ticks: torch.Tensor) -> torch.Tensor:
        """(B, M) ticks -> (B, M, K) values."""
        raise NotImplementedError

    def __call__(self, ticks: torch.Tensor) -> torch.Tensor:
        """(B,) ticks -> (B, K) values; ticks past the end read the last tick."""
        at = ticks.clamp(max=self.length - 1)
        if self.table is not None:
            return self.table.index_select(0, self.base + at)
        return self.values(at[:, None])[:, 0]


class ConditionLookup(TickLookup):
    """Condition ids at one tick per piece (see :class:`TickLookup`).

    Args:
        timeline: the batch's timelines.
        offsets: (C,) added to the ids (row offsets into a fused embedding table); C is
            the model's condition count (4 without a form table, 5 with one), and only
            the first C columns of :meth:`Timeline.at` are read.
        limit: most table rows to precompute.
    """

    def __init__(self, timeline: Timeline, offsets: torch.Tensor | None = None, limit: int = 1 << 22) -> None:
        device = timeline.bar_starts.device
        self.offsets = torch.zeros(5, dtype=torch.int64, device=device) if offsets is None else offsets
        super().__init__(timeline, limit)

    def values(self, ticks: torch.Tensor) -> torch.Tensor:
        """(B, M) ticks -> (B, M, C) condition ids, offsets added."""
        return self.timeline.at(ticks)[..., : self.offsets.shape[0]] + self.offsets


def _pad(rows: Sequence[np.ndarray], fill: int) -> torch.Tensor:
    width = max(1, *(len(r) for r in rows))
    out = np.full((len(rows), width), fill, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return torch.from_numpy(out)


class ConditionTables(nn.Module):
    """Embedding tables of the conditions, for the generator and the critic alike.

    A base class rather than a child module so the tables stay attributes of the
    network itself (`chord_in`, `position_in`, `bars_in`, `meter_in`, `mode_in`,
    `style_in`, and `bar_in` for a model with a form table) and checkpoints keep their
    tensor names (`chord_in.weight`, ...).
    """

    bar_in: nn.Embedding | None

    def add_condition_tables(self, sizes: ModelConfig, width: int) -> None:
        """Create the six tables, and the form table when `sizes.n_bar_index` > 0 (call where
        the network builds its layers: the order of creation is the order of the random
        initial weights, so the form table comes last and a model without it draws the
        weights it always drew)."""
        self.chord_in = nn.Embedding(sizes.n_chord, width)
        self.position_in = nn.Embedding(sizes.n_position, width)
        self.bars_in = nn.Embedding(sizes.n_bars_remaining, width)
        self.meter_in = nn.Embedding(sizes.n_meter, width)
        self.mode_in = nn.Embedding(sizes.n_mode, width)
        self.style_in = nn.Embedding(sizes.n_style, width)
        self.bar_in = nn.Embedding(sizes.n_bar_index, width) if sizes.n_bar_index else None

    @property
    def n_conditions(self) -> int:
        """Per-event condition columns this network reads: 4, or 5 with a form table."""
        return 4 if self.bar_in is None else 5

    def condition_embedding(self, conditions: torch.Tensor, onto: torch.Tensor | None = None) -> torch.Tensor:
        """(..., C >= n_conditions) chord, position, bars remaining, meter (, bar index) ids ->
        (..., width), added onto `onto` one table at a time when given (the order of the sums
        is part of the numerics). Without a form table a fifth column is ignored."""
        assert conditions.shape[-1] >= self.n_conditions, f"conditions need {self.n_conditions} columns"
        out = self.chord_in(conditions[..., 0]) if onto is None else onto + self.chord_in(conditions[..., 0])
        out = out + self.position_in(conditions[..., 1])
        out = out + self.bars_in(conditions[..., 2])
        out = out + self.meter_in(conditions[..., 3])
        if self.bar_in is not None:
            out = out + self.bar_in(conditions[..., 4])
        return out

    def piece_condition_embedding(self, mode: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """(B,) mode and style ids -> (B, width), constant over a piece."""
        return self.mode_in(mode) + self.style_in(style)

    def condition_tables(self) -> list[nn.Embedding]:
        """The per-event tables in column order (four, or five with the form table)."""
        tables = [self.chord_in, self.position_in, self.bars_in, self.meter_in]
        return tables if self.bar_in is None else [*tables, self.bar_in]

    def condition_table(self) -> torch.Tensor:
        """The per-event tables stacked, for one `embedding_bag` sum of offset ids."""
        return torch.cat([t.weight for t in self.condition_tables()])
