"""Lookback candidates: the numpy rule on real pieces, its torch twin, batches, and the copy heads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import TINY_VOCAB, tiny_bundle, write_corpus

from midigan.model.conditioning import Timeline
from midigan.model.lookback import (
    DIFFERS,
    NO_CANDIDATE,
    REPEATS,
    History,
    LookbackSources,
    piece_lookback,
    repeat_states,
)
from midigan.model.sampler import sample
from midigan.model.unroll import unroll
from midigan.representations.conditions import Conditions
from midigan.representations.streams import NoteStreams, PieceTimeline
from midigan.train.batch import Batch
from midigan.train.dataset import collate, load_corpus, windows

NONE = (99, 98)


def test_candidates_are_the_events_at_the_same_bar_position_earlier():
    # Two 4/4 bars (48 ticks): bar 2 starts like bar 1, then changes its rhythm.
    onset = np.array([0, 12, 24, 48, 60, 66, 72])
    pitch = np.array([1, 2, 3, 1, 2, 5, 3])
    duration = np.array([12, 12, 24, 12, 6, 6, 24])  # ids standing for themselves
    bar_starts = np.array([0, 48, 96])
    candidates, states = piece_lookback(onset, pitch, duration, bar_starts, (1, 2), NONE)
    lag1 = candidates[:, 0].tolist()
    assert lag1[:3] == [list(NONE)] * 3, "the first bar has nothing one bar back"
    assert lag1[3:] == [[1, 12], [2, 12], list(NONE), [3, 24]], "no onset at tick 18 of bar 1"
    assert (candidates[:, 1] == NONE).all(), "nothing two bars back"
    assert states[:, 0].tolist() == [NO_CANDIDATE] * 3 + [REPEATS, DIFFERS, NO_CANDIDATE, REPEATS]
    assert (states[:, 1] == NO_CANDIDATE).all()


def test_a_shorter_earlier_bar_offers_nothing_past_its_end():
    # A 2/4 bar (24 ticks), then a 4/4 bar: its second half has no lag-1 source.
    onset = np.array([0, 12, 24, 36, 48, 60])
    pitch = np.arange(6)
    duration = np.full(6, 12)
    candidates, _ = piece_lookback(onset, pitch, duration, np.array([0, 24, 72]), (1,), NONE)
    assert candidates[2:, 0, 0].tolist() == [0, 1, NONE[0], NONE[0]]


def _random_piece(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A melody over bars of mixed meters that often repeats an earlier bar."""
    lengths = rng.choice([24, 36, 48], size=int(rng.integers(2, 12)))
    bar_starts = np.concatenate(([0], np.cumsum(lengths)))
    bars = []
    for b, length in enumerate(lengths):
        if b >= 2 and rng.random() < 0.5 and lengths[b - 2] == length:
            bars.append(bars[b - 2])  # a repeat two bars back
            continue
        events, tick = [], 0
        while tick < length:
            d = int(min(rng.choice([6, 12, 24]), length - tick))
            events.append((tick, int(rng.integers(0, 12)), d))
            tick += d
        bars.append(events)
    rows = [(int(bar_starts[b]) + t, p, d) for b, events in enumerate(bars) for t, p, d in events]
    onset, pitch, duration = (np.array(c) for c in zip(*rows, strict=True))
    return onset, pitch, duration, bar_starts


@pytest.mark.parametrize("seed", range(5))
def test_the_torch_history_finds_what_numpy_finds(seed):
    """Sampling and the unroll read candidates tick by tick; training reads them from numpy."""
    rng = np.random.default_rng(seed)
    onset, pitch, duration, bar_starts = _random_piece(rng)
    lags = (1, 2, 4)
    expected, expected_states = piece_lookback(onset, pitch, duration, bar_starts, lags, NONE)
    timeline = Timeline.stack(
        [
            PieceTimeline(
                bar_starts,
                np.zeros(len(bar_starts) - 1, np.int64),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
            )
        ]
    )
    for limit in (1 << 22, 0):  # the per-tick table and the per-step search
        sources = LookbackSources(timeline, lags, limit=limit)
        history = History.empty(1, int(bar_starts[-1]), NONE, torch.device("cpu"))
        for i in range(len(onset)):
            tick, p, d = (torch.tensor([int(v)]) for v in (onset[i], pitch[i], duration[i]))
            candidates = history.candidates(sources(tick))
            assert candidates[0].tolist() == expected[i].tolist()
            assert repeat_states(candidates, p, d, NONE[0])[0].tolist() == expected_states[i].tolist()
            history.write(tick, p, d, torch.tensor([True]))


def test_history_forgets_the_real_continuation_and_ignores_ended_pieces():
    history = History(torch.tensor([[1, 2, 3, 4]]), torch.tensor([[5, 6, 7, 8]]), NONE)
    history.forget_from(torch.tensor([2]))
    history.write(torch.tensor([3]), torch.tensor([9]), torch.tensor([9]), torch.tensor([True]))
    history.write(torch.tensor([1]), torch.tensor([0]), torch.tensor([0]), torch.tensor([False]))
    got = history.candidates(torch.tensor([[0, 1, 2, 3, -1]]))[0].tolist()
    assert got == [[1, 5], [2, 6], list(NONE), [9, 9], list(NONE)]


