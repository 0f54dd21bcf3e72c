"""MIDI in and out: named fixtures for each quirk, bad files, the writer's layout, round trips."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midigan.errors import MidiReadError, MidiWriteError
from midigan.io.midi import (
    QuantizationWarning,
    midi_bytes,
    read_midi,
    read_midi_report,
    score_from_midi_bytes,
    write_midi,
)
from midigan.music.score import ChordLabel, KeySignature, Meter, Note, Score, Tempo, Track
from midigan.music.theory import CHORD_QUALITIES

DATA = Path(__file__).parent / "data"


def notes_of(track: Track) -> list[tuple[int, int, int, int]]:
    return [(n.pitch, n.onset, n.duration, n.velocity) for n in track.notes]


def read_quiet(path: Path) -> Score:
    """Read a fixture that is on the grid: any quantization warning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuantizationWarning)
        return read_midi(path)


def round_trip(score: Score, tpq_out: int = 480) -> Score:
    back, report = score_from_midi_bytes(midi_bytes(score, tpq_out))
    assert report.moved == 0
    return back


def assert_same_music(back: Score, score: Score) -> None:
    expected = score.copy()
    expected.sort()
    assert [(t.name, t.program, t.is_drum) for t in back.tracks] == [
        (t.name, t.program, t.is_drum) for t in expected.tracks
    ]
    for got, want in zip(back.tracks, expected.tracks, strict=True):
        assert notes_of(got) == notes_of(want), want.name
    assert back.tempos == expected.tempos
    assert back.meters == expected.meters
    assert back.keys == expected.keys
    assert back.chords == expected.chords
    assert back.title == expected.title
    assert back.end == expected.end
    assert back.bar_count == expected.bar_count


