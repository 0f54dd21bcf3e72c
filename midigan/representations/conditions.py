"""What a user asks of a generated piece: :class:`Conditions`.

A request names bars, meter, key, chord progression, style, tempo and an optional
primer melody; the ids the model sees for them are in :mod:`midigan.representations.ids`.
A request fixes a melody's timeline before any note exists, so it can stand in for a
melody as the template of a :class:`~midigan.representations.streams.NoteStreams`
(:meth:`Conditions.streams_template`).

No torch here: conditions are part of the data layer.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from midigan.errors import ConfigError, TheoryError
from midigan.music import theory
from midigan.music.score import TPQ, ChordLabel, KeySignature, Meter, Tempo
from midigan.representations.ids import MODES, Chord, chord_id, mode_id, shift_to_c, style_id
from midigan.representations.streams import NoteStreams

MIN_QPM, MAX_QPM = 20.0, 400.0
MAX_BARS = 512


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
        style: a name from :data:`~midigan.representations.ids.STYLES`, or None (treated as 'folk').
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

    def streams_template(self) -> NoteStreams:
        """The melody this request describes, with no events yet: its bars, meter, key, tempo,
        style and chords (roots moved to C with the melody), for a generated melody to take.

        Raises:
            TheoryError: an unknown mode or style.
        """
        tonic, mode = self.key
        no_events = np.zeros(0, dtype=np.int16)
        return NoteStreams(
            pitch=no_events,
            duration=np.zeros(0, dtype=np.int32),
            velocity=no_events,
            onset=np.zeros(0, dtype=np.int32),
            chord=no_events,
            position=no_events,
            bars_remaining=no_events,
            meter=no_events,
            bar_index=no_events,
            mode=mode_id(mode),
            style=style_id(self.style),
            shift=shift_to_c(tonic),
            bar_count=self.bars,
            meters=[Meter(0, *self.meter)],
            tempos=[Tempo(0, float(self.qpm))],
            key=KeySignature(0, tonic, mode),
            chord_labels=self.chord_labels(),
        )

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
        if mode not in MODES:
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
