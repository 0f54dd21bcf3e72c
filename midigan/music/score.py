"""`Score`: the one in-memory form every format and representation converts through.

Everything lives on one integer grid of :data:`TPQ` ticks per quarter note. Twelve
ticks make sixteenths (3) and eighth-note triplets (4) exact, so the folk and
chorale corpora quantize without loss and bar arithmetic is integer arithmetic.

The objects are plain dataclasses (after pretty_midi): users edit them directly.
Notes live inside their :class:`Track`; tempo, meter, key and chord labels are
maps of changes sorted by tick. A pickup (anacrusis) is stored padded with a
leading rest, so barlines always fall on whole bars from tick 0.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from midigan.errors import TheoryError
from midigan.music.theory import chord_symbol, key_name

TPQ = 12
"""Ticks per quarter note of every :class:`Score`."""

DRUM_CHANNEL = 9
"""Zero-based MIDI channel reserved for drums (channel 10 to musicians)."""


@dataclass
class Note:
    """One sounding note. Times are in ticks of :data:`TPQ` per quarter."""

    pitch: int
    onset: int
    duration: int
    velocity: int = 80

    @property
    def offset(self) -> int:
        """Tick at which the note stops sounding (exclusive)."""
        return self.onset + self.duration


@dataclass
class Track:
    """A named part with its General MIDI program (0-127) and a drum flag."""

    name: str = ""
    program: int = 0
    is_drum: bool = False
    notes: list[Note] = field(default_factory=list)

    def sort(self) -> None:
        """Order notes by onset, then pitch: the canonical order comparisons rely on."""
        self.notes.sort(key=lambda n: (n.onset, n.pitch, n.duration, n.velocity))

    def __repr__(self) -> str:  # a summary: the notes are in `.notes`
        drum = ", drums" if self.is_drum else ""
        return f"Track({self.name!r}, program {self.program}{drum}, {len(self.notes)} notes)"


@dataclass(frozen=True)
class Tempo:
    """Tempo from `tick` on, in quarter notes per minute."""

    tick: int
    qpm: float


@dataclass(frozen=True)
class Meter:
    """Time signature from `tick` on (a change is assumed to sit on a barline)."""

    tick: int
    numerator: int
    denominator: int

    @property
    def bar_ticks(self) -> int:
        """Length of one bar in ticks."""
        return TPQ * 4 * self.numerator // self.denominator

    @property
    def name(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True)
class KeySignature:
    """Key from `tick` on: tonic pitch class (0 = C) and mode ('major' or 'minor').

    `spelling` is how the tonic is written when a user or a source named it ('Db', 'D#'),
    for notation and summaries; None = the usual spelling. Equality and MIDI ignore it
    (MIDI keys are by pitch class), so Db and C# major still compare equal.
    """

    tick: int
    tonic: int
    mode: str = "major"
    spelling: str | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return key_name(self.tonic, self.mode)


@dataclass(frozen=True)
class ChordLabel:
    """Harmony from `tick` on: root pitch class and quality, or `root=None` for no chord.

    Qualities are the names in :data:`midigan.music.theory.CHORD_QUALITIES`.
    """

    tick: int
    root: int | None
    quality: str = "maj"

    @property
    def symbol(self) -> str:
        return chord_symbol(self.root, self.quality)


def iter_bars(meters: Sequence[Meter]) -> Iterator[tuple[int, int, Meter]]:
    """Every bar from tick 0 on, without end: `(start tick, end tick, meter of the bar)`.

    The one barline walk (:meth:`Score.bar_starts` and :func:`bar_grid` read it). Bars
    follow the meter map, sorted here (4/4 when empty); a meter change that does not sit
    on a barline starts a new bar where it stands.
    """
    ordered = sorted(meters, key=lambda m: m.tick) or [Meter(0, 4, 4)]
    start, index = 0, 0
    while True:
        while index + 1 < len(ordered) and ordered[index + 1].tick <= start:
            index += 1
        end = start + ordered[index].bar_ticks
        if index + 1 < len(ordered) and start < ordered[index + 1].tick < end:
            end = ordered[index + 1].tick
        yield start, end, ordered[index]
        start = end


def barline_at_or_after(meters: Sequence[Meter], tick: int) -> int:
    """The first barline of :func:`iter_bars` at or after `tick` (0 for `tick` <= 0).

    Arithmetic per meter change, not a walk over bars: the work does not grow with the
    length, so a file claiming a piece of millions of bars costs nothing here.
    """
    ordered = sorted(meters, key=lambda m: m.tick) or [Meter(0, 4, 4)]
    start, index = 0, 0
    while start < tick:
        while index + 1 < len(ordered) and ordered[index + 1].tick <= start:
            index += 1
        bar = ordered[index].bar_ticks
        change = ordered[index + 1].tick if index + 1 < len(ordered) else None
        if bar <= 0:
            raise TheoryError(f"meter {ordered[index].name} at {ordered[index].tick}: a bar under one tick")
        if change is None or tick <= change:
            barline = start + -(-(tick - start) // bar) * bar  # the first whole bar at or after tick
            return barline if change is None else min(barline, change)
        start = change  # a change is always a barline: move on to it
    return start


def bar_grid(meters: Sequence[Meter], bar_count: int) -> tuple[list[int], list[Meter]]:
    """The first `bar_count` bars: their `bar_count + 1` barline ticks from 0, and each bar's meter."""
    bars = list(itertools.islice(iter_bars(meters), max(bar_count, 0)))
    return [0, *(end for _, end, _ in bars)], [meter for _, _, meter in bars]


