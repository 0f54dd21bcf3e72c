"""Pitch, key, chord and meter names: parsing user text and naming what we hold.

Every user-facing string (``--key F#m``, ``--chords "C G7 | Am F"``, ``--meter 6/8``)
passes through here, so an unknown name fails in one place with one clear message.
"""

from __future__ import annotations

import re

from midigan.errors import TheoryError

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
"""Spelling used when we name a pitch class (flats for Eb Ab Bb, as musicians write keys)."""

_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor
HARMONIC_MINOR_EXTRA = (11,)  # the raised leading tone minor tunes use all the time

CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
    "sus2": (0, 2, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
}
"""Chord qualities we know, with their intervals above the root."""

_QUALITY_SUFFIXES: dict[str, str] = {
    "": "maj",
    "maj": "maj",
    "M": "maj",
    "m": "min",
    "min": "min",
    "-": "min",
    "dim": "dim",
    "o": "dim",
    "°": "dim",
    "aug": "aug",
    "+": "aug",
    "sus4": "sus4",
    "sus": "sus4",
    "sus2": "sus2",
    "7": "7",
    "dom7": "7",
    "maj7": "maj7",
    "M7": "maj7",
    "Δ": "maj7",
    "Δ7": "maj7",
    "m7": "m7",
    "min7": "m7",
    "-7": "m7",
    "m7b5": "m7b5",
    "ø": "m7b5",
    "ø7": "m7b5",
    "dim7": "dim7",
    "o7": "dim7",
    "°7": "dim7",
}
_QUALITY_DISPLAY = {
    "maj": "",
    "min": "m",
    "dim": "dim",
    "aug": "aug",
    "sus4": "sus4",
    "sus2": "sus2",
    "7": "7",
    "maj7": "maj7",
    "m7": "m7",
    "m7b5": "m7b5",
    "dim7": "dim7",
}
NO_CHORD_SYMBOLS = ("N.C.", "NC", "N", "-", "x")

METERS = ("4/4", "3/4", "2/4", "6/8", "2/2", "3/8", "9/8", "12/8", "6/4", "3/2", "5/4")
"""Meters the model knows by name; others map to the nearest by beat grouping."""


def parse_pitch_class(text: str) -> int:
    """'C' -> 0, 'F#' -> 6, 'Bb' -> 10, 'E♭' -> 3.

    Raises:
        TheoryError: `text` is not a note letter with optional sharps or flats.
    """
    match = re.fullmatch(r"([A-Ga-g])([#♯b♭]*)", text.strip())
    if not match:
        raise TheoryError(f"unknown pitch name {text!r}: use a letter A-G with # or b, e.g. 'F#'")
    letter, accidentals = match.groups()
    shift = sum(1 if a in "#♯" else -1 for a in accidentals)
    return (_LETTER_PC[letter.upper()] + shift) % 12


def pitch_class_name(pc: int) -> str:
    return PITCH_CLASS_NAMES[pc % 12]


def parse_key(text: str) -> tuple[int, str]:
    """Parse a key name into `(tonic_pc, mode)`.

    Accepts 'C', 'Am', 'F#m', 'Bb', 'Ebmaj', 'D minor', 'g' (lower case = minor).

    Raises:
        TheoryError: unknown key name.
    """
    raw = text.strip()
    match = re.fullmatch(r"([A-Ga-g][#♯b♭]?)\s*(m|min|minor|maj|major|M)?", raw)
    if not match:
        raise TheoryError(
            f"unknown key {text!r}: write a tonic and optional 'm' for minor, e.g. C, Am, F#m, Bb"
        )
    tonic_text, mode_text = match.groups()
    tonic = parse_pitch_class(tonic_text)
    if mode_text in ("m", "min", "minor"):
        mode = "minor"
    elif mode_text in ("maj", "major", "M"):
        mode = "major"
    else:
        mode = "minor" if tonic_text[0].islower() else "major"
    return tonic, mode


def key_name(tonic: int, mode: str) -> str:
    """(9, 'minor') -> 'Am'."""
    return pitch_class_name(tonic) + ("m" if mode == "minor" else "")