# ------------------------------------------------------------ fixtures
def test_fixtures_match_their_generator():
    spec = importlib.util.spec_from_file_location("make_fixtures", DATA / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, make in module.FIXTURES.items():
        assert (DATA / name).read_bytes() == make(), f"{name} is stale: run tests/data/make_fixtures.py"


def test_multitrack_programs_keeps_names_programs_title_tempo_key():
    score = read_quiet(DATA / "multitrack_programs.mid")
    assert score.title == "Trio"
    assert [(t.name, t.program, t.is_drum) for t in score.tracks] == [
        ("Violin", 40, False),
        ("Viola", 41, False),
        ("Cello", 42, False),
    ]
    assert notes_of(score.tracks[2]) == [(43 + i, 12 * i, 12, 80) for i in range(4)]
    assert score.tempos == [Tempo(0, 100.0)]
    assert score.keys == [KeySignature(0, 7, "major")]
    assert score.bar_count == 1


def test_triplets_land_exactly_on_four_tick_grid():
    score = read_quiet(DATA / "triplets.mid")
    assert notes_of(score.tracks[0]) == [(60 + i, 4 * i, 4, 80) for i in range(6)]
    assert score.meters == [Meter(0, 2, 4)]


def test_repeated_notes_survive_when_note_on_precedes_note_off():
    score = read_quiet(DATA / "repeated_notes.mid")
    assert notes_of(score.tracks[0]) == [(64, 12 * i, 12, 80) for i in range(4)]


def test_meter_changes_give_exact_bars():
    score = read_quiet(DATA / "meter_changes.mid")
    assert score.meters == [Meter(0, 4, 4), Meter(48, 3, 4), Meter(120, 6, 8)]
    assert score.bar_starts() == [0, 48, 84, 120, 156, 192]
    assert score.bar_count == 5
    assert score.tempos == [Tempo(0, 120.0), Tempo(48, 90.0)]
    assert [n.onset for n in score.tracks[0].notes] == [0, 48, 84, 120, 156]


def test_channel_10_is_a_drum_track_kept_apart():
    score = read_quiet(DATA / "drums_channel10.mid")
    assert [(t.name, t.is_drum) for t in score.tracks] == [("Bass", False), ("Kit", True)]
    assert notes_of(score.tracks[1]) == [(36, 0, 3, 80), (38, 12, 3, 80), (36, 24, 3, 80), (38, 36, 3, 80)]


def test_overlapping_same_pitch_pairs_first_in_first_out():
    score = read_quiet(DATA / "overlapping_same_pitch.mid")
    assert notes_of(score.tracks[0]) == [(60, 0, 12, 100), (60, 6, 12, 70)]


def test_velocity_zero_note_on_ends_the_note():
    score = read_quiet(DATA / "velocity0_noteoff.mid")
    assert notes_of(score.tracks[0]) == [(p, 12 * i, 6, 90) for i, p in enumerate([60, 62, 64, 65])]


def test_padded_pickup_keeps_its_leading_rest_and_bars():
    score = read_quiet(DATA / "pickup.mid")
    assert [n.onset for n in score.tracks[0].notes] == [24, 36, 72]
    assert score.bar_count == 3


def test_pickup_as_short_first_bar():
    score = read_quiet(DATA / "pickup_partial_bar.mid")
    assert score.meters == [Meter(0, 1, 4), Meter(12, 3, 4)]
    assert score.bar_starts() == [0, 12, 48, 84]


def test_type0_file_splits_channels_into_tracks():
    score = read_quiet(DATA / "type0_channels.mid")
    assert score.title == "Single Track"
    by_program = {(t.program, t.is_drum): notes_of(t) for t in score.tracks}
    assert by_program == {
        (73, False): [(72, 0, 12, 90), (74, 12, 12, 90)],
        (33, False): [(36, 0, 24, 70)],
        (0, True): [(42, 0, 3, 100), (42, 12, 3, 100)],
    }
    assert score.tempos == [Tempo(0, 110.0)]


def test_off_grid_notes_are_rounded_and_reported():
    path = DATA / "off_grid.mid"
    with pytest.warns(QuantizationWarning, match=r"2 of 3 notes moved.*max 0\.027 quarter") as caught:
        score = read_midi(path)
    assert caught[0].filename == __file__  # stacklevel points at the caller
    assert notes_of(score.tracks[0]) == [(60, 0, 12, 80), (62, 12, 12, 80), (64, 24, 12, 80)]
    _, report = read_midi_report(path)
    assert (report.source_tpq, report.notes, report.moved) == (480, 3, 2)
    # onset 7 -> 0 (error 7); onset 493 -> 480 (13) and offset 973 -> 960 (13); exact third note
    assert report.max_error_ticks == 13
    assert report.mean_error_ticks == pytest.approx((7 + 13 + 0) / 3)


def test_file_without_notes_is_an_empty_score_with_its_bars():
    score = read_quiet(DATA / "no_notes.mid")
    assert score.tracks == []
    assert score.tempos == [Tempo(0, 80.0)]
    assert score.bar_count == 2


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.mid", "empty"),
        ("not_midi.mid", "not a MIDI file"),
        ("truncated.mid", "truncated file"),
        ("zero_tpq.mid", "zero ticks per quarter"),
        ("smpte.mid", "SMPTE"),
        ("missing.mid", "no such file"),
    ],
)
def test_bad_files_raise_one_line_naming_the_path(name, reason):
    path = DATA / name
    with pytest.raises(MidiReadError, match=reason) as error:
        read_midi(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message


def test_a_folder_is_not_a_midi_file(tmp_path):
    with pytest.raises(MidiReadError, match="folder"):
        read_midi(tmp_path)


def test_unknown_chord_marker_is_skipped_with_a_warning():
    score = Score(tracks=[Track("x", notes=[Note(60, 0, 12)])], chords=[ChordLabel(0, 0, "maj")])
    data = midi_bytes(score).replace(b"chord:C", b"chord:?")
    with pytest.warns(UserWarning, match="unknown chord markers"):
        back, _ = score_from_midi_bytes(data)
    assert back.chords == []


# -------------------------------------------------------------- writer
@pytest.fixture
def band() -> Score:
    return Score(
        tracks=[
            Track("Lead", 73, False, [Note(72, 0, 12, 90), Note(72, 12, 12, 90), Note(74, 24, 24, 100)]),
            Track("Kit", 0, True, [Note(36, 0, 3, 110), Note(38, 12, 3, 100)]),
            Track("Bass", 33, False, [Note(36, 0, 48, 70)]),
        ],
        tempos=[Tempo(0, 96.0), Tempo(48, 108.5)],
        meters=[Meter(0, 4, 4), Meter(48, 6, 8)],
        keys=[KeySignature(0, 2, "major"), KeySignature(48, 11, "minor")],
        chords=[ChordLabel(0, 2, "maj"), ChordLabel(24, 7, "7"), ChordLabel(48, None, "maj")],
        end_tick=48 + 36 * 2,
        title="Jam",
    )


def test_writer_layout_is_what_a_daw_expects(band):
    midi = mido.MidiFile(file=__import__("io").BytesIO(midi_bytes(band)))
    assert midi.type == 1 and midi.ticks_per_beat == 480
    assert len(midi.tracks) == 4
    conductor = [m for m in midi.tracks[0] if m.is_meta]
    assert conductor[0].type == "track_name" and conductor[0].name == "Jam"
    assert {m.type for m in conductor} == {
        "track_name",
        "time_signature",
        "key_signature",
        "set_tempo",
        "marker",
        "end_of_track",
    }
    assert [m.key for m in conductor if m.type == "key_signature"] == ["D", "Bm"]
    assert [m.text for m in conductor if m.type == "marker"] == ["chord:D", "chord:G7", "chord:N.C."]
    assert not any(m.type.startswith("note") for m in midi.tracks[0])
    end_source = band.end * 40
    for track, (name, program, channel) in zip(
        midi.tracks[1:], [("Lead", 73, 0), ("Kit", 0, 9), ("Bass", 33, 1)], strict=True
    ):
        assert track[0].type == "track_name" and track[0].name == name
        changes = [m for m in track if m.type == "program_change"]
        assert [(m.program, m.channel) for m in changes] == [(program, channel)]
        assert {m.channel for m in track if m.type.startswith("note")} == {channel}
    for track in midi.tracks:
        assert track[-1].type == "end_of_track"
        assert sum(m.time for m in track) == end_source  # on the final barline, nothing after


def test_note_off_comes_before_note_on_at_the_same_tick(band):
    midi = mido.MidiFile(file=__import__("io").BytesIO(midi_bytes(band)))
    lead = [m for m in midi.tracks[1] if m.type.startswith("note")]
    tick, at_240 = 0, []
    for m in lead:
        tick += m.time
        if tick == 480:
            at_240.append(m.type)
    assert at_240 == ["note_off", "note_on"]


def test_round_trip_band_is_exact(band):
    assert_same_music(round_trip(band), band)
    assert_same_music(round_trip(band, tpq_out=96), band)
    assert_same_music(round_trip(band, tpq_out=12), band)


def test_trailing_empty_bars_survive(band):
    band.end_tick = 48 + 36 * 5
    assert round_trip(band).bar_count == band.bar_count == 6


def test_write_midi_writes_a_readable_file(tmp_path, band):
    path = write_midi(band, tmp_path / "jam.mid")
    assert path == tmp_path / "jam.mid"
    assert_same_music(read_quiet(path), band)


def test_write_to_missing_folder_raises_and_leaves_nothing(tmp_path, band):
    target = tmp_path / "nope" / "jam.mid"
    with pytest.raises(MidiWriteError, match="does not exist"):
        write_midi(band, target)
    assert not target.parent.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_existing_file_untouched(tmp_path, band):
    target = tmp_path / "jam.mid"
    target.write_bytes(b"earlier")
    band.tracks[0].notes.append(Note(200, 0, 12, 80))
    with pytest.raises(MidiWriteError, match="pitch 0-127"):
        write_midi(band, target)
    assert target.read_bytes() == b"earlier"
    assert [p.name for p in tmp_path.iterdir()] == ["jam.mid"]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda s: s.tracks[0].notes.append(Note(60, 0, 12, 0)), "velocity 1-127"),
        (lambda s: s.tracks[0].notes.append(Note(60, 0, 0, 80)), "duration >= 1"),
        (lambda s: setattr(s.tracks[0], "program", 128), "program 128"),
        (lambda s: s.meters.append(Meter(48, 3, 5)), "power-of-two"),
        (lambda s: s.tempos.append(Tempo(12, 0.0)), "tempo"),
    ],
)
def test_unrepresentable_scores_raise_midi_write_error(band, edit, match):
    edit(band)
    with pytest.raises(MidiWriteError, match=match):
        midi_bytes(band)


