"""Notation: composed pieces engrave as a musician writes them (MusicXML through music21).

Each case is a key and meter a user asks for; the MusicXML must hold exactly `bars`
measures, the key's signature, notes spelled from the key, and no accidental the
signature (or an earlier one in the bar) already gives, nor one missing.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import mido
import pytest
from music21.harmony import Harmony

import midigan
from midigan.composer.piece import Piece
from midigan.io.music21 import read_music21_file
from midigan.io.musicxml import musicxml_bytes, to_music21
from midigan.io.spelling import KeySpeller, tonic_for_fifths
from midigan.music.score import ChordLabel, KeySignature, Note, Score, Track

BARS = 12
# key as typed, meter, expected <fifths>, the tonic as (step, alter), the name describe() prints
CASES = [
    ("C", "4/4", 0, ("C", 0), "C"),
    ("Ab", "3/4", -4, ("A", -1), "Ab"),
    ("Db", "2/4", -5, ("D", -1), "Db"),
    ("Gb", "6/8", -6, ("G", -1), "Gb"),
    ("F#m", "4/4", 3, ("F", 1), "F#m"),
    ("D#m", "3/4", 6, ("D", 1), "D#m"),
    ("Ebm", "6/8", -6, ("E", -1), "Ebm"),
    ("Bb", "2/4", -2, ("B", -1), "Bb"),
]
SHARP_ORDER = "FCGDAEB"


@functools.cache
def composed(key: str, meter: str) -> tuple[Piece, bytes]:
    piece = midigan.compose(bars=BARS, key=key, meter=meter, seed=3)
    return piece, musicxml_bytes(piece.score)


def signature(fifths: int) -> dict[str, int]:
    if fifths >= 0:
        return {step: 1 for step in SHARP_ORDER[:fifths]}
    return {step: -1 for step in SHARP_ORDER[::-1][:-fifths]}


def accidental_problems(xml: bytes) -> list[str]:
    """Every shown accidental the context already gives, and every needed one not shown.

    The context: the letter's last alteration in that octave earlier in the bar, else the
    key signature in force (a change counts from where it stands in the bar and cancels
    the accidentals before it).
    """
    problems = []
    for part in ET.fromstring(xml).findall("part"):
        fifths = 0
        for measure in part.findall("measure"):
            in_force: dict[tuple[str, str], int] = {}
            for child in measure:
                found = child.findtext("key/fifths") if child.tag == "attributes" else None
                if found is not None:
                    fifths = int(found)
                    in_force.clear()  # a new signature cancels the bar's accidentals
                if child.tag != "note" or child.find("pitch") is None:
                    continue
                step, octave = child.findtext("pitch/step"), child.findtext("pitch/octave")
                alter = int(child.findtext("pitch/alter") or 0)
                tied_over = any(t.get("type") == "stop" for t in child.findall("tie"))
                implied = in_force.get((step, octave), signature(fifths).get(step, 0))
                shown = child.find("accidental") is not None
                where = f"{part.get('id')} bar {measure.get('number')} {step}{alter:+d}{octave}"
                if shown and alter == implied:
                    problems.append(f"{where}: redundant {child.findtext('accidental')}")
                if not shown and alter != implied and not tied_over:
                    problems.append(f"{where}: accidental missing")
                if not tied_over:
                    in_force[(step, octave)] = alter
    return problems


@pytest.mark.parametrize(("key", "meter", "fifths", "tonic", "name"), CASES)
def test_composed_musicxml_engraves_cleanly(
    key: str, meter: str, fifths: int, tonic: tuple[str, int], name: str
) -> None:
    piece, xml = composed(key, meter)
    root = ET.fromstring(xml)
    parts = root.findall("part")
    assert len(parts) == len(piece.score.tracks) == 3
    assert all(len(p.findall("measure")) == BARS for p in parts)
    assert {int(f.text) for f in root.iter("fifths")} == {fifths}
    assert b'print-object="no"' not in xml  # no hidden rests: bars are filled with visible ones
    assert b"<inversion>" not in xml  # the pitch-less chord symbols claim no inversion
    assert accidental_problems(xml) == []
    tonic_pc = piece.score.keys[0].tonic
    written = {
        (n.findtext("pitch/step"), int(n.findtext("pitch/alter") or 0))
        for n in root.iter("note")
        if n.find("pitch") is not None and _pc(n) == tonic_pc
    }
    assert written == {tonic}  # the tonic is always written on the key's letter
    roots = [(r.findtext("root-step"), int(r.findtext("root-alter") or 0)) for r in root.iter("root")]
    tonic_roots = {r for r in roots if (STEP_PC[r[0]] + r[1]) % 12 == tonic_pc}
    assert tonic_roots == {tonic}  # the tonic chord (sampled chords hold it) is spelled on the key's letter
    assert piece.key == name and f", {name}," in piece.describe()


STEP_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _pc(note: ET.Element) -> int:
    return (STEP_PC[note.findtext("pitch/step")] + int(note.findtext("pitch/alter") or 0)) % 12


def _midi_keys(piece: midigan.Piece) -> list[str]:
    conductor = mido.MidiFile(file=io.BytesIO(piece.to_midi_bytes())).tracks[0]
    return [m.key for m in conductor if m.type == "key_signature"]


def test_summary_and_the_midi_key_signature_keep_the_users_spelling() -> None:
    db = midigan.compose(bars=4, key="Db", seed=5, accompaniment=False)
    cs = midigan.compose(bars=4, key="C#", seed=5, accompaniment=False)
    assert (db.key, cs.key) == ("Db", "C#")
    assert db.progression.split(" | ")[0] == "Db" and cs.progression.split(" | ")[0] == "C#"
    assert db.score.tracks == cs.score.tracks, "the same music: only its spelling differs"
    assert (_midi_keys(db), _midi_keys(cs)) == (["Db"], ["C#"])  # 5 flats, 7 sharps


@pytest.mark.parametrize("key", ["Gb", "F#", "D#m", "Ebm", "Cb", "A#m"])
def test_the_midi_key_signature_follows_the_spelling_and_reads_back(key: str, tmp_path: Path) -> None:
    """Was: Gb written as F# and D#m as Ebm in the MIDI file while the summary said otherwise."""
    piece = midigan.compose(bars=2, key=key, seed=1, accompaniment=False)
    assert _midi_keys(piece) == [key]
    assert midigan.Piece.from_score(midigan.load(piece.save(tmp_path / "k.mid"))).key == key


