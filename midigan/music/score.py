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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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
    """Key from `tick` on: tonic pitch class (0 = C) and mode ('major' or 'minor')."""

    tick: int
    tonic: int
    mode: str = "major"

    @property
    def name(self) -> str:
        from midigan.music.theory import key_name

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
        from midigan.music.theory import chord_symbol

        return chord_symbol(self.root, self.quality)


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
        starts = self.bar_starts(self.last_offset)
        last = self.last_offset
        return next((s for s in starts if s >= last), starts[-1]) if last else 0

    def meter_at(self, tick: int) -> Meter:
        """The meter in force at `tick`."""
        current = self.meters[0]
        for meter in self.meters:
            if meter.tick > tick:
                break
            current = meter
        return current

    def key_at(self, tick: int) -> KeySignature | None:
        current = None
        for key in self.keys:
            if key.tick > tick:
                break
            current = key
        return current

    def chord_at(self, tick: int) -> ChordLabel | None:
        current = None
        for chord in self.chords:
            if chord.tick > tick:
                break
            current = chord
        return current

    def bar_starts(self, until: int | None = None) -> list[int]:
        """Ticks of every barline from 0 up to and including the first one >= `until`.

        `until` defaults to :attr:`end`. Bars follow the meter map; a meter change
        that does not sit on a barline starts a new bar where it stands.
        """
        until = self.end if until is None else until
        starts = [0]
        meters = sorted(self.meters, key=lambda m: m.tick) or [Meter(0, 4, 4)]
        index = 0
        while starts[-1] < until:
            tick = starts[-1]
            while index + 1 < len(meters) and meters[index + 1].tick <= tick:
                index += 1
            step = meters[index].bar_ticks
            nxt = tick + step
            if index + 1 < len(meters) and tick < meters[index + 1].tick < nxt:
                nxt = meters[index + 1].tick
            starts.append(nxt)
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

    # ----------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Write the score; the format follows the extension (.mid/.midi, .musicxml/.xml).

        The file is written to a temporary name and renamed, so a failure never
        leaves a half-written file. Returns the path written.
        """
        from midigan.io import save_score

        return save_score(self, path)


def load(path: str | Path) -> Score:
    """Read a MIDI (type 0 or 1), ABC or MusicXML file into a :class:`Score`.

    Raises:
        MidiReadError: the file is missing, empty, truncated or not music.
    """
    from midigan.io import load_score

    return load_score(path)
