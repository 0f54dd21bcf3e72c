"""The id spaces the model is conditioned on: chords, meters, modes, styles, positions.

The model sees, per event, the chord at the onset, the position in the bar, the bars
remaining, the meter and (models with a form table) the bar index, and per piece the mode
and the style. Their ids are defined once here, so the data pipeline, the sampler, the
token vocabulary and the evaluation agree on them.
"""

from __future__ import annotations

from collections.abc import Iterable

from midigan.errors import TheoryError
from midigan.music import theory
from midigan.music.score import ChordLabel

STYLES = ("folk", "irish", "fiddle", "chorale")
"""Corpus collections the model knows: Essen, O'Neill's 1850, Ryan's Mammoth, Bach chorales."""

METER_NAMES = (*theory.METERS, "other")
"""Meter vocabulary: meter id = index; every meter not named maps to 'other'."""

CHORD_QUALITY_NAMES = tuple(theory.CHORD_QUALITIES)
"""Chord qualities in id order (11)."""

N_CHORDS = 1 + 12 * len(CHORD_QUALITY_NAMES)
"""Chord ids: 0 = no chord, else 1 + root * 11 + quality index."""

MAX_POSITION = 96
"""Position-in-bar ids 0..95 (ticks from the barline; 12/8 = 72 ticks fits). Longer bars clip."""

MAX_BARS_REMAINING = 32
"""Bars-remaining ids are clipped to 1..32: beyond 32 bars the cadence is far away anyway."""

MAX_BAR_INDEX = 32
"""Bar-index ids 0..31: the bar holding the onset, counted from the piece's first barline (the
form condition: where a phrase or part starts). Later bars share id 31: parts of the tunes
the model learns from span 4-16 bars, so bar 32 on is a repeat or a coda.

A pickup counts: it is stored padded to a whole bar 0 (:mod:`midigan.music.score`), so its
tune's first full bar is bar 1. Most corpus tunes open with one (68-90% per style), so the
count from the first barline puts most phrase starts on 1, 5, 9, ...; a request (no pickup
known) is counted the same way, which keeps sampling in the training distribution."""

MODES = ("major", "minor")
"""Mode names in id order."""
_OTHER_METER = len(METER_NAMES) - 1

Chord = tuple[int | None, str]


def chord_id(root: int | None, quality: str) -> int:
    """Id of a chord: 0 for no chord (`root=None`), else `1 + root * 11 + quality index`.

    Raises:
        TheoryError: unknown quality or a root outside 0-11.
    """
    if root is None:
        return 0
    if quality not in theory.CHORD_QUALITIES:
        raise TheoryError(f"unknown chord quality {quality!r}: use one of {', '.join(CHORD_QUALITY_NAMES)}")
    if not 0 <= root <= 11:
        raise TheoryError(f"chord root must be a pitch class 0-11 (got {root})")
    return 1 + root * len(CHORD_QUALITY_NAMES) + CHORD_QUALITY_NAMES.index(quality)


def chord_from_id(i: int) -> Chord:
    """Inverse of :func:`chord_id`; id 0 gives `(None, 'maj')`.

    Raises:
        TheoryError: `i` outside 0..N_CHORDS-1.
    """
    if not 0 <= i < N_CHORDS:
        raise TheoryError(f"chord id must be in 0..{N_CHORDS - 1} (got {i})")
    if i == 0:
        return None, "maj"
    root, quality = divmod(int(i) - 1, len(CHORD_QUALITY_NAMES))
    return root, CHORD_QUALITY_NAMES[quality]


def meter_id(numerator: int, denominator: int) -> int:
    """Index of `n/d` in :data:`METER_NAMES`; meters not named there get the 'other' id."""
    name = f"{numerator}/{denominator}"
    return METER_NAMES.index(name) if name in METER_NAMES[:-1] else _OTHER_METER


def mode_id(mode: str) -> int:
    """'major' -> 0, 'minor' -> 1.

    Raises:
        TheoryError: any other mode name.
    """
    if mode not in MODES:
        raise TheoryError(f"unknown mode {mode!r}: use 'major' or 'minor'")
    return MODES.index(mode)


def style_id(style: str | None) -> int:
    """Index of `style` in :data:`STYLES`; None means 'folk' (id 0).

    Raises:
        TheoryError: a style name midigan does not know.
    """
    if style is None:
        return 0
    if style not in STYLES:
        raise TheoryError(f"unknown style {style!r}: use one of {', '.join(STYLES)}")
    return STYLES.index(style)


def shift_to_c(tonic: int | None) -> int:
    """Semitones to add to reach tonic C, in -5..+6 (0 when the key is unknown)."""
    if tonic is None:
        return 0
    shift = (-tonic) % 12
    return shift - 12 if shift > 6 else shift


def shifted_chord_ids(labels: Iterable[ChordLabel], shift: int) -> list[int]:
    """The chord id of each label with its root moved by `shift` semitones, as the melody's pitches are.

    Raises:
        TheoryError: a label with an unknown quality.
    """
    return [chord_id(None if c.root is None else (c.root + shift) % 12, c.quality) for c in labels]
