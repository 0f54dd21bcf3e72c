"""music21 conversion: small in-code ABC tunes, each carrying one quirk of the corpora."""

from __future__ import annotations

import warnings

import pytest
from music21 import meter, note, stream

from midigan.errors import MidiReadError
from midigan.io.abc import clean_abc, close_open_repeats, split_abc_tunes
from midigan.io.music21 import (
    ACCENT_VELOCITIES,
    convert_music21,
    parse_abc,
    read_music21_file,
    score_from_music21,
)
from midigan.io.musicxml import musicxml_bytes, to_music21
from midigan.music.score import TPQ, ChordLabel, KeySignature, Meter

EIGHTH = TPQ // 2


def abc(body: str, meter_text: str = "3/4", key: str = "G", length: str = "1/8") -> str:
    return f"X:1\nT:test tune\nM:{meter_text}\nL:{length}\nK:{key}\n{body}\n"


def melody(body: str, **kwargs: str) -> list[tuple[int, int, int]]:
    score = convert_music21(parse_abc(abc(body, **kwargs))).score
    return [(n.pitch, n.onset, n.duration) for n in score.tracks[0].notes]


def test_pickup_is_padded_to_a_whole_bar() -> None:
    score = convert_music21(parse_abc(abc("D|G2 A2 B2|c6|]"))).score
    bar = 3 * TPQ
    first = score.tracks[0].notes[0]
    assert (first.pitch, first.onset, first.duration) == (62, bar - EIGHTH, EIGHTH)
    assert score.tracks[0].notes[1].onset == bar  # the first full bar starts on a barline
    assert score.bar_count == 3  # the pickup bar counts as a bar


def test_ties_are_merged() -> None:
    assert melody("G2-G2 A2|B6|]") == [(67, 0, 24), (69, 24, 12), (71, 36, 36)]


def test_tie_between_different_pitches_keeps_both_notes() -> None:
    assert [p for p, _, _ in melody("G3-A B2|c6|]")] == [67, 69, 71, 72]


def test_triplets_land_on_the_grid() -> None:
    result = convert_music21(parse_abc(abc("(3ABc d2 e2|f6|]")))
    notes = [(n.onset, n.duration) for n in result.score.tracks[0].notes[:3]]
    assert notes == [(0, 4), (4, 4), (8, 4)]
    assert result.off_grid_notes == 0


def test_accent_annotation_keeps_its_note() -> None:
    assert [p for p, _, _ in melody('G2 ">"A2 B2|c6|]')] == [67, 69, 71, 72]
    assert '">"' not in clean_abc('G2 ">"A2 "G"B2')
    assert '"G"B2' in clean_abc('G2 ">"A2 "G"B2')


def test_accidentals_carry_through_the_bar() -> None:
    assert [p for p, _, _ in melody("_B2 B2 B2|B6|]", key="C")] == [70, 70, 70, 71]


def test_grace_notes_are_dropped_and_chords_split() -> None:
    assert melody("{a}G2 [CEG]2 B2|c6|]", key="C") == [
        (67, 0, 12), (60, 12, 12), (64, 12, 12), (67, 12, 12), (71, 24, 12), (72, 36, 36)
    ]  # fmt: skip


def test_repeats_are_expanded() -> None:
    result = convert_music21(parse_abc(abc("|:G2 A2 B2:|c6|d6|e6|]")))
    assert [n.pitch for n in result.score.tracks[0].notes] == [67, 69, 71, 67, 69, 71, 72, 74, 76]
    assert result.repeats_expanded


BAD_REPEATS = 'CDEF|GABc|cdef|g4:|\n|:gfed|cBAG|FEDC|C4 "D.C."[|]:|'  # the shape of Ryan's "Boss Jig"


def test_malformed_repeats_fall_back_to_written_order() -> None:
    result = convert_music21(parse_abc(abc(BAD_REPEATS, meter_text="2/4", key="C")))
    assert not result.repeats_expanded
    pitches = [n.pitch for n in result.score.tracks[0].notes]
    assert len(pitches) == 26
    assert pitches[:13] == [60, 62, 64, 65, 67, 69, 71, 72, 72, 74, 76, 77, 79]


def test_note_before_invisible_barline_survives() -> None:
    text = abc("CDEF|GABc|ABcd::cdef|gfed|cBAG:[|]|]", meter_text="2/4", key="C")
    result = convert_music21(parse_abc(text))
    assert result.repeats_expanded
    assert len(result.score.tracks[0].notes) == 48
    assert result.score.tracks[0].notes[-1].pitch == 67
    with pytest.warns(UserWarning, match="malformed repeats"):
        score_from_music21(parse_abc(abc(BAD_REPEATS, meter_text="2/4", key="C")))


def test_off_grid_notes_are_rounded_and_counted() -> None:
    result = convert_music21(parse_abc(abc("(5ABcde f|g6|]")))
    assert result.off_grid_notes > 0
    assert all(n.duration >= 1 for n in result.score.tracks[0].notes)


def test_meter_change_from_a_music21_stream() -> None:
    part = stream.Part()
    for number, (sig, pitches) in enumerate([("3/4", [60, 62, 64]), ("2/4", [65, 67])], start=1):
        measure = stream.Measure(number=number)
        measure.insert(0, meter.TimeSignature(sig))
        for pitch in pitches:
            measure.append(note.Note(pitch, quarterLength=1))
        part.append(measure)
    score = score_from_music21(part)
    assert score.meters == [Meter(0, 3, 4), Meter(3 * TPQ, 2, 4)]
    assert score.bar_count == 2
    assert [n.onset for n in score.tracks[0].notes] == [0, 12, 24, 36, 48]