class _Change(Protocol):
    @property
    def tick(self) -> int: ...


_C = TypeVar("_C", bound=_Change)


def _in_force(changes: Sequence[_C], tick: int) -> _C | None:
    """The last entry of a map sorted by tick that starts at or before `tick` (None: none yet)."""
    current = None
    for change in changes:
        if change.tick > tick:
            break
        current = change
    return current


@dataclass
class Score:
    """A piece of music on the :data:`TPQ` grid.

    Attributes:
        tracks: parts, each with its notes.
        tempos: tempo map, sorted by tick; the first entry is at tick 0.
        meters: meter map, sorted by tick; the first entry is at tick 0.
        keys: key signatures, sorted by tick (may be empty when unknown).
        chords: chord labels, sorted by tick (may be empty).
        end_tick: where the piece ends (a barline), or None to take the end of the
            bar holding the last note offset.
        title: free text carried into MIDI track 0's name.
    """

    tracks: list[Track] = field(default_factory=list)
    tempos: list[Tempo] = field(default_factory=lambda: [Tempo(0, 120.0)])
    meters: list[Meter] = field(default_factory=lambda: [Meter(0, 4, 4)])
    keys: list[KeySignature] = field(default_factory=list)
    chords: list[ChordLabel] = field(default_factory=list)
    end_tick: int | None = None
    title: str = ""

    def __repr__(self) -> str:  # a summary, as pretty_midi prints its objects; notes are in `.tracks`
        meter = self.meters[0].name if self.meters else "4/4"
        key = f", {self.keys[0].name}" if self.keys else ""
        qpm = f", {self.tempos[0].qpm:g} qpm" if self.tempos else ""
        title = f"{self.title!r}, " if self.title else ""
        return (
            f"Score({title}{len(self.tracks)} tracks, {self.note_count} notes, "
            f"{self.bar_count} bars of {meter}{key}{qpm})"
        )

    # ----------------------------------------------------------------- views
    def iter_notes(self) -> Iterator[tuple[int, Note]]:
        """Yield `(track_index, note)` for every note of every track."""
        for index, track in enumerate(self.tracks):
            for note in track.notes:
                yield index, note

    @property
    def note_count(self) -> int:
        return sum(len(t.notes) for t in self.tracks)

    @property
    def last_offset(self) -> int:
        """Tick where the last note stops (0 for an empty score)."""
        return max((n.offset for _, n in self.iter_notes()), default=0)

    @property
    def end(self) -> int:
        """End tick of the piece: `end_tick`, or the barline after the last note."""
        if self.end_tick is not None:
            return self.end_tick
        last = self.last_offset
        return barline_at_or_after(self.meters, last) if last else 0

    def meter_at(self, tick: int) -> Meter:
        """The meter in force at `tick` (the first meter rules before it starts)."""
        return _in_force(self.meters, tick) or self.meters[0]

    def key_at(self, tick: int) -> KeySignature | None:
        """The key in force at `tick`, or None before the first key signature."""
        return _in_force(self.keys, tick)

    def chord_at(self, tick: int) -> ChordLabel | None:
        """The chord label in force at `tick`, or None before the first label."""
        return _in_force(self.chords, tick)

    def bar_starts(self, until: int | None = None) -> list[int]:
        """Ticks of every barline from 0 up to and including the first one >= `until`.

        `until` defaults to :attr:`end`. Bars follow the meter map; a meter change
        that does not sit on a barline starts a new bar where it stands.
        """
        until = self.end if until is None else until
        starts = [0]
        for start, end, _ in iter_bars(self.meters):
            if start >= until:
                break
            starts.append(end)
        return starts

    @property
    def bar_count(self) -> int:
        """Number of bars from tick 0 to :attr:`end`."""
        return len(self.bar_starts()) - 1

    # ------------------------------------------------------------- editing
    def sort(self) -> None:
        """Put every map and track in canonical order."""
        for track in self.tracks:
            track.sort()
        self.tempos.sort(key=lambda t: t.tick)
        self.meters.sort(key=lambda m: m.tick)
        self.keys.sort(key=lambda k: k.tick)
        self.chords.sort(key=lambda c: c.tick)

    def copy(self) -> Score:
        return copy.deepcopy(self)

    def transpose(self, semitones: int) -> Score:
        """A copy moved by `semitones`: pitched notes, keys and chord roots (not drums)."""
        out = self.copy()
        for track in out.tracks:
            if track.is_drum:
                continue
            for note in track.notes:
                note.pitch += semitones
        out.keys = [KeySignature(k.tick, (k.tonic + semitones) % 12, k.mode) for k in out.keys]
        out.chords = [
            ChordLabel(c.tick, None if c.root is None else (c.root + semitones) % 12, c.quality)
            for c in out.chords
        ]
        return out
