"""What a user asks of a generated piece, and the integer ids the model sees for it.

The model is conditioned per event on the chord at the onset, the position in the
bar, the bars remaining, the meter, and per piece on mode and style. This module
owns those id spaces (so the data pipeline, the sampler and the evaluation agree
on them) and :class:`Conditions`, the request a user makes: bars, meter, key,
chord progression, style, tempo and an optional primer melody.

No torch here: conditions are part of the data layer.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from midigan.errors import ConfigError, TheoryError
from midigan.music import theory
from midigan.music.score import TPQ, ChordLabel

if TYPE_CHECKING:
    from midigan.representations.streams import NoteStreams

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

MIN_QPM, MAX_QPM = 20.0, 400.0
MAX_BARS = 512

_MODES = ("major", "minor")
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
    if mode not in _MODES:
        raise TheoryError(f"unknown mode {mode!r}: use 'major' or 'minor'")
    return _MODES.index(mode)


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


@dataclass(frozen=True)
class Conditions:
    """What a user asks of a generated piece.

    Lists are accepted where tuples are declared (e.g. the output of
    :func:`midigan.music.theory.parse_progression`) and are frozen on construction.

    Attributes:
        bars: length of the piece in bars (1..512).
        meter: `(numerator, denominator)`, one meter for the whole piece.
        key: `(tonic pitch class, mode)`.
        chords: per bar, the chords splitting it evenly; the bars cycle over the
            piece; `()` means no chords.
        style: a name from :data:`STYLES`, or None (treated as 'folk').
        qpm: tempo in quarter notes per minute (20..400).
        primer: a melody to continue (in the requested key), or None. Not part of
            equality or hashing (it holds arrays).
    """

    bars: int
    meter: tuple[int, int] = (4, 4)
    key: tuple[int, str] = (0, "major")
    chords: tuple[tuple[Chord, ...], ...] = ()
    style: str | None = None
    qpm: float = 120.0
    primer: NoteStreams | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meter", tuple(self.meter))
        object.__setattr__(self, "key", tuple(self.key))
        object.__setattr__(self, "chords", tuple(tuple(tuple(c) for c in bar) for bar in self.chords))

    @classmethod
    def from_text(
        cls,
        bars: int,
        meter: str | tuple[int, int] = "4/4",
        key: str | tuple[int, str] = "C",
        chords: str | Sequence[str] | None = None,
        style: str | None = None,
        qpm: float = 120.0,
        primer: NoteStreams | None = None,
    ) -> Conditions:
        """Build and validate conditions from the names a user types.

        Args:
            bars: number of bars.
            meter: '6/8' or `(6, 8)`.
            key: 'Am', 'F#' or `(9, 'minor')`.
            chords: 'C G | Am F' (bars split by '|'), 'C G Am F' (one chord a bar),
                a list of symbols (one a bar), or None for no chords.
            style: a name from :data:`STYLES` or None.
            qpm: tempo.
            primer: a melody to continue.

        Raises:
            TheoryError: an unknown meter, key or chord name.
            ConfigError: a value out of range.
        """
        meter_tuple = theory.parse_meter(meter) if isinstance(meter, str) else tuple(meter)
        key_tuple = theory.parse_key(key) if isinstance(key, str) else tuple(key)
        if chords is None:
            progression: list[list[Chord]] = []
        elif isinstance(chords, str):
            progression = theory.parse_progression(chords)
        else:
            progression = [[theory.parse_chord(symbol)] for symbol in chords]
        made = cls(bars, meter_tuple, key_tuple, progression, style, qpm, primer)  # type: ignore[arg-type]
        made.validate()
        return made

    # ------------------------------------------------------------- timeline
    def bar_ticks(self) -> int:
        """Length of one bar in ticks."""
        numerator, denominator = self.meter
        return TPQ * 4 * numerator // denominator

    def total_ticks(self) -> int:
        """Length of the whole piece in ticks."""
        return self.bars * self.bar_ticks()

    def _chord_slots(self, bar: int) -> tuple[tuple[Chord, ...], int]:
        """The chords of `bar` (cycled) and the ticks each one holds (the last takes the rest)."""
        bar_chords = self.chords[bar % len(self.chords)]
        return bar_chords, max(1, self.bar_ticks() // max(1, len(bar_chords)))

    def chord_at(self, tick: int) -> Chord:
        """The requested chord sounding at absolute `tick` (before any transposition).

        Bars cycle over :attr:`chords`; within a bar of k chords each holds
        `bar_ticks // k` ticks and the last one takes the rest.
        """
        if not self.chords:
            return None, "maj"
        bar, within = divmod(tick, self.bar_ticks())
        bar_chords, slot = self._chord_slots(bar)
        if not bar_chords:
            return None, "maj"
        return bar_chords[min(within // slot, len(bar_chords) - 1)]

    def chord_labels(self) -> list[ChordLabel]:
        """The whole chord timeline as Score labels: one label per chord per bar.

        A chord held over several bars is restated at each barline, as a lead sheet
        would; `[]` when no chords are requested.
        """
        if not self.chords:
            return []
        labels = []
        bar_ticks = self.bar_ticks()
        for bar in range(self.bars):
            bar_chords, slot = self._chord_slots(bar)
            for j, (root, quality) in enumerate(bar_chords):
                labels.append(ChordLabel(bar * bar_ticks + j * slot, root, quality))
        return labels

    # ----------------------------------------------------------- validation
    def validate(self) -> None:
        """Check every field; the message names the argument at fault.

        Raises:
            ConfigError: bars, qpm or primer out of range.
            TheoryError: an unknown meter, key, mode, chord or style.
        """
        if not isinstance(self.bars, numbers.Integral) or isinstance(self.bars, bool):
            raise ConfigError(f"bars must be a whole number (got {self.bars!r})")
        if self.bars < 1:
            raise ConfigError(f"bars must be at least 1 (got {self.bars})")
        if self.bars > MAX_BARS:
            raise ConfigError(f"bars must be at most {MAX_BARS} (got {self.bars})")
        self._validate_meter()
        tonic, mode = self.key
        if not isinstance(tonic, numbers.Integral) or not 0 <= tonic <= 11:
            raise TheoryError(f"key tonic must be a pitch class 0-11 (got {tonic!r})")
        if mode not in _MODES:
            raise TheoryError(f"key mode must be 'major' or 'minor' (got {mode!r})")
        for bar_index, bar in enumerate(self.chords):
            if not bar:
                raise TheoryError(f"chords: bar {bar_index + 1} of the progression is empty")
            for root, quality in bar:
                chord_id(root, quality)
        style_id(self.style)
        if not MIN_QPM <= float(self.qpm) <= MAX_QPM:
            raise ConfigError(f"qpm must be between {MIN_QPM:g} and {MAX_QPM:g} (got {self.qpm:g})")
        if self.primer is not None:
            primer_ticks = int(self.primer.duration.sum())
            if primer_ticks > self.total_ticks():
                raise ConfigError(
                    f"primer is {primer_ticks} ticks long but {self.bars} bars of "
                    f"{self.meter[0]}/{self.meter[1]} hold only {self.total_ticks()}: ask for more bars"
                )

    def _validate_meter(self) -> None:
        numerator, denominator = self.meter
        theory.parse_meter(f"{numerator}/{denominator}")
        if (TPQ * 4 * numerator) % denominator:
            raise TheoryError(
                f"meter {numerator}/{denominator} is not a whole number of ticks at {TPQ} per quarter: "
                "use a denominator of 16 or less"
            )
