"""Per-piece features after Yang & Lerch (2018), on one monophonic line.

Every metric in :mod:`midigan.evaluate` reads a :class:`~midigan.representations.tune.Tune`:
the sounding notes of a melody (rests dropped, pitches in the piece's real key) with the
meter, key and chord context each note sits in.

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
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from midigan.music.score import TPQ, Score
from midigan.representations.tune import NOTE_LENGTH_CLASSES_QUARTERS, Tune

if TYPE_CHECKING:
    from midigan.representations.streams import NoteStreams


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