def scale_pitch_classes(tonic: int, mode: str, harmonic: bool = True) -> frozenset[int]:
    """Pitch classes of the key; minor includes the raised 7th when `harmonic`."""
    steps = MAJOR_SCALE if mode == "major" else MINOR_SCALE + (HARMONIC_MINOR_EXTRA if harmonic else ())
    return frozenset((tonic + s) % 12 for s in steps)


def parse_chord(text: str) -> tuple[int | None, str]:
    """Parse a chord symbol into `(root_pc, quality)`; `(None, 'maj')` for no chord.

    Accepts 'C', 'Am', 'F#m7', 'Bb7', 'G7', 'Bdim', 'Caug', 'Dsus4', 'Cmaj7', 'Bm7b5',
    'N.C.'. A slash bass ('C/E') is accepted and ignored.

    Raises:
        TheoryError: unknown chord symbol.
    """
    raw = text.strip()
    if raw in NO_CHORD_SYMBOLS:
        return None, "maj"
    match = re.fullmatch(r"([A-G][#♯b♭]?)([^/]*)(?:/[A-G][#♯b♭]?)?", raw)
    if not match or match.group(2) not in _QUALITY_SUFFIXES:
        known = ", ".join(f"C{s}" for s in sorted({v for v in _QUALITY_DISPLAY.values()}))
        raise TheoryError(f"unknown chord symbol {text!r}: use a root A-G and one of {known}")
    return parse_pitch_class(match.group(1)), _QUALITY_SUFFIXES[match.group(2)]


def chord_symbol(root: int | None, quality: str) -> str:
    """(9, 'min') -> 'Am'; (None, _) -> 'N.C.'."""
    if root is None:
        return "N.C."
    return pitch_class_name(root) + _QUALITY_DISPLAY[quality]


def chord_pitch_classes(root: int | None, quality: str) -> frozenset[int]:
    """Pitch classes of a chord (empty for no chord)."""
    if root is None:
        return frozenset()
    return frozenset((root + i) % 12 for i in CHORD_QUALITIES[quality])


def parse_progression(text: str) -> list[list[tuple[int | None, str]]]:
    """Parse a chord progression into bars of chords.

    "C G Am F" is one chord a bar; with '|' the bars are explicit and a bar may hold
    several chords that split it evenly: "C G | Am | F C".

    Raises:
        TheoryError: an unknown symbol, or an empty progression.
    """
    bars = [bar.split() for bar in text.split("|")] if "|" in text else [[symbol] for symbol in text.split()]
    bars = [bar for bar in bars if bar]
    if not bars:
        raise TheoryError(f"empty chord progression {text!r}: give chord symbols like 'C G Am F'")
    return [[parse_chord(symbol) for symbol in bar] for bar in bars]


def parse_meter(text: str) -> tuple[int, int]:
    """'6/8' -> (6, 8).

    Raises:
        TheoryError: not of the form N/D with D a power of two up to 32.
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise TheoryError(f"unknown meter {text!r}: write it as N/D, e.g. 4/4, 3/4, 6/8")
    numerator, denominator = int(match.group(1)), int(match.group(2))
    if not 1 <= numerator <= 32 or denominator not in (1, 2, 4, 8, 16, 32):
        raise TheoryError(f"unknown meter {text!r}: numerator 1-32, denominator 1, 2, 4, 8, 16 or 32")
    return numerator, denominator


def is_compound(numerator: int, denominator: int) -> bool:
    """6/8, 9/8, 12/8: beats of three eighths."""
    return denominator == 8 and numerator % 3 == 0 and numerator > 3


def strong_beat_ticks(numerator: int, denominator: int, tpq: int) -> tuple[int, ...]:
    """Positions (ticks from the barline) of the beats that carry weight.

    Compound meters group eighths in threes; simple meters count every beat, and the
    strong ones are the downbeat and (in 4/4-like bars) the middle.
    """
    beat = tpq * 4 // denominator
    if is_compound(numerator, denominator):
        return tuple(i * 3 * beat for i in range(numerator // 3))
    if numerator == 4:
        return (0, 2 * beat)
    return (0,) if numerator in (2, 3) else tuple(range(0, numerator * beat, 2 * beat))
