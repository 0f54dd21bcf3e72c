"""Score -> music21 stream -> MusicXML, for notation programs (MuseScore, Sibelius, Finale, Dorico).

The reverse of :mod:`midigan.io.music21` (which reads; neither imports the other). We make
the measures ourselves, one per bar of the Score and no more, so a 16-bar piece engraves
as 16 measures: notes are cut at barlines and tied, overlapping notes of a track become
chords (one readable voice), silences become visible rests. Every pitch is spelled from
the key and the chord of the moment (:mod:`midigan.io.spelling`) and carries an accidental
only when its letter needs one, so music21 prints just the accidentals the key signature
does not already give. Chord symbols name their chord without sounding it, so
``to_music21(score).write('midi')`` plays the music, not the labels. One music21 Part per
track (name, General MIDI instrument); meters, keys and clefs in every part, tempos and
chord symbols on the first. The file write is atomic and its failure one plain error.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Iterator
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from midigan.errors import MidiganError, MidiWriteError, RenderError
from midigan.io.atomic import write_atomic
from midigan.io.spelling import LETTERS, KeySpeller, Spelled, written_octave
from midigan.music.score import TPQ, ChordLabel, KeySignature, Meter, Note, Score, Track, bar_grid

if TYPE_CHECKING:
    from music21 import stream as m21stream

_QUALITY_TO_KIND = {
    "maj": "major", "min": "minor", "dim": "diminished", "aug": "augmented",
    "sus4": "suspended-fourth", "sus2": "suspended-second", "7": "dominant-seventh",
    "maj7": "major-seventh", "m7": "minor-seventh", "m7b5": "half-diminished-seventh",
    "dim7": "diminished-seventh",
}  # fmt: skip

Segment = tuple[int, int, list[tuple[int, str | None]], int]
"""A stretch of one track within a bar: (onset, offset, [(pitch, tie type)], velocity); no pitch: rest."""


def to_music21(score: Score) -> m21stream.Score:
    """Build a music21 Score with measures: one Part per track, one measure per bar.

    Raises:
        MidiWriteError: music21 cannot represent the score.
    """
    from music21 import metadata
    from music21 import stream as m21s

    try:
        out = m21s.Score()
        if score.title:
            out.insert(0, metadata.Metadata(title=score.title))
        bar_count = max(1, len(score.bar_starts(max(score.end, score.last_offset))) - 1)
        grid = bar_grid(score.meters, bar_count)
        for index, track in enumerate(score.tracks or [Track(name="Melody")]):
            out.insert(0, _part(score, track, index, grid))
        return out
    except MidiWriteError:
        raise
    except Exception as e:  # music21 failures surface as one write error
        raise MidiWriteError(f"music21 cannot represent this score: {type(e).__name__}: {e}") from e


def _part(score: Score, track: Track, index: int, grid: tuple[list[int], list[Meter]]) -> m21stream.Part:
    """One track as a Part of measures (one per bar), with its instrument, clef, meters and keys."""
    from music21 import bar, clef, instrument
    from music21 import stream as m21s

    barlines = grid[0]
    part = m21s.Part()
    part.partName = track.name or f"Part {index + 1}"
    part.id = f"P{index + 1}"
    inst = (
        instrument.UnpitchedPercussion()
        if track.is_drum
        else instrument.instrumentFromMidiProgram(track.program)
    )
    inst.partName = part.partName
    part.insert(0, inst)
    measures = [m21s.Measure(number=number) for number in range(1, len(barlines))]
    for start, measure in zip(barlines, measures, strict=False):
        part.insert(_quarters(start), measure)
    spellers: dict[int, KeySpeller] = {}  # by id() of the key in force: Db and C# compare equal
    for onset, offset, pitches, velocity in _segments(track.notes, barlines):
        key_now = score.key_at(onset)
        speller = spellers.setdefault(id(key_now), KeySpeller.of(key_now))
        element = _element(pitches, offset - onset, speller, score.chord_at(onset))
        if pitches:
            element.volume.velocity = velocity
        _insert(measures, barlines, onset, element)
    _add_controls(score, measures, grid, first=index == 0)
    _mark_accidentals(part, measures, barlines, lambda tick: KeySpeller.of(score.key_at(tick)).fifths)
    measures[0].insert(0, clef.PercussionClef() if track.is_drum else clef.bestClef(part, recurse=True))
    measures[-1].rightBarline = bar.Barline("final")
    return part


def _segments(notes: list[Note], barlines: list[int]) -> Iterator[Segment]:
    """The track cut at every onset, offset and barline: what sounds in each stretch, and how it ties.

    A stretch where nothing sounds is a rest; notes held across a cut are tied, so
    overlapping notes become one voice of chords and every bar is filled exactly.
    """
    end = barlines[-1]
    ordered = sorted((n for n in notes if n.duration > 0 and 0 <= n.onset < end), key=lambda n: n.onset)
    cuts = sorted({*barlines, *(n.onset for n in ordered), *(min(n.offset, end) for n in ordered)})
    active: list[Note] = []
    waiting = iter(ordered)
    upcoming = next(waiting, None)
    for start, stop in pairwise(cuts):
        while upcoming is not None and upcoming.onset <= start:
            active.append(upcoming)
            upcoming = next(waiting, None)
        active = [n for n in active if n.offset > start]
        struck = [n.velocity for n in active if n.onset == start] or [n.velocity for n in active] or [0]
        yield start, stop, _ties(active, start, stop), max(struck)


_TIE_TYPES = {(False, False): None, (False, True): "start", (True, True): "continue", (True, False): "stop"}


def _ties(active: list[Note], start: int, stop: int) -> list[tuple[int, str | None]]:
    """Each sounding pitch of a stretch with its tie: held from before `start`, past `stop`, both, neither."""
    flags: dict[int, tuple[bool, bool]] = {}
    for n in active:
        before, after = flags.get(n.pitch, (False, False))
        flags[n.pitch] = (before or n.onset < start, after or n.offset > stop)
    return [(pitch, _TIE_TYPES[flags[pitch]]) for pitch in sorted(flags)]


def _element(
    pitches: list[tuple[int, str | None]], ticks: int, speller: KeySpeller, chord_label: ChordLabel | None
) -> object:
    """A Rest, Note or Chord of `ticks` length, its pitches spelled in the key (and chord)."""
    from music21 import chord, note, tie

    length = _quarters(ticks)
    if not pitches:
        return note.Rest(quarterLength=length)
    written = [_pitch(p, speller.pitch(p % 12, chord_label)) for p, _ in pitches]
    element = note.Note(written[0], quarterLength=length) if len(written) == 1 else chord.Chord(written)
    element.quarterLength = length
    members = [element] if len(written) == 1 else list(element.notes)
    ties = dict(pitches)
    for member in members:
        kind = ties.get(member.pitch.midi)
        if kind is not None:
            member.tie = tie.Tie(kind)
    return element


def _pitch(midi: int, spelled: Spelled) -> object:
    """A music21 Pitch on the spelled letter; an accidental object only where the letter is altered.

    (``note.Note(69)`` would carry an explicit natural, which music21 then prints.)
    """
    from music21 import pitch

    letter, alter = spelled
    made = pitch.Pitch(LETTERS[letter], octave=written_octave(midi, spelled))
    if alter:
        made.accidental = pitch.Accidental(alter)
    return made


def _mark_accidentals(
    part: m21stream.Part, measures: list, barlines: list[int], fifths_at: Callable[[int], int]
) -> None:
    """Show an accidental exactly where the letter's alteration differs from what is in force.

    In force: the last alteration of that letter and octave earlier in the bar, else the key
    signature at the note (a change of signature cancels the bar's accidentals). A tied-over
    note shows none. music21's own pass would add courtesy accidentals (a repeated E-sharp in
    one bar, a G-sharp after last bar's G), which engrave as clutter; marking the stream done
    keeps its exporter from running it.
    """
    for measure, start in zip(measures, barlines, strict=False):
        in_force: dict[tuple[str, int | None], float] = {}
        fifths = fifths_at(start)
        for element in measure.notes:
            if fifths != (fifths := fifths_at(start + round(element.offset * TPQ))):
                in_force.clear()  # a new signature cancels the bar's accidentals
            signature = _signature(fifths)
            for member in element.notes if element.isChord else [element]:
                written = member.pitch
                alter = written.accidental.alter if written.accidental is not None else 0
                if member.tie is not None and member.tie.type in ("stop", "continue"):
                    if written.accidental is not None:
                        written.accidental.displayStatus = False
                    continue
                place = (written.step, written.octave)
                shown = alter != in_force.get(place, signature.get(written.step, 0))
                in_force[place] = alter
                if shown and written.accidental is None:
                    written.accidental = _natural()
                if written.accidental is not None:
                    written.accidental.displayStatus = shown
    part.streamStatus.accidentals = True


def _signature(fifths: int) -> dict[str, int]:
    """The alteration a key signature of `fifths` sharps (negative: flats) gives each letter."""
    if fifths >= 0:
        return {step: 1 for step in "FCGDAEB"[:fifths]}
    return {step: -1 for step in "BEADGCF"[:-fifths]}


def _natural() -> object:
    from music21 import pitch

    return pitch.Accidental("natural")


def _insert(measures: list, barlines: list[int], tick: int, element: object) -> None:
    """Put `element` into the measure holding `tick`, at its offset within that measure."""
    index = min(max(bisect.bisect_right(barlines, tick) - 1, 0), len(measures) - 1)
    measures[index].insert(_quarters(tick - barlines[index]), element)


def _add_controls(score: Score, measures: list, grid: tuple[list[int], list[Meter]], first: bool) -> None:
    """Meters and keys into every part's measures; tempos and chord symbols into the first part's."""
    from music21 import meter, tempo

    barlines, bar_meters = grid
    for index, found in enumerate(bar_meters):
        if index == 0 or found.name != bar_meters[index - 1].name:
            measures[index].insert(0, meter.TimeSignature(found.name))
    inside = [k for k in score.keys if k.tick < barlines[-1]] or [KeySignature(0, 0)]
    for found in inside:
        _insert(measures, barlines, found.tick, _key(found))
    if not first:
        return
    for found in score.tempos:
        if found.tick < barlines[-1]:
            _insert(measures, barlines, found.tick, tempo.MetronomeMark(number=round(found.qpm, 2)))
    for label in score.chords:
        if label.tick < barlines[-1]:
            symbol = _chord_symbol(label, KeySpeller.of(score.key_at(label.tick)))
            _insert(measures, barlines, label.tick, symbol)


def _key(found: KeySignature) -> object:
    from music21 import key

    return key.Key(_m21_name(KeySpeller.of(found).tonic_spelled), found.mode)


def _m21_name(spelled: Spelled) -> str:
    """music21's name of a spelled pitch class: 'D-', 'F#'."""
    letter, alter = spelled
    return LETTERS[letter] + ("#" * alter if alter > 0 else "-" * -alter)


def _chord_symbol(label: ChordLabel, speller: KeySpeller) -> object:
    """A chord symbol spelled in the key that sounds nothing (see :func:`_silent_chord_symbol_class`)."""
    from music21 import harmony

    if label.root is None:
        return harmony.NoChord()
    symbol = _silent_chord_symbol_class()(
        root=_m21_name(speller.pitch_class(label.root)), kind=_QUALITY_TO_KIND[label.quality]
    )
    symbol.pitches = ()
    return symbol


@functools.cache
def _silent_chord_symbol_class() -> type:
    """A ChordSymbol without pitches: music21's MIDI writer sounds every pitch a ChordSymbol holds.

    Its root and kind (what MusicXML writes) stay; only the inversion needs saying, since
    music21 reports -1 for a chord without pitches and would write that into the file.
    """
    from music21 import harmony

    class SilentChordSymbol(harmony.ChordSymbol):
        def inversion(self, *args: object, **kwargs: object) -> object:
            if not self.pitches and not args and not kwargs:
                return None
            return super().inversion(*args, **kwargs)

    return SilentChordSymbol


def _quarters(ticks: int) -> Fraction:
    return Fraction(ticks, TPQ)


def musicxml_bytes(score: Score) -> bytes:
    """The score as MusicXML bytes (see :func:`to_music21`).

    Raises:
        MidiWriteError: music21 cannot write it.
    """
    from music21.musicxml import m21ToXml

    m21 = to_music21(score)
    try:
        exporter = m21ToXml.GeneralObjectExporter(m21)
        return exporter.parse()
    except Exception as e:  # music21's exporter raises assorted errors on odd input
        raise MidiWriteError(f"MusicXML export failed: {type(e).__name__}: {e}") from e


def write_musicxml(score: Score, path: str | Path) -> Path:
    """Write `score` as uncompressed MusicXML, atomically.

    Raises:
        RenderError: music21 could not express the score as MusicXML.
        MidiWriteError: the folder is missing or not writable.
    """

    def render() -> bytes:
        try:
            return musicxml_bytes(score)
        except MidiganError:
            raise
        except Exception as e:  # music21 raises many unrelated types; any failure here is one RenderError
            raise RenderError(f"{Path(path).name}: MusicXML export failed ({type(e).__name__}: {e})") from e

    return write_atomic(path, render)
