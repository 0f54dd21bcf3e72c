"""Score -> music21 stream -> MusicXML (for notation programs).

The reverse of :mod:`midigan.io.music21`: one music21 Part per track (name, General
MIDI instrument), meters, keys, tempos and chord symbols as music21 objects on the
first part; music21 makes the measures, ties and beams when it writes MusicXML.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import TYPE_CHECKING

from midigan.errors import MidiWriteError
from midigan.music import theory
from midigan.music.score import TPQ, ChordLabel, Note, Score, Track

if TYPE_CHECKING:
    from music21 import stream as m21stream

_QUALITY_TO_KIND = {
    "maj": "major", "min": "minor", "dim": "diminished", "aug": "augmented",
    "sus4": "suspended-fourth", "sus2": "suspended-second", "7": "dominant-seventh",
    "maj7": "major-seventh", "m7": "minor-seventh", "m7b5": "half-diminished-seventh",
    "dim7": "diminished-seventh",
}  # fmt: skip


def to_music21(score: Score) -> m21stream.Score:
    """Build a music21 Score: one Part per track (name, instrument), meters, keys,
    tempos and chord symbols on the first part. Overlapping notes in a track are
    chordified so each part is one readable voice.

    Raises:
        MidiWriteError: music21 cannot represent the score.
    """
    from music21 import chord, instrument, key, meter, note, tempo
    from music21 import stream as m21s

    try:
        out = m21s.Score()
        if score.title:
            from music21 import metadata

            out.insert(0, metadata.Metadata(title=score.title))
        end = score.end
        for index, track in enumerate(score.tracks or [Track(name="Melody")]):
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
            groups: dict[tuple[int, int], list[Note]] = {}
            for n in track.notes:
                groups.setdefault((n.onset, n.duration), []).append(n)
            for (onset, duration), members in sorted(groups.items()):
                if len(members) == 1:
                    element = note.Note(members[0].pitch)
                else:
                    element = chord.Chord(sorted({m.pitch for m in members}))
                element.quarterLength = Fraction(duration, TPQ)
                element.volume.velocity = max(m.velocity for m in members)
                part.insert(Fraction(onset, TPQ), element)
            if _overlaps(track):
                part = _chordified(part, inst)
            for m in score.meters:
                part.insert(Fraction(m.tick, TPQ), meter.TimeSignature(m.name))
            for k in score.keys:
                part.insert(Fraction(k.tick, TPQ), key.Key(theory.pitch_class_name(k.tonic), k.mode))
            if index == 0:
                for t in score.tempos:
                    part.insert(Fraction(t.tick, TPQ), tempo.MetronomeMark(number=round(t.qpm, 2)))
                for c in score.chords:
                    part.insert(Fraction(c.tick, TPQ), _chord_symbol(c))
            if end and part.highestTime < Fraction(end, TPQ):
                part.insert(Fraction(end, TPQ), note.Rest(quarterLength=0))
            out.insert(0, part)
        return out
    except MidiWriteError:
        raise
    except Exception as e:  # music21 failures surface as one write error
        raise MidiWriteError(f"music21 cannot represent this score: {type(e).__name__}: {e}") from e


def _overlaps(track: Track) -> bool:
    spans = sorted((n.onset, n.offset) for n in track.notes)
    return any(b[0] < a[1] and b != a for a, b in itertools.pairwise(spans))


def _chordified(part: m21stream.Part, inst: object) -> m21stream.Part:
    from music21 import stream as m21s

    flat = part.chordify()
    out = m21s.Part()
    out.partName, out.id = part.partName, part.id
    out.insert(0, inst)
    for element in flat.notesAndRests:
        out.insert(element.offset, element)
    return out


def _chord_symbol(label: ChordLabel) -> object:
    from music21 import harmony

    if label.root is None:
        return harmony.NoChord()
    root = theory.pitch_class_name(label.root).replace("b", "-")
    return harmony.ChordSymbol(root=root, kind=_QUALITY_TO_KIND[label.quality])


def write_musicxml_bytes(score: Score) -> bytes:
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