ESSEN_MINOR = "E | A2A2A2B=c | A2GFE3\nE | B2B2B2e2 | BAGFE2\nE2 | A2B2=ceAc | =cBAGA2z\n"


def test_essen_key_field_is_a_tonic_and_minor_is_detected() -> None:
    text = abc(ESSEN_MINOR, meter_text="4/4", key="A")
    detected = convert_music21(parse_abc(text), mode_rule="detect").score
    assert detected.keys == [KeySignature(0, 9, "minor")]
    trusted = convert_music21(parse_abc(text), mode_rule="source").score
    assert trusted.keys == [KeySignature(0, 9, "major")]


def test_abc_key_modes_fold_to_major_or_minor() -> None:
    def mode(key: str) -> str:
        return convert_music21(parse_abc(abc("ABcd|]", key=key, meter_text="2/4"))).score.keys[0].mode

    assert (mode("Ador"), mode("Dmix"), mode("Em"), mode("F")) == ("minor", "major", "minor", "major")


def test_default_velocity_follows_the_metric_accent() -> None:
    score = convert_music21(parse_abc(abc("C2 D2 E2 F2|G8|]", meter_text="4/4", key="C"))).score
    assert [n.velocity for n in score.tracks[0].notes] == [
        ACCENT_VELOCITIES[0], ACCENT_VELOCITIES[2], ACCENT_VELOCITIES[1], ACCENT_VELOCITIES[2],
        ACCENT_VELOCITIES[0],
    ]  # fmt: skip


def test_explicit_velocity_is_kept() -> None:
    part = stream.Part()
    first = note.Note(60, quarterLength=1)
    first.volume.velocity = 42
    part.append([meter.TimeSignature("2/4"), first, note.Note(62, quarterLength=1)])
    assert [n.velocity for n in score_from_music21(part).tracks[0].notes] == [42, ACCENT_VELOCITIES[2]]


def test_split_abc_tunes_keeps_each_tune() -> None:
    text = "%header\n\n" + abc("G6|]") + "\n" + abc("A6|]").replace("X:1", "X:2")
    tunes = split_abc_tunes(text)
    assert [t.splitlines()[0] for t in tunes] == ["X:1", "X:2"]


def test_read_music21_file_reads_abc_and_wraps_failures(tmp_path) -> None:
    good = tmp_path / "tune.abc"
    good.write_text(abc("D|G2 A2 B2|c6|]"))
    assert read_music21_file(good).tracks[0].notes[0].pitch == 62
    bad = tmp_path / "bad.musicxml"
    bad.write_text("<score-partwise><part id='P1'><measure><note>")
    with pytest.raises(MidiReadError, match=r"bad\.musicxml"):
        read_music21_file(bad)
    with pytest.raises(MidiReadError, match="no such file"):
        read_music21_file(tmp_path / "missing.abc")


def test_musicxml_round_trip(twinkle, tmp_path) -> None:
    twinkle.title = "Twinkle"
    path = tmp_path / "twinkle.musicxml"
    path.write_bytes(musicxml_bytes(twinkle))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = read_music21_file(path)
    assert [(n.pitch, n.onset, n.duration) for n in back.tracks[0].notes] == [
        (n.pitch, n.onset, n.duration) for n in twinkle.tracks[0].notes
    ]
    assert [n.velocity for n in back.tracks[0].notes] == [90] * 7
    assert back.chords == twinkle.chords
    assert back.keys == [KeySignature(0, 0, "major")]
    assert back.meters == twinkle.meters
    assert back.tempos[0].qpm == pytest.approx(120.0)
    assert back.title == "Twinkle"


def test_to_music21_handles_overlapping_notes_and_no_chord(twinkle) -> None:
    twinkle.tracks[0].notes.append(type(twinkle.tracks[0].notes[0])(48, 6, 30, 70))
    twinkle.chords.append(ChordLabel(84, None))
    m21 = to_music21(twinkle)
    assert len(m21.parts) == 1
    assert musicxml_bytes(twinkle).startswith(b"<?xml")


def test_empty_music_is_a_read_error() -> None:
    with pytest.raises(MidiReadError, match="no notes"):
        convert_music21(stream.Part([meter.TimeSignature("2/4"), note.Rest(quarterLength=2)]))


def test_sections_that_only_close_repeat_from_the_previous_section() -> None:
    # O'Neill's jigs write "A :| B :|": B repeats from its own start, not from the tune's
    assert close_open_repeats("CDEF|GABc:|\n|cBAG|FEDC:|") == "CDEF|GABc::cBAG|FEDC:|"
    assert close_open_repeats("|:CDEF:|GABc:|") == "|:CDEF::GABc:|"
    assert close_open_repeats("|:CDEF:||:GABc:|") == "|:CDEF:||:GABc:|"  # already well formed
    text = abc("CDEF|GABc|cdef:|gfed|cBAG|FEDC:|", meter_text="2/4", key="C")
    result = convert_music21(parse_abc(text))
    assert result.repeats_expanded
    assert len(result.score.tracks[0].notes) == 48  # each section twice, not the first one four times