def test_batches_carry_the_real_previous_events_repeat_state(tmp_path):
    corpus = load_corpus(write_corpus(tmp_path / "c", pieces=2, bars=8), cache_dir=tmp_path / "cache")
    lags = (1, 2)
    candidates, states = corpus.lookback(lags)
    cut = windows(corpus, np.array([0]), seq_len=5)
    batch = collate(corpus, cut[:2], bos=(90, 91, 92), lags=lags, history=True)
    first, second = cut[0], cut[1]
    assert batch.candidates[1, :5].tolist() == candidates[second.start : second.stop].tolist()
    assert batch.repeat_states[0, 0].tolist() == [NO_CANDIDATE] * 2, "nothing before a piece starts"
    assert batch.repeat_states[0, 1:5].tolist() == states[first.start : first.stop - 1].tolist()
    assert batch.repeat_states[1, 0].tolist() == states[second.start - 1].tolist()
    onsets = corpus.onset[corpus.offsets[0] : corpus.offsets[1]]
    assert (
        batch.history_pitch[0, onsets].tolist()
        == corpus.events[corpus.offsets[0] : corpus.offsets[1], 0].tolist()
    )


def _copying_bundle(lag_index: int = 0):
    """A tiny lookback model told to repeat its lag-`lag_index` candidate whenever it has one."""
    bundle = tiny_bundle(seed=3, lookback=(1, 2))
    g = bundle.generator
    with torch.no_grad():
        g.copy_pitch.bias[lag_index] = 60.0
        g.copy_duration.bias[lag_index] = 60.0
    return bundle


def test_a_model_that_always_copies_one_bar_back_repeats_its_first_bar():
    """End to end through the fused sampler: the copy bonus reaches the sampled events."""
    from conftest import make_score

    bundle = _copying_bundle()
    bundle.generator.eval()
    bar_notes = [(60, 0, 12, 80), (64, 12, 6, 80), (62, 18, 6, 80), (67, 24, 24, 80)]  # one 4/4 bar
    primer = NoteStreams.from_score(make_score(bar_notes), to_c=False)
    request = Conditions(5, (4, 4), primer=primer)
    for seed in range(3):
        piece = sample(bundle, [request], temperature=1.0, seed=seed)[0]
        notes = [(n.pitch, n.onset % 48, n.duration) for n in piece.to_score().tracks[0].notes]
        assert notes == [(p, o, d) for p, o, d, _ in bar_notes] * 5, "every bar repeats the primer's"


def test_unrolled_events_copy_from_the_real_prefix():
    """The adversarial unroll reads candidates from the real events before it, then its own."""
    bundle = _copying_bundle()
    g = bundle.generator.train()
    B, bars, bar = 2, 3, 48
    timeline = Timeline.stack(
        [
            PieceTimeline(
                np.arange(bars + 1) * bar,
                np.zeros(bars, np.int64),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
            )
        ]
        * B
    )
    quarter = TINY_VOCAB.durations.index(12)
    real_pitch = torch.tensor([[3, 5, 7, 9], [10, 3, 3, 1]])
    lookback = torch.zeros(B, 4, 2, 2, dtype=torch.int64)
    lookback[..., 0], lookback[..., 1] = g.none_ids
    history_pitch = torch.full((B, bars * bar), g.none_ids[0])
    history_pitch[:, 0:48:12] = real_pitch
    history_duration = torch.full((B, bars * bar), g.none_ids[1])
    history_duration[:, 0:48:12] = quarter
    batch = Batch(
        pitch=real_pitch,
        duration=torch.full((B, 4), quarter),
        velocity=torch.full((B, 4), 3),
        conditions=timeline.at(torch.arange(4).expand(B, 4) * 12),
        mask=torch.ones(B, 4, dtype=torch.bool),
        prev=torch.tensor(g.bos).expand(B, 3),
        mode=torch.zeros(B, dtype=torch.int64),
        style=torch.zeros(B, dtype=torch.int64),
        start=torch.zeros(B, dtype=torch.int64),
        candidates=lookback,
        repeat_states=torch.zeros(B, 4, 2, dtype=torch.int64),
        history_pitch=history_pitch,
        history_duration=history_duration,
    )
    out = unroll(g, batch, timeline, prefix=4, steps=8, tau=1.0)
    pitch, duration, _ = out.streams
    assert pitch.argmax(-1).tolist() == torch.cat((real_pitch, real_pitch), 1).tolist()
    assert (duration.argmax(-1) == quarter).all()
    assert out.candidates[:, 4:, 0, 0].tolist() == real_pitch.tolist(), "bar 3 copies the generated bar 2"
    pitch.sum().backward()
    assert g.copy_pitch.weight.grad is not None
