"""C-RNN-GAN statistics, entropy, velocity and chord tones on pieces with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_score

from midigan.evaluate.stats import (
    STATISTICS,
    chord_tone_ratio,
    key_consistency,
    pitch_class_entropy,
    repetitions,
    scale_consistency,
    statistics_table,
    summarize,
    tone_span,
    velocity_mean,
    velocity_std,
)
from midigan.representations.tune import Tune

Q = 12


def tune_of(
    pitches: list[int], key: tuple[int, str] = (0, "major"), chords=(), meter=(4, 4), length=Q
) -> Tune:
    notes = [(p, i * length, length, 60 + 10 * (i % 3)) for i, p in enumerate(pitches)]
    return Tune.from_score(make_score(notes, key=key, chords=chords, meter=meter))


def test_a_major_scale_is_fully_scale_consistent() -> None:
    assert scale_consistency(tune_of([60, 62, 64, 65, 67, 69, 71, 72])) == 1.0
    assert scale_consistency(tune_of([66, 68, 70, 71, 73, 75, 77, 78])) == 1.0  # F# major


def test_the_chromatic_scale_fits_seven_of_twelve() -> None:
    assert scale_consistency(tune_of(list(range(60, 72)))) == pytest.approx(7 / 12)


def test_key_consistency_uses_the_stated_key() -> None:
    tune = tune_of([60, 62, 64, 66], key=(0, "major"))  # F# is outside C major
    assert key_consistency(tune) == pytest.approx(0.75)
    g = tune_of([60, 62, 64, 66], key=(7, "major"))
    assert key_consistency(g) == 1.0
    assert key_consistency(tune_of([69, 71, 72, 80], key=(9, "minor"))) == 1.0  # G# = raised 7th


def test_repetitions_count_repeated_patterns() -> None:
    tune = tune_of([60, 62, 64, 60, 62, 64])
    assert repetitions(tune, 3) == pytest.approx(1 / 4)  # (60,62,64) returns once among 4 windows
    assert repetitions(tune, 2) == pytest.approx(2 / 5)
    assert repetitions(tune_of([60, 62, 64, 65]), 2) == 0.0
    assert math.isnan(repetitions(tune_of([60, 62]), 3))


def test_tone_span_and_entropy() -> None:
    assert tone_span(tune_of([55, 60, 79])) == 24
    assert pitch_class_entropy(tune_of([60, 72, 60])) == 0.0  # one pitch class
    assert pitch_class_entropy(tune_of(list(range(60, 72)))) == pytest.approx(math.log2(12))
    assert pitch_class_entropy(tune_of([60, 67])) == pytest.approx(1.0)


def test_velocity_statistics() -> None:
    tune = tune_of([60, 62, 64])  # velocities 60, 70, 80
    assert velocity_mean(tune) == pytest.approx(70.0)
    assert velocity_std(tune) == pytest.approx(np.std([60, 70, 80]))


def test_chord_tone_ratio_on_strong_beats() -> None:
    # 4/4 quarters: strong beats at 0 and 24 of each bar. C chord, then G in bar 2.
    pitches = [60, 62, 65, 65, 62, 64, 71, 60]  # strong: C (yes), F (no) | D (yes), B (yes)
    tune = tune_of(pitches, chords=[(0, 0, "maj"), (48, 7, "maj")])
    assert chord_tone_ratio(tune) == pytest.approx(3 / 4)


def test_chord_tone_ratio_in_six_eight() -> None:
    # 6/8 eighths: strong at 0 and 18 ticks, i.e. notes 0 and 3 of each bar
    tune = tune_of([69, 60, 60, 64, 60, 60], chords=[(0, 9, "min")], meter=(6, 8), length=6)
    assert chord_tone_ratio(tune) == 1.0
    tune = tune_of([62, 60, 60, 64, 60, 60], chords=[(0, 9, "min")], meter=(6, 8), length=6)
    assert chord_tone_ratio(tune) == 0.5


def test_unlabelled_notes_are_left_out() -> None:
    assert math.isnan(chord_tone_ratio(tune_of([60, 62, 64, 65])))
    tune = tune_of([61, 62, 60, 62], chords=[(0, None, "maj"), (24, 0, "maj")])
    assert chord_tone_ratio(tune) == 1.0  # the C# sits under N.C.


def test_empty_tune_gives_nan() -> None:
    empty = Tune.from_score(make_score([], end_tick=48))
    for name, statistic in STATISTICS.items():
        assert math.isnan(statistic(empty)) or name == "tone_span", name
    assert tone_span(empty) == 0.0


def test_table_and_summary_ignore_undefined_values() -> None:
    tunes = [tune_of([60, 62, 64, 60, 62, 64]), tune_of([60, 61])]
    table = statistics_table(tunes)
    assert table["repetitions_3"].shape == (2,)
    summary = summarize(table)
    assert summary["repetitions_3"] == pytest.approx(0.25)
    assert math.isnan(summary["chord_tone_ratio"])


def test_metrics_take_a_score_or_note_streams_directly() -> None:
    from midigan.representations.streams import NoteStreams

    score = make_score(
        [(p, i * Q, Q) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74])], key=(2, "major")
    )
    assert scale_consistency(score) == 1.0
    streams = NoteStreams.from_score(score, to_c=True)
    assert key_consistency(streams) == 1.0
    assert tone_span(streams) == 12.0  # measured in the piece's own key, shift undone
