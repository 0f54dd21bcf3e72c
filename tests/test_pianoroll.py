"""PianoRoll: dense arrays from a Score and back."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_score, make_track
from hypothesis import given, settings
from strategies import canonical, scores

from midigan.errors import ConfigError
from midigan.music.score import TPQ, Meter, Score
from midigan.representations.pianoroll import PianoRoll


@settings(max_examples=150, deadline=None)
@given(scores())
def test_round_trip_is_exact_at_tpq(score: Score) -> None:
    assert canonical(PianoRoll.from_score(score).to_score()) == canonical(score)


@settings(max_examples=25, deadline=None)
@given(scores(max_tracks=2))
def test_round_trip_is_exact_on_a_finer_grid(score: Score) -> None:
    roll = PianoRoll.from_score(score, resolution=2 * TPQ)
    assert roll.steps == 2 * score.end
    assert canonical(roll.to_score()) == canonical(score)


def test_repeated_notes_survive_through_the_onset_plane() -> None:
    score = make_score([(60, 0, 12, 90), (60, 12, 12, 91), (60, 24, 24, 92)])
    roll = PianoRoll.from_score(score)
    assert roll.velocities.shape == (1, 48, 128) and roll.velocities.dtype == np.uint8
    assert np.count_nonzero(roll.velocities[0, :, 60]) == 48  # one unbroken run of sound...
    assert np.flatnonzero(roll.onsets[0, :, 60]).tolist() == [0, 12, 24]  # ...but three onsets
    notes = [(n.onset, n.duration, n.velocity) for n in roll.to_score().tracks[0].notes]
    assert notes == [(0, 12, 90), (12, 12, 91), (24, 24, 92)]


def test_triplets_and_multitrack_with_drums() -> None:
    triplets = [(64 + i, 4 * i, 4, 70 + i) for i in range(3)] + [(72, 12, 24, 80)]
    score = make_score(triplets, meter=(3, 4), key=(9, "minor"), chords=[(0, 9, "min"), (24, 4, "7")])
    score.tracks.append(make_track([(36, 0, 1, 120), (42, 6, 1, 60), (38, 12, 2, 110)], "Drums", 0, True))
    score.tracks.append(make_track([(45, 0, 36, 70), (57, 0, 36, 71)], "Bass", 33))
    roll = PianoRoll.from_score(score)
    assert roll.is_drum == [False, True, False] and roll.programs == [0, 0, 33]
    assert roll.velocities[1, 0, 36] == 120 and roll.velocities[1, 1, 36] == 0
    assert canonical(roll.to_score()) == canonical(score)
    assert roll.merged().shape == (36, 128) and roll.merged()[0, 36] == 120


def test_later_onset_cuts_an_overlapping_note_of_the_same_pitch() -> None:
    score = make_score([(60, 0, 24, 90), (60, 12, 6, 70)])
    notes = [
        (n.onset, n.duration, n.velocity) for n in PianoRoll.from_score(score).to_score().tracks[0].notes
    ]
    assert notes == [(0, 12, 90), (12, 6, 70)]


def test_coarse_grid_snaps_notes_to_the_nearest_step() -> None:
    # 4 steps per quarter = 3 ticks a step: the triplet at tick 4 snaps to 3, at 8 to 9.
    score = make_score([(60, 0, 4, 80), (62, 4, 4, 80), (64, 8, 4, 80), (65, 12, 1, 80)])
    roll = PianoRoll.from_score(score, resolution=4)
    assert roll.steps == 16
    notes = [(n.pitch, n.onset, n.duration) for n in roll.to_score().tracks[0].notes]
    assert notes == [(60, 0, 3), (62, 3, 6), (64, 9, 3), (65, 12, 3)]  # never shorter than a step


def test_metadata_survives_any_resolution() -> None:
    score = make_score([(60, 0, 12)], qpm=96.5, key=(2, "major"), chords=[(0, 2, "maj")], end_tick=96)
    score.meters.append(Meter(48, 3, 4))
    back = PianoRoll.from_score(score, resolution=1).to_score()
    assert (back.tempos, back.meters, back.keys, back.chords, back.end) == (
        score.tempos,
        score.meters,
        score.keys,
        score.chords,
        96,
    )


def test_a_roll_without_onsets_still_decodes_runs() -> None:
    roll = PianoRoll.from_score(make_score([(60, 0, 12, 90), (64, 24, 12, 50)]))
    roll.onsets[:] = False
    notes = [(n.pitch, n.onset, n.duration, n.velocity) for n in roll.to_score().tracks[0].notes]
    assert notes == [(60, 0, 12, 90), (64, 24, 12, 50)]


def test_empty_score_and_bad_resolution() -> None:
    roll = PianoRoll.from_score(Score())
    assert roll.velocities.shape == (0, 0, 128)
    assert roll.to_score().tracks == []
    with pytest.raises(ConfigError, match="resolution"):
        PianoRoll.from_score(make_score([(60, 0, 12)]), resolution=5)
