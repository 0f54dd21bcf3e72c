"""A MIDI file as read, before `Note` objects: :class:`ScoreArrays`, all notes in one numpy table.

:func:`midigan.io.midi.read_midi_arrays` returns one; :meth:`ScoreArrays.to_score` makes the
:class:`~midigan.music.score.Score` that :func:`~midigan.io.midi.read_midi` returns, and
:meth:`~midigan.representations.EventTokens.from_midi` tokenizes the table directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from midigan.errors import MidiReadError
from midigan.io.limits import over_limit
from midigan.io.smf import MAX_TRACKS
from midigan.music.score import TPQ, ChordLabel, KeySignature, Meter, Note, Score, Tempo, Track

__all__ = ["NOTE_ROWS", "ScoreArrays", "note_table"]

NOTE_ROWS = ("onset", "track", "pitch", "duration", "velocity")
"""The rows of :attr:`ScoreArrays.notes`, in order."""


@dataclass
class ScoreArrays:
    """A MIDI file as read: the fields of :class:`Score`, the notes of every track in one table.

    Attributes:
        names, programs, drums: per track (tracks with notes, in file order).
        notes: `(5, N)` int64, rows :data:`NOTE_ROWS`, in grid ticks (durations at least 1,
            pitches 0-127, velocities 1-127), sorted by (onset, track, pitch, duration,
            velocity): the order of the notes' tokens, and, taken track by track, the order
            of :meth:`Track.sort`. One sort serves both.
        chords: `(tick, root, quality)` per chord label, sorted by tick, one per tick (plain
            tuples: :class:`ChordLabel` objects are made only by :meth:`to_score`).
    """

    names: list[str]
    programs: list[int]
    drums: list[bool]
    notes: np.ndarray
    tempos: list[Tempo]
    meters: list[Meter]
    keys: list[KeySignature]
    chords: list[tuple[int, int | None, str]]
    end_tick: int | None
    title: str

    def track_notes(self) -> list[np.ndarray]:
        """Per track, its `(5, n)` slice of :attr:`notes` (the order kept)."""
        count = len(self.names)
        if count == 1:
            return [self.notes]
        order = np.argsort(self.notes[1], kind="stable")
        bounds = np.cumsum(np.bincount(self.notes[1], minlength=count)).tolist()
        return [self.notes[:, order[lo:hi]] for lo, hi in zip([0, *bounds], bounds, strict=False)]

    def to_score(self) -> Score:
        """The :class:`Score` :func:`read_midi` returns (one :class:`Note` per note)."""
        tracks = []
        for name, program, drum, table in zip(
            self.names, self.programs, self.drums, self.track_notes(), strict=True
        ):
            onset, _, pitch, duration, velocity = table.tolist()
            notes = list(map(Note, pitch, onset, duration, velocity))
            tracks.append(Track(name=name, program=program, is_drum=drum, notes=notes))
        return Score(
            tracks=tracks,
            tempos=self.tempos,
            meters=self.meters,
            keys=self.keys,
            chords=[ChordLabel(*chord) for chord in self.chords],
            end_tick=self.end_tick,
            title=self.title,
        )


def note_table(
    tracks: list,
    name: str,
    tpq: int,
    limit: int,
    max_notes: int,
    report: Callable[[np.ndarray], None] | None = None,
) -> np.ndarray:
    """The notes of symusic's `tracks` as :attr:`ScoreArrays.notes`: on the grid, sorted, checked.

    What symusic made of the file must stay within the limits the walk promised: the walk
    bounds every event's tick already; this catches a parser that read the bytes
    differently (negative or oversized times) and counts notes and parts. The tracks are
    joined first, so each step is one numpy call for the whole file, not one per track.
    `report` receives each track's quantization errors (source ticks times TPQ), track by track.

    Raises:
        MidiReadError: more than `max_notes` notes or :data:`~midigan.io.smf.MAX_TRACKS` parts,
            or a note outside [0, `limit`] source ticks.
    """
    count = sum(t.note_num() for t in tracks)
    if count > max_notes:
        raise MidiReadError(f"{name}: {over_limit('the file', count, 'max_notes', max_notes)}")
    if len(tracks) > MAX_TRACKS:
        raise MidiReadError(f"{name}: {len(tracks)} parts; midigan reads files of up to {MAX_TRACKS}")
    parts = [track.notes.numpy() for track in tracks]  # symusic's arrays, taken once
    if not parts:
        return np.zeros((5, 0), dtype=np.int64)
    table = _joined(parts, count)
    low = table.min(axis=1).tolist()  # one call for all rows: only onsets and durations matter
    if low[0] < 0 or low[3] < 0:
        _refuse_timing(parts, name, limit)
    table[3] += table[0]  # note ends, in source ticks
    last = int(table[3].max())
    if last > limit:
        _refuse_timing(parts, name, limit)
    source = table[0::3].copy() if report is not None else None
    _grid_into(table[0::3], tpq)  # onsets and ends together
    onset, duration = table[0], table[3]
    duration -= onset
    np.maximum(duration, 1, out=duration)
    if source is not None:  # errors in source ticks times TPQ, so they stay integers
        onset_error = np.abs(onset * tpq - source[0] * TPQ)
        offset_error = np.abs((onset + duration) * tpq - source[1] * TPQ)
        errors = np.maximum(onset_error, offset_error)
        bounds = np.cumsum([len(p["time"]) for p in parts]).tolist()
        for lo, hi in zip([0, *bounds], bounds, strict=False):
            report(errors[lo:hi])
    return table.take(_token_order(table, len(parts), _to_grid(last, tpq) + 2), axis=1)


def _joined(parts: list[dict[str, np.ndarray]], count: int) -> np.ndarray:
    """symusic's per-track note arrays as one `(5, count)` int64 table in source ticks: rows
    :data:`NOTE_ROWS`, durations where the ends will go, tracks in file order."""
    table = np.empty((5, count), dtype=np.int64)
    rows = ((0, "time"), (2, "pitch"), (3, "duration"), (4, "velocity"))
    if len(parts) == 1:
        for row, field in rows:
            table[row] = parts[0][field]
        table[1] = 0
    else:
        for row, field in rows:
            np.concatenate([p[field] for p in parts], out=table[row], casting="same_kind")
        table[1] = np.repeat(np.arange(len(parts)), [len(p["time"]) for p in parts])
    return table


def _token_order(table: np.ndarray, tracks: int, bound: int | None = None) -> np.ndarray:
    """The permutation sorting the note table by (onset, track, pitch, duration, velocity).

    One argsort of a single int64 key where the five fit in 62 bits (pitch and velocity
    take 7 bits each: MIDI data bytes), else a five-key lexsort. `bound`, when given, exceeds
    every onset and duration (the last note end on the grid, plus two: a duration is at least
    one), which spares two scans of the table; the key, one dot product, orders as the exact one.
    """
    if bound is None:
        bound = max(int(table[0].max()), int(table[3].max())) + 1
    if bound * tracks * 128 * bound * 128 < 2**62:
        weights = np.asarray([tracks * 128 * bound * 128, 128 * bound * 128, bound * 128, 128, 1])
        return np.argsort(weights @ table)  # equal keys are equal notes: their order does not matter
    return np.lexsort(table[::-1])


def _refuse_timing(parts: list[dict[str, np.ndarray]], name: str, limit: int) -> None:
    """The error for notes outside [0, limit], naming the first track at fault.

    Raises:
        MidiReadError: always.
    """
    for arrays in parts:
        start = arrays["time"].astype(np.int64)
        stop = start + arrays["duration"].astype(np.int64)
        if start.min() < 0 or arrays["duration"].min() < 0:
            raise MidiReadError(f"{name}: damaged timing (negative note times)")
        if stop.max() > limit:
            raise MidiReadError(f"{name}: a note ends at tick {int(stop.max())}, past the length limit")
    raise AssertionError("_refuse_timing: no note out of bounds")  # pragma: no cover


def _grid_into(ticks: np.ndarray, tpq: int) -> None:
    """Source ticks (int64) -> grid ticks in place, rounded to the nearest (halves up)."""
    if tpq != TPQ:
        ticks *= 2 * TPQ
        ticks += tpq
        ticks //= 2 * tpq


def _to_grid(tick: int, tpq: int) -> int:
    """One source tick as :func:`_grid_into` rounds it."""
    return (2 * TPQ * tick + tpq) // (2 * tpq)
