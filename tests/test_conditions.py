"""The id spaces the model sees (`ids`) and the request a user makes (`Conditions`)."""

from __future__ import annotations

import pytest

from midigan.errors import ConfigError, MidiganError, TheoryError
from midigan.music.score import ChordLabel, KeySignature, Meter, Tempo
from midigan.music.theory import parse_progression
from midigan.representations.conditions import Conditions
from midigan.representations.ids import (
    CHORD_QUALITY_NAMES,
    METER_NAMES,
    N_CHORDS,
    STYLES,
    chord_from_id,
    chord_id,
    meter_id,
    mode_id,
    shift_to_c,
    style_id,
)


def test_chord_ids_are_a_bijection_with_zero_for_no_chord() -> None:
    seen = {chord_id(root, q) for root in range(12) for q in CHORD_QUALITY_NAMES}
    assert seen == set(range(1, N_CHORDS))
    assert chord_id(None, "min") == 0
    assert chord_from_id(0) == (None, "maj")
    assert all(chord_id(*chord_from_id(i)) == i for i in range(N_CHORDS))
    assert chord_id(9, "min") == 1 + 9 * 11 + 1


def test_bad_chord_ids_and_names_raise() -> None:
    with pytest.raises(TheoryError, match="chord id"):
        chord_from_id(N_CHORDS)
    with pytest.raises(TheoryError, match="quality"):
        chord_id(0, "power")


def test_meter_mode_style_ids() -> None:
    assert meter_id(4, 4) == 0
    assert METER_NAMES[meter_id(6, 8)] == "6/8"
    assert METER_NAMES[meter_id(7, 8)] == "other"
    assert (mode_id("major"), mode_id("minor")) == (0, 1)
    assert style_id(None) == 0 and style_id("chorale") == STYLES.index("chorale")
    with pytest.raises(TheoryError, match="style"):
        style_id("polka")
    with pytest.raises(TheoryError, match="mode"):
        mode_id("dorian")


@pytest.mark.parametrize(("tonic", "shift"), [(0, 0), (7, 5), (5, -5), (6, 6), (11, 1), (2, -2), (None, 0)])
def test_shift_to_c_stays_within_minus5_plus6(tonic: int | None, shift: int) -> None:
    assert shift_to_c(tonic) == shift


def test_chord_at_splits_bars_evenly_and_cycles() -> None:
    c = Conditions(bars=4, meter=(4, 4), chords=parse_progression("C G | Am F"))
    assert c.bar_ticks() == 48 and c.total_ticks() == 192
    assert c.chord_at(0) == (0, "maj")
    assert c.chord_at(23) == (0, "maj")
    assert c.chord_at(24) == (7, "maj")
    assert c.chord_at(47) == (7, "maj")
    assert c.chord_at(48) == (9, "min")  # bar 2: "Am F"
    assert c.chord_at(72) == (5, "maj")
    assert c.chord_at(96) == (0, "maj")  # bar 3 cycles back to "C G"
    assert c.chord_at(150) == (9, "min")


def test_chord_at_last_chord_takes_the_rest_of_an_uneven_bar() -> None:
    c = Conditions(bars=1, meter=(5, 8), chords=(((0, "maj"), (7, "7"), (5, "maj")),))
    # 30 ticks / 3 chords = 10 each.
    assert [c.chord_at(t) for t in (0, 9, 10, 20, 29)] == [
        (0, "maj"),
        (0, "maj"),
        (7, "7"),
        (5, "maj"),
        (5, "maj"),
    ]
    four = Conditions(bars=1, meter=(5, 8), chords=(((0, "maj"), (2, "min"), (4, "min"), (5, "maj")),))
    # 7 ticks each, the last holds ticks 21-29
    assert [four.chord_at(t) for t in (20, 21, 29)] == [(4, "min"), (5, "maj"), (5, "maj")]


def test_chord_labels_cover_every_bar() -> None:
    c = Conditions(bars=3, meter=(3, 4), chords=parse_progression("C G | Am"))
    assert c.chord_labels() == [
        ChordLabel(0, 0, "maj"),
        ChordLabel(18, 7, "maj"),
        ChordLabel(36, 9, "min"),
        ChordLabel(72, 0, "maj"),
        ChordLabel(90, 7, "maj"),
    ]
    assert Conditions(bars=2).chord_labels() == []
    assert Conditions(bars=2).chord_at(5) == (None, "maj")


def test_streams_template_is_the_requested_melody_without_events() -> None:
    c = Conditions(bars=3, meter=(6, 8), key=(2, "minor"), chords=parse_progression("Dm A"), qpm=90.0)
    template = c.streams_template()
    assert len(template) == 0
    assert (template.bar_count, template.total_ticks()) == (3, c.total_ticks())
    assert (template.mode, template.style, template.shift) == (mode_id("minor"), 0, shift_to_c(2))
    assert template.meters == [Meter(0, 6, 8)] and template.tempos == [Tempo(0, 90.0)]
    assert template.key == KeySignature(0, 2, "minor")
    assert template.chord_labels == c.chord_labels()


def test_lists_are_frozen_into_tuples_and_conditions_hash() -> None:
    c = Conditions(bars=2, meter=[6, 8], key=[9, "minor"], chords=[[(9, "min")], [(4, "7")]])
    assert c.meter == (6, 8) and c.key == (9, "minor")
    assert c.chords == (((9, "min"),), ((4, "7"),))
    assert hash(c) == hash(Conditions(bars=2, meter=(6, 8), key=(9, "minor"), chords=c.chords))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"bars": 0}, ConfigError, r"bars must be at least 1 \(got 0\)"),
        ({"bars": 513}, ConfigError, "bars must be at most 512"),
        ({"bars": 2.5}, ConfigError, "bars must be a whole number"),
        ({"bars": 4, "meter": (4, 3)}, TheoryError, "meter"),
        ({"bars": 4, "meter": (3, 32)}, TheoryError, "meter 3/32"),
        ({"bars": 4, "key": (12, "major")}, TheoryError, "key tonic"),
        ({"bars": 4, "key": (0, "lydian")}, TheoryError, "key mode"),
        ({"bars": 4, "style": "polka"}, TheoryError, "style"),
        ({"bars": 4, "qpm": 10}, ConfigError, "qpm must be between 20 and 400"),
        ({"bars": 4, "chords": ((),)}, TheoryError, "chords: bar 1"),
        ({"bars": 4, "chords": (((0, "power"),),)}, TheoryError, "quality"),
    ],
)
def test_validate_names_the_argument(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message) as info:
        Conditions(**kwargs).validate()
    assert isinstance(info.value, MidiganError) and isinstance(info.value, ValueError)


def test_validate_accepts_a_sensible_request() -> None:
    Conditions(
        bars=32, meter=(6, 8), key=(2, "major"), chords=parse_progression("D G A D"), style="folk"
    ).validate()
