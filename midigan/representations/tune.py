"""A :class:`Tune`: one monophonic melody with the meter, key and chord context of each note.

A Tune is made from a :class:`~midigan.music.score.Score` or a
:class:`~midigan.representations.streams.NoteStreams` alike, so generated and real pieces pass
through exactly the same code: the evaluation metrics (:mod:`midigan.evaluate`) read Tunes, and
so does the corpus, which links variants of one tune by their shared runs
(:func:`run_hashes`) before it splits.

A *run* is :data:`COPY_RUN` consecutive (interval, duration) pairs — ``COPY_RUN + 1`` notes.
Intervals (not pitches) make runs blind to transposition; durations are exact ticks. Twelve
pairs is about three bars of a reel or four of a slow air: long enough that two folk tunes
rarely share it by chance, short enough to catch a model that strings memorised phrases
together. Rests are skipped (the run is over sounding notes). Runs are kept as 64-bit
polynomial hashes, so an index of a million runs costs 8 MB and a lookup is a binary search.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from midigan.music.harmony import detect_key
from midigan.music.melody import extract_melody
from midigan.music.score import TPQ, ChordLabel, Meter, Note, Score, Track
from midigan.music.theory import strong_beat_ticks

if TYPE_CHECKING:
    from midigan.representations.streams import NoteStreams

NOTE_LENGTH_CLASSES_QUARTERS = (4.0, 3.0, 2.0, 1.5, 1.0, 0.75, 0.5, 0.375, 0.25, 4 / 3, 2 / 3, 1 / 3)
"""Yang & Lerch's twelve note-length classes, in quarter notes: whole, dotted half, half,
dotted quarter, quarter, dotted eighth, eighth, dotted sixteenth, sixteenth, half triplet,
quarter triplet, eighth triplet. A note takes the class nearest in log-length, so notes
longer than a whole note count as whole notes and 32nds as sixteenths."""


@dataclass(frozen=True)
class Tune:
    """The sounding notes of one melody with their musical context; rests are gaps.

    Attributes:
        pitch: (N,) MIDI pitches as they sound (in `tonic`'s key), ordered by onset.
        onset: (N,) onset ticks (:data:`~midigan.music.score.TPQ` per quarter) from tick 0.
        duration: (N,) lengths in ticks, > 0.
        velocity: (N,) MIDI velocities 1-127.
        strong: (N,) True where the onset falls on a strong beat of its bar's meter.
        chord_root: (N,) root pitch class of the chord label at the onset, -1 for none.
        chord_quality: quality names (:data:`midigan.music.theory.CHORD_QUALITIES`) per note.
        bar_starts: (B+1,) ticks of every barline from 0 to the end of the piece.
        tonic: tonic pitch class (0 = C); estimated from the notes when the source had no key.
        mode: 'major' or 'minor'.
        meter: (numerator, denominator) of the first bar.
        chords: the chord labels of the piece, sorted by tick (empty: no chords).
    """

    pitch: np.ndarray
    onset: np.ndarray
    duration: np.ndarray
    velocity: np.ndarray
    strong: np.ndarray
    chord_root: np.ndarray
    chord_quality: tuple[str, ...]
    bar_starts: np.ndarray
    tonic: int
    mode: str
    meter: tuple[int, int]
    chords: tuple[ChordLabel, ...] = ()

    def __len__(self) -> int:
        return int(self.pitch.size)

    @property
    def bar_count(self) -> int:
        return int(self.bar_starts.size - 1)

    @property
    def end_tick(self) -> int:
        return int(self.bar_starts[-1])

    @property
    def relative_pitch_class(self) -> np.ndarray:
        """(N,) pitch classes counted from the tonic: 0 = tonic, 7 = dominant."""
        return (self.pitch - self.tonic) % 12

    # ------------------------------------------------------------ builders
    @classmethod
    def from_notes(
        cls,
        notes: list[tuple[int, int, int, int]],
        meters: list[Meter],
        end_tick: int,
        key: tuple[int, str] | None = None,
        chords: list[ChordLabel] | None = None,
    ) -> Tune:
        """Build from `(pitch, onset, duration, velocity)` tuples and the piece's context.

        Args:
            notes: the melody's sounding notes (any order; sorted here).
            meters: the meter map (sorted by tick, first at tick 0).
            end_tick: where the piece ends; extended to the barline after the last note.
            key: `(tonic_pc, mode)`, or None to estimate it from the notes
                (:func:`~midigan.music.harmony.detect_key` over all 24 keys).
            chords: chord labels sorted by tick (empty: no chords).
        """
        ordered = sorted(notes, key=lambda n: (n[1], -n[0]))
        array = np.array(ordered, dtype=np.int64).reshape(-1, 4)
        pitch, onset, duration, velocity = (array[:, i] for i in range(4))
        grid = Score(meters=list(meters) or [Meter(0, 4, 4)], end_tick=None)
        last = int((onset + duration).max()) if len(array) else 0
        bar_starts = np.array(grid.bar_starts(max(end_tick, last, 1)), dtype=np.int64)
        bar_index = np.searchsorted(bar_starts, onset, side="right") - 1
        strong = np.zeros(len(array), dtype=bool)
        for i, tick in enumerate(onset):
            meter = grid.meter_at(int(tick))
            strong[i] = int(tick - bar_starts[bar_index[i]]) in strong_beat_ticks(
                meter.numerator, meter.denominator, TPQ
            )
        roots, qualities = _chords_at(onset, chords or [])
        tonic, mode = key if key is not None else _key_of(ordered)
        first = grid.meters[0]
        return cls(
            pitch=pitch,
            onset=onset,
            duration=duration,
            velocity=velocity,
            strong=strong,
            chord_root=roots,
            chord_quality=qualities,
            bar_starts=bar_starts,
            tonic=tonic,
            mode=mode,
            meter=(first.numerator, first.denominator),
            chords=tuple(sorted(chords or [], key=lambda c: c.tick)),
        )

    @classmethod
    def from_score(cls, score: Score) -> Tune:
        """The melody of `score`: the skyline of the track the melody rule picks (see
        :mod:`midigan.music.melody`).

        A score without pitched notes gives an empty Tune.
        """
        pitched = any(n for t in score.tracks if not t.is_drum for n in t.notes)
        track = extract_melody(score) if pitched else None
        notes = [] if track is None else [(n.pitch, n.onset, n.duration, n.velocity) for n in track.notes]
        first_key = score.key_at(0) or (score.keys[0] if score.keys else None)
        key = None if first_key is None else (first_key.tonic, first_key.mode)
        return cls.from_notes(notes, score.meters, score.end, key, score.chords)

    @classmethod
    def from_streams(cls, streams: NoteStreams) -> Tune:
        """The sounding notes of a NoteStreams, moved back by its `shift` into its key."""
        sounding = streams.pitch >= 0
        pitch = streams.pitch.astype(np.int64) - int(streams.shift)
        notes = list(
            zip(
                pitch[sounding].tolist(),
                streams.onset[sounding].tolist(),
                streams.duration[sounding].tolist(),
                streams.velocity[sounding].tolist(),
                strict=True,
            )
        )
        end = int(streams.onset[-1] + streams.duration[-1]) if len(streams) else 0
        key = None if streams.key is None else (streams.key.tonic, streams.key.mode)
        return cls.from_notes(notes, streams.meters, end, key, streams.chord_labels)

    def crop(self, bars: int) -> Tune:
        """The first `bars` bars (all of it when shorter); notes crossing the cut are shortened."""
        if bars >= self.bar_count:
            return self
        end = int(self.bar_starts[bars])
        keep = self.onset < end
        return replace(
            self,
            pitch=self.pitch[keep],
            onset=self.onset[keep],
            duration=np.minimum(self.duration[keep], end - self.onset[keep]),
            velocity=self.velocity[keep],
            strong=self.strong[keep],
            chord_root=self.chord_root[keep],
            chord_quality=tuple(q for q, k in zip(self.chord_quality, keep, strict=True) if k),
            bar_starts=self.bar_starts[: bars + 1],
            chords=tuple(c for c in self.chords if c.tick < end),
        )


def _key_of(notes: list[tuple[int, int, int, int]]) -> tuple[int, str]:
    """The key of notes without a key signature, by the estimator the readers and the primer use."""
    return detect_key(Score(tracks=[Track(notes=[Note(*n) for n in notes])]))


def _chords_at(onset: np.ndarray, chords: list[ChordLabel]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Chord root (-1 = none) and quality in force at each onset."""
    labels = sorted(chords, key=lambda c: c.tick)
    ticks = np.array([c.tick for c in labels], dtype=np.int64)
    index = np.searchsorted(ticks, onset, side="right") - 1
    roots = np.full(onset.size, -1, dtype=np.int64)
    qualities = ["maj"] * onset.size
    for i, j in enumerate(index):
        if j >= 0 and labels[j].root is not None:
            roots[i] = labels[j].root
            qualities[i] = labels[j].quality
    return roots, tuple(qualities)


COPY_RUN = 12
"""Consecutive (interval, duration) pairs that make a copy."""

_BASE = np.uint64(1_000_003)


def pair_codes(tune: Tune) -> np.ndarray:
    """(N-1,) one integer per consecutive note pair: interval and the second note's duration."""
    interval = np.diff(tune.pitch).astype(np.int64) + 128  # 1..255
    duration = np.minimum(tune.duration[1:].astype(np.int64), 2**20 - 1)
    return (interval << np.int64(20)) | duration


def run_hashes(tune: Tune, run: int = COPY_RUN) -> np.ndarray:
    """(K,) uint64 hashes of every window of `run` consecutive pairs (empty when too short)."""
    codes = pair_codes(tune).astype(np.uint64)
    if codes.size < run:
        return np.zeros(0, dtype=np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(codes, run)  # (K, run)
    powers = _BASE ** np.arange(run, dtype=np.uint64)  # wraps modulo 2**64 by design
    with np.errstate(over="ignore"):
        return (windows * powers).sum(axis=1, dtype=np.uint64) ^ np.uint64(run)
