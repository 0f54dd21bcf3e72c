"""Copy detection: a run of interval/duration pairs shared with the training set."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_score

from midigan.evaluate.copying import CopyIndex, copied_rate
from midigan.representations.tune import COPY_RUN, Tune, pair_codes, run_hashes

Q = 12
# "Twinkle twinkle" and a second unrelated line, each > COPY_RUN + 1 notes
TWINKLE = [60, 60, 67, 67, 69, 69, 67, 65, 65, 64, 64, 62, 62, 60, 67, 67, 65, 65, 64, 64, 62]
OTHER = [62, 66, 69, 74, 73, 71, 69, 66, 67, 64, 62, 61, 62, 69, 66, 62, 74, 73, 71, 69, 66]


def tune_of(pitches: list[int], durations: list[int] | None = None, offset: int = 0) -> Tune:
    durations = durations or [Q] * len(pitches)
    onsets = np.concatenate([[0], np.cumsum(durations)[:-1]])
    notes = [(p + offset, int(t), d) for p, t, d in zip(pitches, onsets, durations, strict=True)]
    return Tune.from_score(make_score(notes, key=None))


@pytest.fixture
def index() -> CopyIndex:
    return CopyIndex([tune_of(TWINKLE), tune_of(OTHER)])


def test_a_copied_tune_is_copied_even_transposed(index: CopyIndex) -> None:
    assert index.is_copied(tune_of(TWINKLE))
    assert index.is_copied(tune_of(TWINKLE, offset=5))  # intervals, not pitches


def test_a_copied_phrase_inside_new_music_is_found(index: CopyIndex) -> None:
    phrase = TWINKLE[3 : 3 + COPY_RUN + 1]
    tune = tune_of([72, 71, 69, *phrase, 55, 57])
    assert index.shared_runs(tune) == 1


def test_one_pair_short_of_a_run_is_not_a_copy(index: CopyIndex) -> None:
    tune = tune_of([72, *TWINKLE[:COPY_RUN], 50])  # COPY_RUN notes = COPY_RUN - 1 pairs shared
    assert not index.is_copied(tune)


def test_changed_rhythm_is_not_a_copy(index: CopyIndex) -> None:
    durations = [Q] * len(TWINKLE)
    durations[6::7] = [2 * Q] * len(durations[6::7])
    assert not index.is_copied(tune_of(TWINKLE, durations))


def test_copied_rate(index: CopyIndex) -> None:
    fresh = tune_of([60, 64, 62, 65, 64, 67, 65, 69, 67, 71, 69, 72, 71, 74, 72])
    assert copied_rate([tune_of(OTHER, offset=-2), fresh], index) == 0.5
    assert math.isnan(copied_rate([], index))


def test_short_tunes_have_no_runs() -> None:
    assert run_hashes(tune_of([60, 62, 64]), COPY_RUN).size == 0
    assert len(CopyIndex([tune_of([60, 62])])) == 0


def test_pair_codes_separate_interval_and_duration() -> None:
    codes = pair_codes(tune_of([60, 64, 60], [Q, 6, 6]))
    assert codes.size == 2 and codes[0] != codes[1]
    assert len({*pair_codes(tune_of([60, 67], [Q, 7])), *pair_codes(tune_of([60, 68], [Q, 6]))}) == 2


def test_index_needs_a_positive_run() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CopyIndex([], run=0)
