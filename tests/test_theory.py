"""Names in, numbers out: keys, chords, meters and progressions."""

from __future__ import annotations

import pytest

from midigan.errors import MidiganError, TheoryError
from midigan.music.theory import (
    chord_pitch_classes,
    chord_symbol,
    key_name,
    parse_chord,
    parse_key,
    parse_meter,
    parse_pitch_class,
    parse_progression,
    scale_pitch_classes,
    strong_beat_ticks,
)


@pytest.mark.parametrize(
    ("text", "pc"), [("C", 0), ("F#", 6), ("Bb", 10), ("E♭", 3), ("B#", 0), ("Cb", 11), ("g", 7)]
)
def test_pitch_class(text: str, pc: int) -> None:
    assert parse_pitch_class(text) == pc


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("C", (0, "major")),
        ("Am", (9, "minor")),
        ("F#m", (6, "minor")),
        ("Bb", (10, "major")),
        ("D minor", (2, "minor")),
        ("Ebmaj", (3, "major")),
        ("g", (7, "minor")),
    ],
)
def test_parse_key(text: str, key: tuple[int, str]) -> None:
    assert parse_key(text) == key


@pytest.mark.parametrize("text", ["H", "Xm", "C##m7", "", "Am7"])
def test_unknown_key_is_a_theory_error(text: str) -> None:
    with pytest.raises(TheoryError, match="unknown key"):
        parse_key(text)


def test_key_name_round_trip() -> None:
    for tonic in range(12):
        for mode in ("major", "minor"):
            assert parse_key(key_name(tonic, mode)) == (tonic, mode)


@pytest.mark.parametrize(
    ("text", "chord"),
    [
        ("C", (0, "maj")),
        ("Am", (9, "min")),
        ("F#m7", (6, "m7")),
        ("Bb7", (10, "7")),
        ("Bdim", (11, "dim")),
        ("Caug", (0, "aug")),
        ("Dsus4", (2, "sus4")),
        ("Cmaj7", (0, "maj7")),
        ("Bm7b5", (11, "m7b5")),
        ("C/E", (0, "maj")),
        ("N.C.", (None, "maj")),
    ],
)
def test_parse_chord(text: str, chord: tuple[int | None, str]) -> None:
    assert parse_chord(text) == chord


@pytest.mark.parametrize("text", ["H7", "Cblah", "C13#11", "", "m"])
def test_unknown_chord_is_a_midigan_error(text: str) -> None:
    with pytest.raises(MidiganError, match="unknown chord symbol"):
        parse_chord(text)


def test_chord_symbol_round_trip_every_quality() -> None:
    from midigan.music.theory import CHORD_QUALITIES

    for root in range(12):
        for quality in CHORD_QUALITIES:
            assert parse_chord(chord_symbol(root, quality)) == (root, quality)
    assert chord_symbol(None, "maj") == "N.C."


def test_chord_and_scale_pitch_classes() -> None:
    assert chord_pitch_classes(7, "7") == {7, 11, 2, 5}
    assert chord_pitch_classes(None, "maj") == frozenset()
    assert scale_pitch_classes(0, "major") == {0, 2, 4, 5, 7, 9, 11}
    assert scale_pitch_classes(9, "minor") == {9, 11, 0, 2, 4, 5, 7, 8}  # harmonic G#
    assert 8 not in scale_pitch_classes(9, "minor", harmonic=False)


def test_progression_one_chord_a_bar_and_explicit_bars() -> None:
    assert parse_progression("C G Am F") == [[(0, "maj")], [(7, "maj")], [(9, "min")], [(5, "maj")]]
    assert parse_progression("C G | Am | F C") == [
        [(0, "maj"), (7, "maj")],
        [(9, "min")],
        [(5, "maj"), (0, "maj")],
    ]
    with pytest.raises(TheoryError, match="empty chord progression"):
        parse_progression(" | ")
    with pytest.raises(TheoryError, match="'Q'"):
        parse_progression("C Q")


def test_meters() -> None:
    assert parse_meter("6/8") == (6, 8)
    assert parse_meter(" 3 / 4 ") == (3, 4)
    for bad in ("4", "4/3", "0/4", "x/y"):
        with pytest.raises(TheoryError, match="meter"):
            parse_meter(bad)


def test_strong_beats_follow_the_meter() -> None:
    assert strong_beat_ticks(4, 4, 12) == (0, 24)
    assert strong_beat_ticks(3, 4, 12) == (0,)
    assert strong_beat_ticks(6, 8, 12) == (0, 18)
    assert strong_beat_ticks(12, 8, 12) == (0, 18, 36, 54)