def test_tpq_out_must_be_a_multiple_of_the_grid(band):
    with pytest.raises(MidiWriteError, match="tpq_out"):
        midi_bytes(band, tpq_out=100)


# ---------------------------------------------------------- round trips
METER_CHOICES = [(4, 4), (3, 4), (2, 4), (6, 8), (2, 2), (3, 8), (9, 8), (12, 8), (5, 4), (7, 8), (1, 4)]
QUALITIES = sorted(CHORD_QUALITIES)


@st.composite
def scores(draw) -> Score:
    """Random scores on the grid: meter changes on barlines, tempo/key/chord maps, several tracks."""
    meters, tick = [], 0
    for numerator, denominator in draw(st.lists(st.sampled_from(METER_CHOICES), min_size=1, max_size=3)):
        meters.append(Meter(tick, numerator, denominator))
        tick += meters[-1].bar_ticks * draw(st.integers(1, 3))
    end = tick
    map_ticks = st.integers(0, end - 1)

    def unique_ticks(min_size: int, max_size: int, first_at_zero: bool = False) -> list[int]:
        ticks = sorted(draw(st.sets(map_ticks, min_size=min_size, max_size=max_size)))
        return sorted({0, *ticks[1:]}) if first_at_zero else ticks

    tempos = [Tempo(t, draw(st.integers(2000, 30000)) / 100) for t in unique_ticks(1, 3, True)]
    keys = [
        KeySignature(t, draw(st.integers(0, 11)), draw(st.sampled_from(["major", "minor"])))
        for t in unique_ticks(0, 2)
    ]
    chords = []
    for t in unique_ticks(0, 4):
        root = draw(st.none() | st.integers(0, 11))
        chords.append(ChordLabel(t, root, "maj" if root is None else draw(st.sampled_from(QUALITIES))))
    names = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cn")), max_size=12)
    tracks = []
    for _ in range(draw(st.integers(1, 4))):
        notes = []
        for _ in range(draw(st.integers(1, 16))):
            onset = draw(st.integers(0, end - 1))
            notes.append(
                Note(
                    draw(st.integers(0, 127)),
                    onset,
                    draw(st.integers(1, end - onset)),
                    draw(st.integers(1, 127)),
                )
            )
        tracks.append(
            Track(draw(names), draw(st.integers(0, 127)), draw(st.booleans()), _fifo_consistent(notes))
        )
    return Score(tracks, tempos, meters, keys, chords, end_tick=end, title=draw(names))


def _fifo_consistent(notes: list[Note]) -> list[Note]:
    """Same-pitch notes where a later one ends first cannot survive MIDI (readers pair
    note-offs first in, first out), so stretch such a note to the earlier one's end."""
    last_offset: dict[int, int] = {}
    for note in sorted(notes, key=lambda n: (n.onset, n.duration)):
        if note.offset < last_offset.get(note.pitch, 0):
            note.duration = last_offset[note.pitch] - note.onset
        last_offset[note.pitch] = note.offset
    return notes


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scores(), st.sampled_from([12, 96, 480, 960]))
def test_round_trip_on_random_scores_is_exact(score, tpq_out):
    assert_same_music(round_trip(score, tpq_out), score)
