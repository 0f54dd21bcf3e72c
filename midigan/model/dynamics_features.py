"""What shapes a note's loudness, as numbers: the velocity model's inputs (numpy, no torch).

A finished melody on its bar grid gives, per note:

* categorical ids (:data:`CATEGORIES`): metrical strength (downbeat, strong beat, beat,
  half beat, finer), bar in the 8-bar phrase, bars to the end (0..4: cadences relax),
  and the piece's overall level (pp ... ff, :data:`midigan.corpus.dynamics.LEVELS`);
* continuous values (:data:`CONTINUOUS`): place in the bar, in the 4-bar phrase and in the
  piece, pitch against the piece's range and mean, interval in and out, log duration,
  rests around the note, a local pitch peak, and the bar's note density.

The same strength rule serves the evaluation's "velocity by metrical position".
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from midigan.corpus.dynamics import LEVELS
from midigan.music.melody import extract_melody
from midigan.music.score import TPQ, Meter, Score
from midigan.music.theory import is_compound

N_STRENGTH = 5
N_PHRASE_BAR = 8
N_TO_END = 5
CATEGORIES = (("strength", N_STRENGTH), ("phrase_bar", N_PHRASE_BAR), ("to_end", N_TO_END),
              ("level", len(LEVELS)))  # fmt: skip
"""Name and size of each categorical input column, in column order."""

LEVEL_COLUMN = 3
"""The column of the level id (one level per note, so a passage can be given its own)."""

CONTINUOUS = (
    "in_bar", "in_phrase", "in_piece", "pitch_range", "pitch_mean", "interval_in",
    "interval_out", "log_duration", "rest_before", "rest_after", "peak", "density",
)  # fmt: skip
"""Names of the continuous input columns, in column order."""


@dataclass(frozen=True)
class MelodyGrid:
    """A monophonic melody on its bar grid: what the velocity model reads.

    Attributes:
        pitch, onset, duration: (N,) int64, notes in onset order (ticks of TPQ per quarter).
        velocity: (N,) int64 (the source's, or zeros when unknown).
        bar_starts: ascending barline ticks, the piece's end last (len = bars + 1).
        bar_ticks: (bars,) length of each bar.
        meters: the meter of each bar.
    """

    pitch: np.ndarray
    onset: np.ndarray
    duration: np.ndarray
    velocity: np.ndarray
    bar_starts: tuple[int, ...]
    meters: tuple[Meter, ...]

    @classmethod
    def from_score(cls, score: Score, track_index: int | None = None) -> MelodyGrid:
        """The melody of `score` (the melody rule and skyline, or that track) on the score's bars."""
        track = extract_melody(score, track_index)
        notes = sorted(track.notes, key=lambda n: n.onset)
        starts = score.bar_starts()
        if len(starts) < 2:
            starts = [0, max(score.meters[0].bar_ticks, 1)]
        meters = tuple(score.meter_at(s) for s in starts[:-1])

        def column(name: str) -> np.ndarray:
            return np.asarray([getattr(n, name) for n in notes], dtype=np.int64)

        return cls(column("pitch"), column("onset"), column("duration"), column("velocity"),
                   tuple(starts), meters)  # fmt: skip

    @property
    def bars(self) -> int:
        return len(self.bar_starts) - 1

    def bar_index(self) -> np.ndarray:
        """(N,) the bar of each note (0-based, clamped to the last bar)."""
        index = np.searchsorted(np.asarray(self.bar_starts), self.onset, side="right") - 1
        return np.clip(index, 0, self.bars - 1)


def strength_of(position: int, meter: Meter) -> int:
    """Metrical strength of an onset `position` ticks into a bar: 0 downbeat, 1 strong beat,
    2 other beat, 3 half beat (a third of a compound beat), 4 finer."""
    if position == 0:
        return 0
    num, den = meter.numerator, meter.denominator
    compound = is_compound(num, den)
    beat = TPQ * 4 // den * (3 if compound else 1)
    if beat > 0 and position % beat == 0:
        return 1 if (position // beat) % 2 == 0 else 2
    sub = beat // 3 if compound else beat // 2
    return 3 if sub > 0 and position % sub == 0 else 4


def strengths(grid: MelodyGrid) -> np.ndarray:
    """(N,) metrical strength of every note (:func:`strength_of`)."""
    bars = grid.bar_index()
    starts = np.asarray(grid.bar_starts)
    return np.asarray(
        [strength_of(int(o - starts[b]), grid.meters[b]) for o, b in zip(grid.onset, bars, strict=True)],
        dtype=np.int64,
    )


def features(grid: MelodyGrid, level: int) -> tuple[np.ndarray, np.ndarray]:
    """The velocity model's inputs for every note of `grid` at overall `level`.

    Returns:
        (N, len(CATEGORIES)) int64 ids and (N, len(CONTINUOUS)) float32 values.
    """
    n = len(grid.pitch)
    bars = grid.bar_index()
    starts = np.asarray(grid.bar_starts, dtype=np.float64)
    bar_ticks = np.diff(starts)[bars]
    in_bar = (grid.onset - starts[bars]) / np.maximum(bar_ticks, 1)
    to_end = np.clip(grid.bars - 1 - bars, 0, N_TO_END - 1)
    cats = np.stack(
        [strengths(grid), bars % N_PHRASE_BAR, to_end, np.full(n, level, dtype=np.int64)], axis=1
    ).astype(np.int64)
    pitch = grid.pitch.astype(np.float64)
    low, high = (pitch.min(), pitch.max()) if n else (0.0, 0.0)
    step_in = np.diff(pitch, prepend=pitch[:1]) if n else pitch
    step_out = np.diff(pitch, append=pitch[-1:]) if n else pitch
    ends = grid.onset + grid.duration
    rest_before = np.concatenate(([1.0], (grid.onset[1:] > ends[:-1]).astype(float))) if n else pitch
    rest_after = np.concatenate(((grid.onset[1:] > ends[:-1]).astype(float), [1.0])) if n else pitch
    peak = ((step_in > 0) & (step_out < 0)).astype(float)
    per_bar = np.bincount(bars, minlength=grid.bars)[bars] if n else pitch
    cont = np.stack(
        [
            in_bar,
            ((bars % 4) + in_bar) / 4.0,
            (bars + in_bar) / max(grid.bars, 1),
            (pitch - low) / max(high - low, 1.0),
            (pitch - (pitch.mean() if n else 0.0)) / 12.0,
            np.clip(step_in / 12.0, -2, 2),
            np.clip(step_out / 12.0, -2, 2),
            np.log2(np.maximum(grid.duration, 1) / TPQ) / 3.0,
            rest_before,
            rest_after,
            peak,
            per_bar / 8.0,
        ],
        axis=1,
    ).astype(np.float32)
    return cats, cont


def bar_of_ticks(bar_starts: tuple[int, ...], tick: int) -> int:
    """The bar holding `tick` (0-based; clamped to the last bar)."""
    return max(0, min(len(bar_starts) - 2, bisect_right(bar_starts, tick) - 1))