def test_musicxml_read_back_keeps_the_key_spelling(tmp_path: Path) -> None:
    _, xml = composed("Gb", "6/8")
    path = tmp_path / "gb.musicxml"
    path.write_bytes(xml)
    back = read_music21_file(path)
    assert back.keys[0] == KeySignature(0, 6, "major") and back.keys[0].spelling == "Gb"
    assert Piece(back).key == "Gb"
    assert back.bar_count == BARS


def test_to_music21_has_measures_and_its_midi_plays_no_chord_symbols(tmp_path: Path) -> None:
    piece, _ = composed("Ab", "3/4")
    m21 = piece.to_music21()
    for part in m21.parts:
        assert len(part.getElementsByClass("Measure")) == BARS
    path = Path(m21.write("midi", fp=tmp_path / "m21.mid"))
    sounding: dict[tuple[int, int], int] = {}
    onsets = 0
    for track in mido.MidiFile(path).tracks:
        for message in track:
            if message.type == "note_on" and message.velocity > 0:
                onsets += 1
                sounding[(message.channel, message.note)] = (
                    sounding.get((message.channel, message.note), 0) + 1
                )
            elif message.type in ("note_off", "note_on"):
                sounding[(message.channel, message.note)] -= 1
    assert onsets == piece.score.note_count  # the chord symbols add no notes
    assert not any(sounding.values())  # and none is left hanging


