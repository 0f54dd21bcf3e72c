"""Yang & Lerch features on hand-made tunes with answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_score

from midigan.evaluate.features import (
    FEATURES,
    average_inter_onset_interval,
    average_pitch_interval,
    feature_table,
    note_count,
    note_length_class,
    note_length_histogram,
    note_length_transition_matrix,
    pitch_class_histogram,
    pitch_class_transition_matrix,
    pitch_count,
    pitch_range,
)
from midigan.music.score import ChordLabel, KeySignature, Meter, Note, Score, Track
from midigan.representations.tune import NOTE_LENGTH_CLASSES_QUARTERS, Tune

Q = 12  # ticks per quarter
C_MAJOR_SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def scale_tune(
    pitches: list[int] = C_MAJOR_SCALE, key: tuple[int, str] = (0, "major"), length: int = Q
) -> Tune:
    return Tune.from_score(make_score([(p, i * length, length) for i, p in enumerate(pitches)], key=key))


def empty_tune() -> Tune:
    return Tune.from_score(make_score([], end_tick=4 * Q))


def test_scale_features() -> None:
    tune = scale_tune()
    assert pitch_count(tune) == 8
    assert pitch_range(tune) == 12
    assert average_pitch_interval(tune) == pytest.approx(12 / 7)
    assert note_count(tune) == 8
    assert average_inter_onset_interval(tune) == pytest.approx(1.0)  # quarters


def test_pitch_class_histogram_is_relative_to_the_tonic() -> None:
    in_c = pitch_class_histogram(scale_tune())
    in_g = pitch_class_histogram(scale_tune([p + 7 for p in C_MAJOR_SCALE], key=(7, "major")))
    np.testing.assert_allclose(in_c, in_g)
    assert in_c[0] == pytest.approx(2 / 8)  # C twice
    assert in_c.sum() == pytest.approx(1.0)
    assert in_c[[1, 3, 6, 8, 10]].sum() == 0.0  # no chromatic notes


def test_pitch_class_transition_matrix() -> None:
    matrix = pitch_class_transition_matrix(scale_tune([60, 67, 60, 67]))
    assert matrix.shape == (12, 12)
    assert matrix[0, 7] == pytest.approx(2 / 3)
    assert matrix[7, 0] == pytest.approx(1 / 3)
    assert matrix.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("ticks", "quarters"),
    [
        (48, 4.0),
        (36, 3.0),
        (24, 2.0),
        (18, 1.5),
        (12, 1.0),
        (9, 0.75),
        (6, 0.5),
        (3, 0.25),
        (8, 2 / 3),
        (4, 1 / 3),
    ],
)
def test_note_length_classes(ticks: int, quarters: float) -> None:
    assert NOTE_LENGTH_CLASSES_QUARTERS[note_length_class(np.array([ticks]))[0]] == pytest.approx(quarters)


def test_long_and_short_notes_take_the_nearest_class() -> None:
    classes = note_length_class(np.array([96, 1]))
    assert NOTE_LENGTH_CLASSES_QUARTERS[classes[0]] == 4.0
    assert NOTE_LENGTH_CLASSES_QUARTERS[classes[1]] == 0.25


def test_note_length_histogram_and_transitions() -> None:
    notes = [(60, 0, 6), (62, 6, 6), (64, 12, 12), (65, 24, 24)]  # eighth, eighth, quarter, half
    tune = Tune.from_score(make_score(notes))
    histogram = note_length_histogram(tune)
    eighth, quarter, half = (NOTE_LENGTH_CLASSES_QUARTERS.index(v) for v in (0.5, 1.0, 2.0))
    assert histogram[eighth] == pytest.approx(0.5)
    assert histogram[quarter] == histogram[half] == pytest.approx(0.25)
    matrix = note_length_transition_matrix(tune)
    assert matrix[eighth, eighth] == matrix[eighth, quarter] == matrix[quarter, half] == pytest.approx(1 / 3)


def test_empty_tune_gives_zeros() -> None:
    tune = empty_tune()
    assert len(tune) == 0 and tune.bar_count == 1
    for name, feature in FEATURES.items():
        assert not np.any(np.asarray(feature(tune))), name


def test_rests_are_gaps_and_strong_beats_follow_the_meter() -> None:
    notes = [(67, 0, 6), (64, 12, 6), (60, 18, 18)]  # 6/8: strong beats at 0 and 18
    tune = Tune.from_score(make_score(notes, meter=(6, 8)))
    assert tune.strong.tolist() == [True, False, True]
    assert tune.bar_starts.tolist() == [0, 36]
    assert average_inter_onset_interval(tune) == pytest.approx(9 / Q)


def test_chords_at_each_onset() -> None:
    score = make_score([(60, 0, 24), (62, 24, 24), (67, 48, 48)], chords=[(0, 0, "maj"), (48, None, "maj")])
    tune = Tune.from_score(score)
    assert tune.chord_root.tolist() == [0, 0, -1]


def test_from_score_uses_the_melody_track_of_a_multitrack_score() -> None:
    melody = Track("melody", notes=[Note(72, 0, Q), Note(74, Q, Q)])
    bass = Track("bass", program=32, notes=[Note(36, 0, 2 * Q), Note(43, 2 * Q, 2 * Q)])
    tune = Tune.from_score(Score(tracks=[bass, melody], keys=[KeySignature(0, 0)]))
    assert tune.pitch.tolist() == [72, 74]


def test_crop_cuts_notes_at_the_barline() -> None:
    tune = scale_tune(length=2 * Q)  # 8 half notes = 4 bars of 4/4
    cropped = tune.crop(2)
    assert cropped.bar_count == 2 and cropped.end_tick == 8 * Q
    assert cropped.pitch.tolist() == C_MAJOR_SCALE[:4]
    assert tune.crop(9) is tune


def test_crop_shortens_a_note_held_over_the_cut() -> None:
    tune = Tune.from_score(make_score([(60, 0, 6 * Q)], chords=[(0, 0, "maj"), (4 * Q, 7, "maj")]))
    cropped = tune.crop(1)
    assert cropped.duration.tolist() == [4 * Q]
    assert [c.root for c in cropped.chords] == [0]


def test_missing_key_is_estimated() -> None:
    g_major = [67, 69, 71, 72, 74, 76, 78, 79]
    tune = Tune.from_score(make_score([(p, i * Q, Q) for i, p in enumerate(g_major)], key=None))
    assert (tune.tonic, tune.mode) == (7, "major")
    empty = Tune.from_notes([], [Meter(0, 4, 4)], 4 * Q)
    assert (empty.tonic, empty.mode) == (0, "major")


def test_from_notes_handles_a_meter_change() -> None:
    tune = Tune.from_notes(
        [(60, 0, Q, 80), (62, 48, Q, 80), (64, 84, Q, 80)], [Meter(0, 4, 4), Meter(48, 3, 4)], 84
    )
    assert tune.bar_starts.tolist() == [0, 48, 84, 120]
    assert tune.strong.tolist() == [True, True, True]


def test_feature_table_shapes() -> None:
    table = feature_table([scale_tune(), empty_tune()])
    assert table["pitch_count"].shape == (2, 1)
    assert table["pitch_class_histogram"].shape == (2, 12)
    assert table["note_length_transition_matrix"].shape == (2, 144)


def test_chord_labels_are_kept_sorted() -> None:
    score = make_score([(60, 0, Q)], chords=[(24, 7, "maj"), (0, 0, "maj")])
    assert [c.tick for c in Tune.from_score(score).chords] == [0, 24]
    assert isinstance(Tune.from_score(score).chords[0], ChordLabel)


def test_a_tune_from_note_streams_matches_the_tune_from_its_score() -> None:
    from midigan.representations.streams import NoteStreams

    notes = [(71, 6, 6, 70), (74, 12, 18, 90), (76, 36, 12, 80), (74, 60, 24, 80)]  # pickup, a rest
    score = make_score(notes, key=(7, "major"), chords=[(0, 7, "maj"), (48, 2, "7")])
    from_score = Tune.from_score(score)
    from_streams = Tune.from_streams(NoteStreams.from_score(score, to_c=True))
    for field in ("pitch", "onset", "duration", "velocity", "strong", "chord_root", "bar_starts"):
        np.testing.assert_array_equal(getattr(from_streams, field), getattr(from_score, field), err_msg=field)
    assert (from_streams.tonic, from_streams.mode) == (7, "major")


def test_a_chordal_track_is_reduced_to_its_skyline() -> None:
    score = make_score([(60, 0, Q), (64, 0, Q), (67, 0, Q), (62, Q, Q), (65, Q, Q)])
    assert Tune.from_score(score).pitch.tolist() == [67, 65]
