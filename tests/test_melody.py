"""The melody rule: named tracks win, else the highest busy track; skyline makes it monophonic."""

from __future__ import annotations

import pytest
from conftest import make_track

from midigan.errors import MidiganError
from midigan.music.melody import extract_melody, melody_choice, melody_track_index, skyline
from midigan.music.score import Note, Score


def scale(low: int, count: int = 8, step: int = 12) -> list[tuple[int, int, int]]:
    return [(low + i, i * step, step) for i in range(count)]


def test_named_track_wins_over_a_higher_one():
    score = Score(
        tracks=[
            make_track(scale(84), name="Piccolo"),
            make_track(scale(60), name="Lead Vocal"),
        ]
    )
    assert melody_track_index(score) == 1


@pytest.mark.parametrize("name", ["melody", "SOPRANO", "Vocals", "Voice 1", "Tune", "lead synth"])
def test_melody_words_match_case_and_word_start(name):
    score = Score(tracks=[make_track(scale(84), name="Flute"), make_track(scale(48), name=name)])
    assert melody_track_index(score) == 1


def test_word_inside_another_word_does_not_count():
    score = Score(tracks=[make_track(scale(84), name="Flute"), make_track(scale(48), name="Fortune")])
    assert melody_track_index(score) == 0


def test_stronger_word_wins_among_named_tracks():
    score = Score(
        tracks=[make_track(scale(72), name="Backing Vocal"), make_track(scale(60), name="Lead Vocal")]
    )
    assert melody_track_index(score) == 1


def test_named_drum_track_or_empty_track_does_not_win():
    score = Score(
        tracks=[
            make_track(scale(36), name="Lead Drums", is_drum=True),
            make_track([], name="Melody"),
            make_track(scale(60), name="Piano"),
        ]
    )
    assert melody_track_index(score) == 2


def test_highest_mean_pitch_among_busy_tracks():
    score = Score(
        tracks=[
            make_track(scale(48, 16), name="Bass"),
            make_track(scale(67, 8), name="Flute"),
            make_track(scale(60, 16), name="Piano"),
        ]
    )
    assert melody_track_index(score) == 1


def test_sparse_high_track_below_a_quarter_of_the_busiest_is_ignored():
    score = Score(
        tracks=[
            make_track(scale(60, 20), name="Piano"),
            make_track(scale(90, 4), name="Bell"),  # 4 < 0.25 * 20
            make_track(scale(40, 20), name="Bass"),
        ]
    )
    assert melody_track_index(score) == 0
    score.tracks[1].notes.append(score.tracks[1].notes[0])  # 5 notes: exactly 25%
    assert melody_track_index(score) == 1


def test_drums_never_count_even_when_busiest():
    score = Score(
        tracks=[make_track(scale(80, 100), name="Kit", is_drum=True), make_track(scale(50, 4), name="Bass")]
    )
    assert melody_track_index(score) == 1


def test_no_pitched_notes_raises():
    with pytest.raises(MidiganError, match="no pitched"):
        melody_track_index(Score(tracks=[make_track(scale(36), is_drum=True)]))
    with pytest.raises(MidiganError):
        extract_melody(Score())


def test_skyline_keeps_the_top_note_and_cuts_at_the_next_onset():
    chords = [
        (60, 0, 24, 70),
        (64, 0, 24, 80),
        (67, 0, 24, 90),  # top of the first chord, cut at 12
        (72, 12, 12, 60),
        (55, 12, 36, 50),  # under 72: dropped
        (65, 24, 6, 75),
    ]
    assert [(n.pitch, n.onset, n.duration, n.velocity) for n in skyline(make_track(chords).notes)] == [
        (67, 0, 12, 90),
        (72, 12, 12, 60),
        (65, 24, 6, 75),
    ]


def test_skyline_tie_prefers_longer_then_louder():
    line = skyline([Note(60, 0, 6, 100), Note(60, 0, 12, 50), Note(60, 0, 12, 70)])
    assert [(n.duration, n.velocity) for n in line] == [(12, 70)]


def test_extract_melody_is_monophonic_named_and_keeps_the_program():
    score = Score(
        tracks=[
            make_track([(40, 0, 48)], name="Bass", program=33),
            make_track([(72, 0, 24), (76, 0, 12), (74, 12, 12), (79, 24, 24)], name="Right hand", program=0),
        ]
    )
    score.tracks[1].program = 41
    melody = extract_melody(score)
    assert (melody.name, melody.program, melody.is_drum) == ("Melody", 41, False)
    assert [(n.pitch, n.onset, n.duration) for n in melody.notes] == [(76, 0, 12), (74, 12, 12), (79, 24, 24)]
    offsets = [n.onset + n.duration for n in melody.notes]
    assert all(off <= nxt.onset for off, nxt in zip(offsets, melody.notes[1:], strict=False))
    assert len(score.tracks[1].notes) == 4  # the source is untouched


def test_extract_melody_with_an_explicit_track():
    score = Score(tracks=[make_track(scale(40), program=33), make_track(scale(70))])
    assert extract_melody(score, track_index=0).notes[0].pitch == 40


def test_the_choice_names_the_part_of_the_rule_that_made_it():
    """`midigan train` reports which track each file's melody came from, and why."""
    only = Score(tracks=[make_track(scale(60), name="Piano")])
    named = Score(tracks=[make_track(scale(84), name="Piccolo"), make_track(scale(60), name="Lead Vocal")])
    highest = Score(tracks=[make_track(scale(48), name="Bass"), make_track(scale(72), name="Flute")])
    assert melody_choice(only) == (0, "only track")
    assert melody_choice(named) == (1, "by name")
    assert melody_choice(highest) == (1, "highest")
