"""Form and variety of one piece: repeated patterns, distinct bars, rhythm plainness.

What gives a generated tune away on the path users take (issue 10): loops of one short
figure, a 16-bar piece made of four copies of one 4-bar block, and too many plain
quarter notes. These statistics are *targets to match* against the real tunes of the
same style and meter, not scores to maximise: real folk tunes repeat a lot too.

Every function maps a :class:`~midigan.representations.tune.Tune` (or a Score or
NoteStreams, converted) to a float; see each for its value on an empty piece.
"""

from __future__ import annotations

import numpy as np

from midigan.evaluate.features import note_length_class, on_tune
from midigan.representations.tune import NOTE_LENGTH_CLASSES_QUARTERS, Tune

_NAN = float("nan")
_QUARTER_CLASS = NOTE_LENGTH_CLASSES_QUARTERS.index(1.0)


@on_tune
def pattern_repetition(tune: Tune, length: int = 3) -> float:
    """Share of the piece's `length`-note figures that repeat an earlier one, in [0, 1].

    A figure is the `length - 1` intervals between its notes and the `length` notes'
    durations (exact ticks), so a figure repeated a step higher still counts, while the
    same pitches in another rhythm do not (unlike :func:`~midigan.evaluate.stats.repetitions`,
    which reads pitches only). nan when the piece has fewer than `length` notes.
    """
    if length < 2:
        raise ValueError(f"a figure needs at least 2 notes, got {length}")
    if len(tune) < length:
        return _NAN
    intervals = np.diff(tune.pitch).astype(np.int64)
    steps = np.lib.stride_tricks.sliding_window_view(intervals, length - 1)  # (K, length-1)
    lengths = np.lib.stride_tricks.sliding_window_view(tune.duration.astype(np.int64), length)  # (K, length)
    figures = np.hstack([steps, lengths])
    unique = np.unique(figures, axis=0).shape[0]
    return float((len(figures) - unique) / len(figures))


def bar_contents(tune: Tune) -> list[tuple[tuple[int, int, int], ...]]:
    """Each bar's notes as `(pitch, onset ticks from the barline, duration ticks)`, in time order.

    A note belongs to the bar it starts in; a bar without onsets (a rest, or a note held
    over) is the empty tuple.
    """
    starts = tune.bar_starts
    bar_of = np.searchsorted(starts, tune.onset, side="right") - 1
    bars: list[list[tuple[int, int, int]]] = [[] for _ in range(tune.bar_count)]
    for pitch, onset, duration, bar in zip(
        tune.pitch.tolist(), tune.onset.tolist(), tune.duration.tolist(), bar_of.tolist(), strict=True
    ):
        if 0 <= bar < len(bars):
            bars[bar].append((pitch, onset - int(starts[bar]), duration))
    return [tuple(b) for b in bars]


@on_tune
def distinct_bars(tune: Tune) -> float:
    """How many different bars the piece has (pitch, onset in bar and duration all equal = same).

    A tune played as A A B B of 4-bar phrases ABCD ABCD EFGH EFGH has 8 distinct bars of
    16. 0 for a piece of no bars.
    """
    return float(len(set(bar_contents(tune))))


@on_tune
def unique_bars(tune: Tune) -> float:
    """How many bars occur exactly once in the piece (differ from every other bar of it)."""
    contents = bar_contents(tune)
    counts: dict[tuple, int] = {}
    for bar in contents:
        counts[bar] = counts.get(bar, 0) + 1
    return float(sum(1 for bar in contents if counts[bar] == 1))


@on_tune
def quarter_note_share(tune: Tune) -> float:
    """Share of notes whose length is nearest a quarter note (Y&L length class), in [0, 1]; nan for none."""
    if not len(tune):
        return _NAN
    return float((note_length_class(tune.duration) == _QUARTER_CLASS).mean())


@on_tune
def minor_mode(tune: Tune) -> float:
    """1.0 for a piece in a minor key, 0.0 for major (a set's mean is its minor share)."""
    return 1.0 if tune.mode == "minor" else 0.0
