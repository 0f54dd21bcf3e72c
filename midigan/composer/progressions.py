"""Default chord progressions: what compose plays when the musician names no chords.

Every training melody carries chord labels (real ones for the chorales, estimated
ones for the folk collections), so the model writes its most idiomatic melodies
when it is given chords. When none are asked for, :func:`default_progression`
picks a plain folk progression in the key's mode, drawn from the seed, one chord a
bar, and closes the piece with an authentic cadence (V - I). A primer's own bars
keep the chords estimated from its notes, so its harmony is not contradicted.

A model trained with a harmony model (:mod:`midigan.model.harmony`) instead samples the
chords, one or two a bar as the corpus has them, with cadences where its tunes have them
(:func:`learned_progressions`); the user may fix some bars or half-bars and leave the
rest to it with :data:`OPEN` (``?`` in a progression). Without one, the open slots take
the hand-written pattern's chord of their bar (:func:`fill_open`).

Asking for no chords at all (``chords="none"``) is still possible: the model then
writes unconditioned on harmony, and the arrangement follows chords estimated from
the melody afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from midigan.composer.arrange import estimate_chords_from_melody
from midigan.music.score import Score
from midigan.representations.ids import chord_from_id, chord_id, meter_id, mode_id, shift_to_c, style_id

if TYPE_CHECKING:
    from midigan.model.harmony import HarmonyModel

Chord = tuple[int | None, str]

OPEN: Chord = (None, "?")
"""A bar's chord left to the model (``?`` in a progression): a whole bar, or one half of a two-chord bar."""

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


# ------------------------------------------------------------------ open slots
def has_open(progression: Sequence[Sequence[Chord]]) -> bool:
    """Whether any bar of `progression` leaves a chord to the model (:data:`OPEN`)."""
    return any(tuple(chord) == OPEN for bar in progression for chord in bar)


def cycled(progression: Sequence[Sequence[Chord]], bars: int) -> list[list[Chord]]:
    """`progression` cycled (or cut) to exactly `bars` bars, as the piece plays it."""
    return [list(progression[bar % len(progression)]) for bar in range(bars)]


def fill_open(template: Sequence[Sequence[Chord]], fallback: Sequence[Sequence[Chord]]) -> list[list[Chord]]:
    """`template` with each open chord of bar b replaced by `fallback[b]`'s first chord (a chord
    repeated within a bar is played once)."""
    out = []
    for bar, other in zip(template, fallback, strict=True):
        filled = [other[0] if tuple(chord) == OPEN else tuple(chord) for chord in bar]
        out.append([c for i, c in enumerate(filled) if i == 0 or c != filled[i - 1]])
    return out


@dataclass(frozen=True)
class HarmonyRequest:
    """One piece's harmony to sample: its key, meter, style, seed and bars (with :data:`OPEN` slots)."""

    key: tuple[int, str]
    meter: tuple[int, int]
    style: str | None
    seed: int
    bars: list[list[Chord]]


def learned_progressions(harmony: HarmonyModel, requests: list[HarmonyRequest]) -> list[list[list[Chord]]]:
    """Each request's bars with its open slots sampled by `harmony` (one batched call).

    A bar is two slots, its downbeat and its middle: a one-chord bar forces both, a
    two-chord bar one each, an open chord leaves its slot (an open bar both) to the model,
    which sees the forced slots before each one it draws. Each piece draws from its own
    seed, so it gets the chords it would get alone. A sampled bar holds one chord, or two
    when its halves differ; a bar the user gave with three or more chords is kept as given.
    """
    import torch

    from midigan.model.harmony import FREE, SlotConditions, piece_uniforms

    shifts = [shift_to_c(r.key[0]) for r in requests]
    forced = []
    for request, shift in zip(requests, shifts, strict=True):
        row = []
        for bar in request.bars:
            halves = (bar[0], bar[0]) if len(bar) == 1 else (bar[0], bar[len(bar) // 2])
            for root, quality in halves:
                free = (root, quality) == OPEN
                row.append(FREE if free else chord_id(None if root is None else (root + shift) % 12, quality))
        forced.append(row)
    cond = SlotConditions.build(
        harmony.config,
        [style_id(r.style) for r in requests],
        [mode_id(r.key[1]) for r in requests],
        [[meter_id(*r.meter)] * len(r.bars) for r in requests],
    )
    slots = cond.meter.shape[1]
    drawn = harmony.sample(
        cond,
        torch.tensor([row + [FREE] * (slots - len(row)) for row in forced], dtype=torch.long),
        piece_uniforms([r.seed for r in requests], slots),
    ).tolist()
    out = []
    for request, shift, ids in zip(requests, shifts, drawn, strict=True):
        bars = []
        for b, given in enumerate(request.bars):
            if len(given) > 2:
                bars.append([tuple(c) for c in given])
                continue
            first, second = (_unshift(chord_from_id(i), shift) for i in ids[2 * b : 2 * b + 2])
            bars.append([first] if first == second else [first, second])
        out.append(bars)
    return out


def _unshift(chord: Chord, shift: int) -> Chord:
    root, quality = chord
    return (None if root is None else (root - shift) % 12, quality)
