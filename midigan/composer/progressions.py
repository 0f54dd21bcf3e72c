"""Default chord progressions: what compose plays when the musician names no chords.

Every training melody carries chord labels (real ones for the chorales, estimated
ones for the folk collections), so the model writes its most idiomatic melodies
when it is given chords. When none are asked for, :func:`default_progression`
picks a plain folk progression in the key's mode, drawn from the seed, one chord a
bar, and closes the piece with an authentic cadence (V - I). A primer's own bars
keep the chords estimated from its notes, so its harmony is not contradicted.

Asking for no chords at all (``chords="none"``) is still possible: the model then
writes unconditioned on harmony, and the arrangement follows chords estimated from
the melody afterwards.
"""

from __future__ import annotations

import random
from itertools import pairwise

from midigan.composer.arrange import estimate_chords_from_melody
from midigan.music.score import Score

Chord = tuple[int | None, str]

DEGREES: dict[str, tuple[int, str]] = {
    "I": (0, "maj"), "ii": (2, "min"), "iii": (4, "min"), "IV": (5, "maj"), "V": (7, "maj"),
    "vi": (9, "min"), "i": (0, "min"), "III": (3, "maj"), "iv": (5, "min"), "VI": (8, "maj"),
    "VII": (10, "maj"),
}  # fmt: skip
"""Roman numerals: semitones above the tonic and chord quality."""

PATTERNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "major": (
        ("I", "IV", "V", "I"),
        ("I", "vi", "IV", "V"),
        ("I", "IV", "I", "V"),
        ("I", "I", "V", "I"),
        ("I", "ii", "V", "I"),
    ),
    "minor": (
        ("i", "iv", "V", "i"),
        ("i", "VII", "VI", "V"),
        ("i", "VII", "i", "V"),
        ("i", "iv", "VII", "III"),
    ),
}
"""Four-bar progressions common in the folk and fiddle collections, cycled over the piece."""

CADENCE = {"major": ("V", "I"), "minor": ("V", "i")}
"""The last two bars: dominant, then tonic."""

NO_CHORDS = ("none", "free")
"""Words that ask for no chord conditioning at all."""


def default_progression(key: tuple[int, str], bars: int, seed: int) -> list[list[Chord]]:
    """One chord a bar for `bars` bars: a pattern of :data:`PATTERNS` drawn from the seed.

    Args:
        key: `(tonic pitch class, mode)`.
        bars: length of the piece.
        seed: the piece's seed (the same seed draws the same pattern; a batch's pieces
            have consecutive seeds, so it varies its progressions).

    Returns:
        Bars of `(root, quality)`, `bars` of them, ending V - I (just I for one bar).
    """
    tonic, mode = key
    pattern = random.Random(f"midigan-chords:{seed}:0").choice(PATTERNS[mode])  # ':0': earlier draws
    numerals = [pattern[bar % len(pattern)] for bar in range(bars)]
    cadence = CADENCE[mode]
    if bars == 1:
        numerals = [cadence[-1]]
    elif bars >= 2:
        numerals[-2:] = list(cadence)
    return [[_chord(tonic, numeral)] for numeral in numerals]


def bars_of_chords(score: Score) -> list[list[Chord]]:
    """The chords of each bar of `score` (estimated from its melody when it has no labels).

    A bar lists the chord at its downbeat, and a second chord when another one is in
    force at the middle of the bar (the estimator labels whole or half bars).
    """
    labels = score.chords or estimate_chords_from_melody(score)
    probe = Score(chords=labels)
    starts = score.bar_starts()
    out: list[list[Chord]] = []
    for bar_start, bar_end in pairwise(starts):
        first = probe.chord_at(bar_start)
        middle = probe.chord_at((bar_start + bar_end) // 2)
        bar = [(first.root, first.quality) if first else (None, "maj")]
        if middle is not None and middle.tick > bar_start and (middle.root, middle.quality) != bar[0]:
            bar.append((middle.root, middle.quality))
        out.append(bar)
    return out


def _chord(tonic: int, numeral: str) -> Chord:
    offset, quality = DEGREES[numeral]
    return (tonic + offset) % 12, quality