def test_notes_across_barlines_are_tied_and_silence_is_visible_rest() -> None:
    melody = Track("Melody", notes=[Note(60, 36, 24), Note(64, 36, 12), Note(66, 60, 6)])
    score = Score(tracks=[melody], keys=[KeySignature(0, 7)], chords=[ChordLabel(48, 2, "7")], end_tick=144)
    m21 = to_music21(score)
    measures = list(m21.parts[0].getElementsByClass("Measure"))
    assert len(measures) == 3
    first, second, third = ([e for e in m.notesAndRests if not isinstance(e, Harmony)] for m in measures)
    assert [e.quarterLength for e in first] == [3, 1]  # a rest, then the C-E chord
    assert first[1].isChord and [n.tie.type if n.tie else None for n in first[1].notes] == ["start", None]
    assert second[0].tie.type == "stop" and second[0].pitch.midi == 60
    assert second[1].pitch.nameWithOctave == "F#4"  # a scale tone of G major
    assert [e.quarterLength for e in third] == [4] and third[0].isRest  # an empty bar is one full rest


def test_a_key_change_inside_a_bar_counts_from_where_it_stands() -> None:
    notes = [Note(64, 0, 12), Note(63, 24, 12), Note(64, 36, 12)]  # E, then E-flat and E after F -> B-flat
    score = Score(tracks=[Track("Melody", notes=notes)], keys=[KeySignature(0, 5), KeySignature(24, 10)])
    xml = musicxml_bytes(score)
    assert accidental_problems(xml) == []
    shown = [n.findtext("accidental") for n in ET.fromstring(xml).iter("note") if n.find("pitch") is not None]
    assert shown == [None, None, "natural"]


@pytest.mark.parametrize(
    ("key", "pc", "chord", "expected"),
    [
        (KeySignature(0, 8), 8, None, "Ab"),  # A-flat major's tonic
        (KeySignature(0, 1, spelling="C#"), 5, None, "E#"),
        (KeySignature(0, 0), 6, ChordLabel(0, 2, "7"), "F#"),  # D7 in C: its third
        (KeySignature(0, 0), 10, None, "Bb"),  # flat seventh in major
        (KeySignature(0, 0), 6, None, "F#"),  # sharp fourth
        (KeySignature(0, 9, "minor"), 8, ChordLabel(0, 4, "maj"), "G#"),  # the leading tone in A minor
        (KeySignature(0, 0), 8, ChordLabel(0, 11, "dim7"), "Ab"),  # B-dim7's diminished seventh
        (KeySignature(0, 6, spelling="Gb"), 11, None, "Cb"),
    ],
)
def test_spelling_from_key_and_chord(
    key: KeySignature, pc: int, chord: ChordLabel | None, expected: str
) -> None:
    from midigan.io.spelling import spelled_name

    assert spelled_name(KeySpeller.of(key).pitch(pc, chord)) == expected


def test_key_signature_counts() -> None:
    assert KeySpeller(1).fifths == -5  # Db major, the usual spelling
    assert KeySpeller(1, spelling="C#").fifths == 7
    assert KeySpeller(3, "minor", "D#").fifths == 6 and KeySpeller(3, "minor").fifths == -6
    assert KeySpeller(6, spelling="Bb").name == "F#"  # a spelling of another tonic is ignored
    assert [tonic_for_fifths(f, "major") for f in (-6, -5, 0, 6)] == ["Gb", "Db", "C", "F#"]
    assert tonic_for_fifths(6, "minor") == "D#"


MUSESCORE = next((p for p in map(shutil.which, ("musescore3", "mscore3", "mscore", "musescore")) if p), None)


@pytest.mark.skipif(MUSESCORE is None, reason="MuseScore (musescore3 / mscore) is not installed")
@pytest.mark.parametrize(("key", "meter"), [("Db", "2/4"), ("F#m", "4/4"), ("Gb", "6/8")])
def test_musescore_engraves_the_musicxml(tmp_path: Path, key: str, meter: str) -> None:
    _, xml = composed(key, meter)
    source = tmp_path / "piece.musicxml"
    source.write_bytes(xml)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for target in ("piece.pdf", "again.musicxml"):
        done = subprocess.run(
            [str(MUSESCORE), "-o", str(tmp_path / target), str(source)],
            env=env, capture_output=True, timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-500:]
    assert (tmp_path / "piece.pdf").stat().st_size > 1000
    again = ET.parse(tmp_path / "again.musicxml").getroot()
    assert [len(p.findall("measure")) for p in again.findall("part")] == [BARS] * 3
    assert {int(f.text) for f in again.iter("fifths")} == {
        KeySpeller.of(composed(key, meter)[0].score.keys[0]).fifths
    }
