"""Musical statistics of single pieces: tonality, repetition, harmony and dynamics.

The first three follow C-RNN-GAN (Mogren 2016): scale consistency, repetitions and tone
span. Pitch-class entropy and velocity statistics describe variety and dynamics; the
chord-tone ratio asks whether the melody sounds a chord tone where the beat is strong,
which is what makes a tune fit its accompaniment; key consistency asks whether it stays
in the key it was asked for.

Every function maps a :class:`~midigan.representations.tune.Tune` (or a Score or
NoteStreams, converted) to a float. Ratios are
nan on a tune where they are undefined (no notes, no labelled strong beats), so set
means use ``nanmean`` and an empty piece neither helps nor hurts.
"""

from __future__ import annotations

import numpy as np

from midigan.evaluate.features import on_tune, pitch_range
from midigan.music.theory import CHORD_QUALITIES, scale_pitch_classes
from midigan.representations.tune import Tune

REPETITION_LENGTHS = (2, 3, 4)
"""Pattern lengths (in notes) :func:`repetitions` is reported for."""

_NAN = float("nan")


@on_tune
def scale_consistency(tune: Tune) -> float:
    """Share of notes in the best-fitting major or natural-minor scale (any tonic), in [0, 1].

    Ignores the key the piece claims: it measures how tonal the notes are at all.
    nan for no notes.
    """
    if not len(tune):
        return _NAN
    counts = np.bincount(tune.pitch % 12, minlength=12)
    best = max(
        sum(counts[pc] for pc in scale_pitch_classes(tonic, "major", harmonic=False)) for tonic in range(12)
    )  # every natural-minor scale is some major scale's pitch set
    return float(best / len(tune))


@on_tune
def key_consistency(tune: Tune) -> float:
    """Share of notes in the piece's own key (minor with its raised 7th), in [0, 1]; nan for none."""
    if not len(tune):
        return _NAN
    scale = np.array(sorted(scale_pitch_classes(tune.tonic, tune.mode, harmonic=True)))
    return float(np.isin(tune.pitch % 12, scale).mean())


@on_tune
def repetitions(tune: Tune, length: int = 3) -> float:
    """Share of the piece's `length`-note pitch patterns that repeat an earlier one, in [0, 1].

    C-RNN-GAN counts repeated short subsequences of pitches (timing ignored); dividing
    by the number of patterns makes pieces of different note counts comparable.
    nan when the piece has fewer than `length` notes.
    """
    if len(tune) < length:
        return _NAN
    windows = np.lib.stride_tricks.sliding_window_view(tune.pitch, length)
    unique = np.unique(windows, axis=0).shape[0]
    return float((len(windows) - unique) / len(windows))


@on_tune
def tone_span(tune: Tune) -> float:
    """Semitones between the lowest and highest note (C-RNN-GAN's name for the pitch range)."""
    return pitch_range(tune)


@on_tune
def pitch_class_entropy(tune: Tune) -> float:
    """Shannon entropy of the pitch-class histogram in bits: 0 (one pitch class) to log2(12) ≈ 3.58.

    nan for no notes.
    """
    if not len(tune):
        return _NAN
    p = np.bincount(tune.pitch % 12, minlength=12) / len(tune)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


@on_tune
def velocity_mean(tune: Tune) -> float:
    """Mean MIDI velocity of the notes; nan for no notes."""
    return float(tune.velocity.mean()) if len(tune) else _NAN


@on_tune
def velocity_std(tune: Tune) -> float:
    """Standard deviation of the notes' MIDI velocities; nan for no notes."""
    return float(tune.velocity.std()) if len(tune) else _NAN


@on_tune
def chord_tone_ratio(tune: Tune) -> float:
    """Share of strong-beat notes whose pitch class belongs to the chord label at their onset.

    Strong beats are :func:`midigan.music.theory.strong_beat_ticks` of each bar's meter; notes
    starting under no chord are left out. nan when no labelled note starts on a strong beat.
    """
    eligible = tune.strong & (tune.chord_root >= 0)
    if not eligible.any():
        return _NAN
    hits = [
        (int(pitch) - int(root)) % 12 in CHORD_QUALITIES[quality]
        for pitch, root, quality, ok in zip(
            tune.pitch, tune.chord_root, tune.chord_quality, eligible, strict=True
        )
        if ok
    ]
    return float(np.mean(hits))


STATISTICS = {
    "scale_consistency": scale_consistency,
    "key_consistency": key_consistency,
    **{f"repetitions_{n}": (lambda t, n=n: repetitions(t, n)) for n in REPETITION_LENGTHS},
    "tone_span": tone_span,
    "pitch_class_entropy": pitch_class_entropy,
    "velocity_mean": velocity_mean,
    "velocity_std": velocity_std,
    "chord_tone_ratio": chord_tone_ratio,
}
"""Every per-piece statistic by the name reports use."""


def statistics_table(tunes: list[Tune]) -> dict[str, np.ndarray]:
    """Each statistic over a set: name -> (n,) array (nan where undefined)."""
    return {name: np.array([f(t) for t in tunes], dtype=np.float64) for name, f in STATISTICS.items()}


def summarize(table: dict[str, np.ndarray]) -> dict[str, float]:
    """The nan-ignoring mean of each statistic (nan when it is undefined for every piece)."""
    return {name: float(np.nanmean(v)) if np.isfinite(v).any() else _NAN for name, v in table.items()}
