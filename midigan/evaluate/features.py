"""Per-piece features after Yang & Lerch (2018), on one monophonic line.

Every metric in :mod:`midigan.evaluate` reads a :class:`Tune`: the sounding notes of a
melody (rests dropped, pitches in the piece's real key) with the meter, key and chord
context each note sits in. A Tune is made from a :class:`~midigan.music.score.Score` or a
``NoteStreams`` alike, so generated and real pieces pass through exactly the same code.

Features are pure functions ``f(piece) -> float | np.ndarray`` of a Tune, a Score or a
NoteStreams (:func:`on_tune` converts the latter two). Pitch-class features are
taken relative to the tonic (the tonic is pitch class 0), so pieces in different keys
compare; durations are measured in quarter notes. On a tune without notes the counts
return 0, the means and ranges 0, and the histograms and transition matrices all zeros.

Reference: L.-C. Yang and A. Lerch, "On the evaluation of generative models in music",
Neural Computing and Applications 32, 2020 (online 2018).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from midigan.music.score import TPQ, ChordLabel, Meter, Score
from midigan.music.theory import scale_pitch_classes, strong_beat_ticks

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
            key: `(tonic_pc, mode)`, or None to estimate it from the notes.
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
        tonic, mode = key if key is not None else estimate_key(pitch)
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
        from midigan.music.melody import extract_melody

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


def as_tune(piece: Tune | Score | NoteStreams) -> Tune:
    """Accept a Tune, a Score or a NoteStreams (anything with `.shift` and `.pitch` arrays)."""
    if isinstance(piece, Tune):
        return piece
    if isinstance(piece, Score):
        return Tune.from_score(piece)
    return Tune.from_streams(piece)


R = TypeVar("R")


def on_tune(metric: Callable[..., R]) -> Callable[..., R]:
    """Let a metric written for a Tune take a Score or NoteStreams too (converted first)."""

    @functools.wraps(metric)
    def wrapper(piece: Tune | Score | NoteStreams, *args: Any, **kwargs: Any) -> R:
        return metric(as_tune(piece), *args, **kwargs)

    return wrapper


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


def estimate_key(pitch: np.ndarray) -> tuple[int, str]:
    """The major or minor key whose scale holds the most notes (ties: major, lowest tonic).

    Used only where a source carries no key signature; (0, 'major') for no notes.
    """
    pcs = np.bincount(np.asarray(pitch, dtype=np.int64) % 12, minlength=12) if len(pitch) else np.zeros(12)
    best, best_key = -1.0, (0, "major")
    for mode in ("major", "minor"):
        for tonic in range(12):
            inside = sum(pcs[pc] for pc in scale_pitch_classes(tonic, mode, harmonic=False))
            if inside > best:
                best, best_key = inside, (tonic, mode)
    return best_key


# ----------------------------------------------------------------- scalar features
@on_tune
def pitch_count(tune: Tune) -> float:
    """Number of distinct MIDI pitches used (0 for no notes)."""
    return float(np.unique(tune.pitch).size)


@on_tune
def pitch_range(tune: Tune) -> float:
    """Highest minus lowest pitch, in semitones (0 for fewer than two notes)."""
    return float(tune.pitch.max() - tune.pitch.min()) if len(tune) else 0.0


@on_tune
def average_pitch_interval(tune: Tune) -> float:
    """Mean absolute interval between consecutive notes, in semitones (0 for < 2 notes)."""
    return float(np.abs(np.diff(tune.pitch)).mean()) if len(tune) > 1 else 0.0


@on_tune
def note_count(tune: Tune) -> float:
    """Number of sounding notes."""
    return float(len(tune))


@on_tune
def average_inter_onset_interval(tune: Tune) -> float:
    """Mean time between consecutive onsets, in quarter notes (0 for < 2 notes)."""
    return float(np.diff(tune.onset).mean() / TPQ) if len(tune) > 1 else 0.0


# ----------------------------------------------------------- histogram features
@on_tune
def pitch_class_histogram(tune: Tune) -> np.ndarray:
    """(12,) share of notes on each pitch class counted from the tonic; zeros for no notes."""
    counts = np.bincount(tune.relative_pitch_class, minlength=12).astype(np.float64)
    return counts / counts.sum() if len(tune) else counts


@on_tune
def pitch_class_transition_matrix(tune: Tune) -> np.ndarray:
    """(12, 12) share of consecutive note pairs going from pitch class i to j (tonic = 0)."""
    pcs = tune.relative_pitch_class
    return _transition_matrix(pcs[:-1], pcs[1:], 12)


def note_length_class(duration_ticks: np.ndarray) -> np.ndarray:
    """Index into :data:`NOTE_LENGTH_CLASSES_QUARTERS` nearest each length in log scale."""
    classes = np.log(np.array(NOTE_LENGTH_CLASSES_QUARTERS))
    lengths = np.log(np.asarray(duration_ticks, dtype=np.float64).reshape(-1, 1) / TPQ)
    return np.abs(lengths - classes).argmin(axis=1)


@on_tune
def note_length_histogram(tune: Tune) -> np.ndarray:
    """(12,) share of notes in each note-length class; zeros for no notes."""
    counts = np.bincount(note_length_class(tune.duration), minlength=12).astype(np.float64)
    return counts / counts.sum() if len(tune) else counts


@on_tune
def note_length_transition_matrix(tune: Tune) -> np.ndarray:
    """(12, 12) share of consecutive note pairs going from length class i to j."""
    classes = note_length_class(tune.duration)
    return _transition_matrix(classes[:-1], classes[1:], 12)


def _transition_matrix(source: np.ndarray, target: np.ndarray, size: int) -> np.ndarray:
    matrix = np.zeros((size, size), dtype=np.float64)
    np.add.at(matrix, (source, target), 1.0)
    return matrix / matrix.sum() if source.size else matrix


Feature = Callable[[Tune], Any]

FEATURES: dict[str, Feature] = {
    "pitch_count": pitch_count,
    "pitch_class_histogram": pitch_class_histogram,
    "pitch_class_transition_matrix": pitch_class_transition_matrix,
    "pitch_range": pitch_range,
    "average_pitch_interval": average_pitch_interval,
    "note_count": note_count,
    "average_inter_onset_interval": average_inter_onset_interval,
    "note_length_histogram": note_length_histogram,
    "note_length_transition_matrix": note_length_transition_matrix,
}
"""The nine Yang & Lerch features, in the order reports list them."""

SCALAR_FEATURES = tuple(name for name in FEATURES if not name.endswith(("histogram", "matrix")))


def feature_table(tunes: list[Tune], names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Each feature over a set of tunes: name -> (n, d) array (d = 1 for scalars, 144 for matrices)."""
    table = {}
    for name in names or tuple(FEATURES):
        values = [np.asarray(FEATURES[name](t), dtype=np.float64).reshape(-1) for t in tunes]
        table[name] = np.stack(values) if values else np.zeros((0, 1))
    return table
