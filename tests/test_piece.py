"""Piece: what compose returns — its views, its conversions, its files."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_score

import midigan
from midigan.composer.arrange import arrange
from midigan.composer.piece import Piece, ticks_to_seconds
from midigan.errors import MidiWriteError
from midigan.io.atomic import new_file_mode
from midigan.music.score import ChordLabel, KeySignature, Tempo


@pytest.fixture
def piece() -> Piece:
    """Four bars of A minor at 90 qpm with Am F C G, arranged."""
    notes = [(69 + (i % 3) * 2, i * 12, 12, 90) for i in range(14)] + [(69, 168, 24, 90)]
    score = make_score(notes, qpm=90.0, key=(9, "minor"), end_tick=192)
    score.title = "test piece"
    progression = [(9, "min"), (5, "maj"), (0, "maj"), (7, "maj")]
    chords = [ChordLabel(i * 48, r, q) for i, (r, q) in enumerate(progression)]
    return Piece(arrange(score, chords), seed=7)


def test_views_a_musician_reads(piece: Piece) -> None:
    assert (piece.bars, piece.meter, piece.key, piece.tempo) == (4, "4/4", "Am", 90.0)
    assert piece.chords == ["Am", "F", "C", "G"]
    assert piece.progression == "Am | F | C | G"
    assert piece.duration_seconds == pytest.approx(4 * 4 * 60 / 90)
    text = repr(piece)
    expected = (
        "4 bars",
        "4/4",
        "Am",
        "90 bpm",
        "Am | F | C | G",
        "seed 7",
        "15 melody notes",
        "Melody, Chords, Bass",
    )
    for part in expected:
        assert part in text


def test_notes_in_ticks_and_seconds(piece: Piece) -> None:
    notes = piece.notes
    assert len(notes) == 15
    second = notes[1]
    assert (second.onset_ticks, second.duration_ticks) == (12, 12)
    assert second.onset_seconds == pytest.approx(60 / 90)  # one quarter at 90 qpm
    assert second.duration_seconds == pytest.approx(60 / 90)
    assert notes[0].name == "A4" and notes[1].name == "B4"
    assert notes[-1].offset_ticks == 192


def test_seconds_follow_a_tempo_map() -> None:
    tempos = [Tempo(0, 120.0), Tempo(48, 60.0)]
    assert ticks_to_seconds(48, tempos) == pytest.approx(2.0)
    assert ticks_to_seconds(60, tempos) == pytest.approx(3.0)


def test_save_midi_reads_back_as_a_band(tmp_path: Path, piece: Piece) -> None:
    out = piece.save(tmp_path / "p.mid")
    assert out.stat().st_mode & 0o777 == new_file_mode()  # not mkstemp's private 0600
    back = midigan.load(out)
    assert [t.name for t in back.tracks] == ["Melody", "Chords", "Bass"]
    assert [t.program for t in back.tracks] == [t.program for t in piece.score.tracks]
    assert back.tracks[0].notes == sorted(piece.melody.notes, key=lambda n: (n.onset, n.pitch))
    assert back.bar_count == 4 and back.last_offset <= 192
    assert back.key_at(0) == KeySignature(0, 9, "minor")
    assert back.tempos[0].qpm == pytest.approx(90.0)
    assert [(c.tick, c.root, c.quality) for c in back.chords][:2] == [(0, 9, "min"), (48, 5, "maj")]


def test_save_picks_the_format_by_extension(tmp_path: Path, piece: Piece) -> None:
    png = piece.save(tmp_path / "p.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(MidiWriteError, match="unknown extension"):
        piece.save(tmp_path / "p.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


def test_save_replaces_a_file_the_caller_named_as_open_would(tmp_path: Path, piece: Piece) -> None:
    out = tmp_path / "p.mid"
    out.write_bytes(b"OLD")
    piece.save(out)  # Python API: naming an existing file means replace it (pretty_midi's write does too)
    assert midigan.load(out).bar_count == 4


NOT_REGULAR = {"symlink": "is a symbolic link", "folder": "is a folder", "device": "is not a regular file"}


@pytest.mark.parametrize("kind", sorted(NOT_REGULAR))
def test_save_never_replaces_what_is_not_a_regular_file(tmp_path: Path, piece: Piece, kind: str) -> None:
    real = tmp_path / "real.mid"
    real.write_bytes(b"OLD")
    target = Path("/dev/null") if kind == "device" else tmp_path / f"{kind}.mid"
    if kind == "symlink":
        target.symlink_to(real)
    elif kind == "folder":
        target.mkdir()
    with pytest.raises(MidiWriteError, match=NOT_REGULAR[kind]):
        piece.save(target)  # /dev/null has no extension: refused, not written as /dev/null.mid
    assert real.read_bytes() == b"OLD"
    assert not Path("/dev/null.mid").exists()


def test_to_mido_and_pretty_midi(piece: Piece) -> None:
    midi = piece.to_mido()
    assert midi.type == 1 and len(midi.tracks) == 4  # conductor + three parts
    pm = piece.to_pretty_midi()
    assert [i.program for i in pm.instruments] == [t.program for t in piece.score.tracks]
    assert pm.get_end_time() == pytest.approx(piece.duration_seconds, abs=1e-3)
    melody = pm.instruments[0].notes
    assert melody[1].start == pytest.approx(piece.notes[1].onset_seconds, abs=1e-3)


def test_to_music21(piece: Piece) -> None:
    m21 = piece.to_music21()
    assert len(m21.parts) == 3
    assert m21.parts[0].highestTime == pytest.approx(16.0)  # four bars of four quarters


def test_show_pianoroll(tmp_path: Path, piece: Piece) -> None:
    written = piece.show_pianoroll(tmp_path / "roll.png")
    assert written.stat().st_size > 10_000
    figure = piece.show_pianoroll()
    assert "Am" in figure.axes[0].get_title()


# ------------------------------------------------------------------ a pleasant Python object
def test_transpose_moves_every_pitched_track_the_key_and_the_chords():
    piece = midigan.compose(bars=4, key="C", chords="C F G C", seed=2)
    up = piece.transpose(2)
    assert up.key == "D" and up.chords == ["D", "G", "A", "D"]
    for before, after in zip(piece.score.tracks, up.score.tracks, strict=True):
        assert [n.pitch + 2 for n in before.notes] == [n.pitch for n in after.notes]
    assert piece.key == "C", "the original is untouched"
    assert up.seed is None, "a transposed piece is not what its seed makes"
    with pytest.raises(midigan.MidiganError, match="outside the MIDI range"):
        piece.transpose(100)


def test_tempo_can_be_set_and_is_checked():
    piece = midigan.compose(bars=2, seed=1)
    piece.tempo = 96
    assert piece.tempo == 96.0 and piece.to_pretty_midi().get_tempo_changes()[1].tolist() == [96.0]
    for bad in (0, -5, 1000, "fast", True):
        with pytest.raises(midigan.MidiganError, match="tempo must be"):
            piece.tempo = bad


def test_a_loaded_score_becomes_a_piece(tmp_path):
    path = midigan.compose(bars=4, seed=5).save(tmp_path / "x.mid")
    piece = midigan.Piece.from_score(midigan.load(path))
    assert piece.bars == 4 and piece.seed is None and len(piece.melody.notes) > 0
    assert piece.describe().startswith("4 bars, 4/4")


def test_printing_summarises_instead_of_dumping_every_note():
    piece = midigan.compose(bars=16, seed=3)
    text = repr(piece.score)
    assert text.startswith("Score(") and "16 bars of 4/4" in text and "Note(" not in text
    assert repr(piece.score.tracks[0]).startswith("Track('Melody', program ") and len(repr(piece.score)) < 200


def test_dir_lists_the_public_api_and_pretty_midi_programs_are_ints():
    assert {"compose", "load", "save", "Piece", "Score", "PianoRoll"} <= set(dir(midigan))
    programs = [i.program for i in midigan.compose(bars=2, seed=1).to_pretty_midi().instruments]
    assert programs and all(type(p) is int for p in programs)
