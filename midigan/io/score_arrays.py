"""A MIDI file as read, before `Note` objects: :class:`ScoreArrays`, all notes in one numpy table.

:func:`midigan.io.midi.read_midi_arrays` returns one; :meth:`ScoreArrays.to_score` makes the
:class:`~midigan.music.score.Score` that :func:`~midigan.io.midi.read_midi` returns, and
:meth:`~midigan.representations.EventTokens.from_midi` tokenizes the table directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from midigan.music.score import ChordLabel, KeySignature, Meter, Note, Score, Tempo, Track

__all__ = ["NOTE_ROWS", "ScoreArrays"]

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
