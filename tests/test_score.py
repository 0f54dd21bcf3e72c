"""Score bar arithmetic, end of piece, lookups of the maps, transposition."""

from __future__ import annotations

from conftest import make_score, make_track

from midigan.music.score import TPQ, ChordLabel, KeySignature, Meter, Note, Score, Track, bar_grid


def test_bar_ticks_follow_the_meter():
    assert Meter(0, 4, 4).bar_ticks == 4 * TPQ
    assert Meter(0, 3, 4).bar_ticks == 3 * TPQ
    assert Meter(0, 6, 8).bar_ticks == 3 * TPQ
    assert Meter(0, 2, 2).bar_ticks == 4 * TPQ
    assert Meter(0, 12, 8).bar_ticks == 6 * TPQ
    assert Meter(0, 6, 8).name == "6/8"


def test_end_is_the_barline_after_the_last_note():
    score = make_score([(60, 0, 12), (62, 50, 10)])  # last offset 60, in bar 2 of 4/4
    assert score.last_offset == 60
    assert score.end == 96
    assert score.bar_count == 2


def test_end_on_a_barline_adds_no_bar():
    assert make_score([(60, 0, 48)]).end == 48
    assert make_score([(60, 0, 48)]).bar_count == 1


def test_explicit_end_tick_wins_and_counts_empty_bars():
    score = make_score([(60, 0, 12)], end_tick=4 * 48)
    assert score.end == 192
    assert score.bar_count == 4


def test_empty_score_has_no_bars():
    score = Score()
    assert score.last_offset == 0
    assert score.end == 0
    assert score.bar_count == 0
    assert score.bar_starts() == [0]


def test_bar_starts_across_meter_changes():
    score = Score(meters=[Meter(0, 4, 4), Meter(48, 3, 4), Meter(120, 6, 8)], end_tick=192)
    assert score.bar_starts() == [0, 48, 84, 120, 156, 192]
    assert score.bar_count == 5
    assert score.meter_at(47) == Meter(0, 4, 4)
    assert score.meter_at(48) == Meter(48, 3, 4)
    assert score.meter_at(500) == Meter(120, 6, 8)


def test_bar_grid_walks_the_same_barlines_as_bar_starts():
    meters = [Meter(0, 4, 4), Meter(48, 3, 4), Meter(120, 6, 8)]
    starts, per_bar = bar_grid(meters, 5)
    assert starts == Score(meters=meters, end_tick=192).bar_starts()
    assert per_bar == [meters[0], meters[1], meters[1], meters[2], meters[2]]
    assert bar_grid(meters, 0) == ([0], [])


def test_meter_change_off_a_barline_starts_a_bar_where_it_stands():
    score = Score(meters=[Meter(0, 4, 4), Meter(30, 3, 4)], end_tick=66)
    assert score.bar_starts() == [0, 30, 66]


def test_pickup_as_short_first_bar():
    score = Score(meters=[Meter(0, 1, 4), Meter(12, 3, 4)], tracks=[make_track([(67, 0, 12), (72, 12, 36)])])
    assert score.bar_starts() == [0, 12, 48]
    assert score.bar_count == 2


def test_bar_starts_until_reaches_the_first_barline_at_or_after():
    score = make_score([(60, 0, 12)], meter=(3, 4))
    assert score.bar_starts(73) == [0, 36, 72, 108]
    assert score.bar_starts(72) == [0, 36, 72]


def test_key_and_chord_lookups():
    score = make_score(
        [(60, 0, 96)],
        key=(0, "major"),
        chords=[(0, 0, "maj"), (48, 7, "7")],
    )
    score.keys.append(KeySignature(48, 9, "minor"))
    assert score.key_at(47) == KeySignature(0, 0, "major")
    assert score.key_at(48).name == "Am"
    assert score.chord_at(47).symbol == "C"
    assert score.chord_at(95).symbol == "G7"
    assert Score().key_at(0) is None
    assert Score().chord_at(0) is None


def test_transpose_moves_pitches_keys_and_roots_but_not_drums():
    score = make_score(
        [(60, 0, 12), (64, 12, 12)], key=(9, "minor"), chords=[(0, 9, "min"), (12, None, "maj")]
    )
    score.tracks.append(Track("Kit", 0, True, [Note(36, 0, 3)]))
    up = score.transpose(5)
    assert [n.pitch for n in up.tracks[0].notes] == [65, 69]
    assert [n.pitch for n in up.tracks[1].notes] == [36]
    assert up.keys == [KeySignature(0, 2, "minor")]
    assert up.chords == [ChordLabel(0, 2, "min"), ChordLabel(12, None, "maj")]
    assert [n.pitch for n in score.tracks[0].notes] == [60, 64]  # the original is untouched


def test_transpose_wraps_pitch_classes_downwards():
    up = make_score([(60, 0, 12)], key=(2, "major"), chords=[(0, 2, "maj")]).transpose(-3)
    assert up.keys[0].tonic == 11
    assert up.chords[0].root == 11
    assert up.tracks[0].notes[0].pitch == 57


def test_sort_is_canonical():
    score = Score(tracks=[make_track([(64, 12, 12), (60, 12, 12), (62, 0, 6)])])
    score.sort()
    assert [(n.pitch, n.onset) for n in score.tracks[0].notes] == [(62, 0), (60, 12), (64, 12)]


def test_note_count_and_iter_notes():
    score = Score(tracks=[make_track([(60, 0, 12)]), make_track([(40, 0, 12), (43, 12, 12)])])
    assert score.note_count == 3
    assert [(i, n.pitch) for i, n in score.iter_notes()] == [(0, 60), (1, 40), (1, 43)]
