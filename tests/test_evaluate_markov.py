"""The n-gram Markov baseline: proper distributions, exact bars, requested keys."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_score

from midigan.errors import ConfigError
from midigan.evaluate.markov import REST, MarkovModel, fit_markov, tune_events
from midigan.representations.conditions import Conditions
from midigan.representations.tune import Tune

Q = 12


def tune_of(notes: list[tuple[int, int, int]], key=(0, "major"), meter=(4, 4), end_tick=None) -> Tune:
    return Tune.from_score(make_score(notes, key=key, meter=meter, end_tick=end_tick))


MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2, 0, 2)
MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10, 12, 10, 8, 7, 5, 3, 2, 0, 2)


def scale_run(start: int, key=(0, "major"), meter=(4, 4), bars: int = 4) -> Tune:
    """Up and down the scale in eighths, quarters and dotted quarters, exactly `bars` bars."""
    steps = MAJOR_STEPS if key[1] == "major" else MINOR_STEPS
    notes, tick, i = [], 0, 0
    bar = Q * 4 * meter[0] // meter[1]
    while tick < bars * bar:
        length = min([6, 6, 12, 18][i % 4], bars * bar - tick)
        notes.append((start + steps[i % len(steps)], tick, length))
        tick, i = tick + length, i + 1
    return tune_of(notes, key=key, meter=meter)


@pytest.fixture
def model() -> MarkovModel:
    tunes = [scale_run(60), scale_run(62, key=(2, "major")), scale_run(57, key=(9, "minor"), meter=(6, 8))]
    return fit_markov(tunes, order=2)


def test_events_are_in_c_and_tile_the_piece_with_rests() -> None:
    tune = tune_of([(69, 12, 12), (71, 36, 12)], key=(7, "major"), end_tick=96)
    events = tune_events(tune)
    assert events == [(REST, 12), (74, 12), (REST, 12), (76, 12), (REST, 48)]  # G -> C: up 5
    assert sum(d for _, d in events) == tune.end_tick


def test_probabilities_sum_to_one(model: MarkovModel) -> None:
    for context in ([], [(60, 6)], [(60, 6), (62, 6)], [(99, 1)]):
        for mode, meter in (("major", (4, 4)), ("minor", (6, 8)), ("major", (3, 4))):
            distribution = model.distribution(context, mode, meter)
            assert distribution
            assert sum(distribution.values()) == pytest.approx(1.0)
            assert all(p > 0 for p in distribution.values())


def test_a_deterministic_training_line_gives_certain_continuations() -> None:
    line = [(p, i * Q, Q) for i, p in enumerate([60, 62, 64, 60, 62, 64, 60, 62])]
    model = fit_markov([tune_of(line), tune_of(line)], order=2)
    assert model.distribution([(60, Q), (62, Q)]) == {(64, Q): 1.0}
    assert model.distribution([]) == {(60, Q): 1.0}  # every piece starts on C


def test_backoff_to_a_shorter_context() -> None:
    line = [(p, i * Q, Q) for i, p in enumerate([60, 62, 64, 62, 60, 62, 67, 62])]
    model = MarkovModel(order=2, min_count=1).fit([tune_of(line)])
    # (64, 62) then 60; (60, 62) then 64 or 67; the unseen (65, 62) backs off to "after 62"
    assert model.distribution([(64, Q), (62, Q)]) == {(60, Q): 1.0}
    after_62 = model.distribution([(65, Q), (62, Q)])
    assert after_62 == pytest.approx({(64, Q): 1 / 3, (60, Q): 1 / 3, (67, Q): 1 / 3})


@pytest.mark.parametrize(("bars", "meter"), [(1, (4, 4)), (5, (3, 4)), (8, (6, 8)), (3, (5, 4))])
def test_generated_pieces_are_bar_exact(model: MarkovModel, bars: int, meter: tuple[int, int]) -> None:
    conditions = Conditions(bars=bars, meter=meter, key=(0, "major"))
    for seed in range(5):
        events = model.generate_events(conditions, np.random.default_rng(seed))
        assert sum(d for _, d in events) == conditions.total_ticks()
        score = model.generate_scores([conditions], seed=seed)[0]
        assert score.bar_count == bars
        assert score.last_offset <= conditions.total_ticks()


def test_pieces_come_in_the_requested_key_with_its_chords(model: MarkovModel) -> None:
    conditions = Conditions(bars=4, key=(7, "major"), chords=(((7, "maj"),), ((2, "7"),)))
    score = model.generate_scores([conditions], seed=1)[0]
    pitch_classes = {n.pitch % 12 for n in score.tracks[0].notes}
    assert pitch_classes <= {7, 9, 11, 0, 2, 4, 6}  # trained on major scales only
    assert [(c.tick, c.root) for c in score.chords] == [(0, 7), (48, 2), (96, 7), (144, 2)]
    assert score.keys[0].tonic == 7


def test_minor_requests_use_minor_training(model: MarkovModel) -> None:
    score = model.generate_scores([Conditions(bars=2, meter=(6, 8), key=(9, "minor"))], seed=0)[0]
    assert {n.pitch % 12 for n in score.tracks[0].notes} <= {9, 11, 0, 2, 4, 5, 7}


def test_same_seed_same_pieces(model: MarkovModel) -> None:
    conditions = [Conditions(bars=4), Conditions(bars=2, meter=(3, 4))]
    first = model.generate_scores(conditions, seed=3)
    again = model.generate_scores(conditions, seed=3)
    assert [s.tracks[0].notes for s in first] == [s.tracks[0].notes for s in again]


def test_generate_returns_note_streams(model: MarkovModel) -> None:
    streams = model.generate([Conditions(bars=4, key=(2, "minor"), style="irish")], seed=0)[0]
    assert int(streams.duration.sum()) == 4 * 48
    assert streams.bar_count == 4


def test_errors() -> None:
    with pytest.raises(ConfigError, match="order"):
        MarkovModel(order=0)
    with pytest.raises(ConfigError, match="at least one"):
        fit_markov([Tune.from_score(make_score([], end_tick=48))])
    with pytest.raises(ConfigError, match="not fitted"):
        MarkovModel().distribution([])
