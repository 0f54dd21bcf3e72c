"""Regenerated bars and variations: what is kept stays byte for byte, lengths are exact."""

from __future__ import annotations

import io

import mido
import numpy as np
import pytest
from conftest import make_score
from model_helpers import tiny_bundle

import midigan
from midigan.composer.edit import regenerate, vary
from midigan.composer.rewrite import parse_bars, regenerate_scores
from midigan.errors import ConfigError
from midigan.music.score import Score

BAR = 48


@pytest.fixture(scope="module")
def song() -> midigan.Piece:
    return midigan.compose(bars=16, seed=3)


def _outside(score: Score, start: int, end: int) -> list[list[tuple[int, int, int, int]]]:
    return [
        sorted((n.pitch, n.onset, n.duration, n.velocity) for n in t.notes if not start <= n.onset < end)
        for t in score.tracks
    ]


def _inside(score: Score, track: int, start: int, end: int) -> list[tuple[int, int, int]]:
    notes = score.tracks[track].notes
    return sorted((n.pitch, n.onset, n.duration) for n in notes if start <= n.onset < end)


def test_regenerate_keeps_every_other_bar_verbatim(song):
    new = song.regenerate(bars=range(5, 9), seed=1)
    assert _outside(new.score, 4 * BAR, 8 * BAR) == _outside(song.score, 4 * BAR, 8 * BAR)
    assert new.score.end == song.score.end and new.bars == 16
    assert new.score.chords == song.score.chords and new.score.tempos == song.score.tempos
    written = _inside(new.score, 0, 4 * BAR, 8 * BAR)
    assert written and all(o + d <= 8 * BAR for _, o, d in written)  # new notes end by bar 9


def test_regenerated_file_is_equal_outside_the_bars(song, tmp_path):
    original = song.save(tmp_path / "song.mid")
    result = regenerate(original, "5-8", n=2, seed=4)
    assert isinstance(result, list) and len(result) == 2
    before = midigan.load(original)
    for i, piece in enumerate(result):
        after = midigan.load(piece.save(tmp_path / f"new{i}.mid"))
        assert _outside(after, 4 * BAR, 8 * BAR) == _outside(before, 4 * BAR, 8 * BAR)
        assert mido.MidiFile(file=io.BytesIO(piece.to_midi_bytes())).length == pytest.approx(
            mido.MidiFile(original).length, abs=1e-6
        )
    assert _inside(result[0].score, 0, 4 * BAR, 8 * BAR) != _inside(result[1].score, 0, 4 * BAR, 8 * BAR)


def test_a_note_held_into_the_bars_is_kept_whole():
    # bar 2 starts under a note from bar 1; bar 3 begins with the tail of a note from bar 2
    notes = [(60, 0, 36, 90), (64, 36, 24, 90), (67, 60, 48, 90), (65, 108, 36, 90), (60, 144, 48, 90)]
    score = make_score(notes, end_tick=4 * BAR)
    bundle = tiny_bundle()
    for out in regenerate_scores(score, "2", n=3, candidates=2, seed=0, model=bundle):
        kept = {(n.pitch, n.onset, n.duration) for n in out.tracks[0].notes if not BAR <= n.onset < 2 * BAR}
        assert kept == {(60, 0, 36), (64, 36, 24), (65, 108, 36), (60, 144, 48)}
        new = [n for n in out.tracks[0].notes if BAR <= n.onset < 2 * BAR]
        assert all(n.onset >= 60 and n.offset <= 2 * BAR for n in new)


def test_bars_under_one_note_are_refused():
    score = make_score([(60, 0, 3 * BAR, 90), (62, 3 * BAR, BAR, 90)], end_tick=4 * BAR)
    with pytest.raises(ConfigError, match="under one note"):
        regenerate_scores(score, "2", model=tiny_bundle())


@pytest.mark.parametrize(
    ("bars", "span"), [("5-8", (5, 8)), (" 3 ", (3, 3)), (range(5, 9), (5, 8)), ((2, 4), (2, 4))]
)
def test_parse_bars(bars, span):
    assert parse_bars(bars) == span


@pytest.mark.parametrize("bars", ["x", "8-5", "0-2", range(5, 5), range(1, 9, 2), [3, 5, 6]])
def test_parse_bars_refuses(bars):
    with pytest.raises(ConfigError, match="bars"):
        parse_bars(bars)


def test_bars_past_the_end_name_the_length(song):
    with pytest.raises(ConfigError, match="has 16 bar"):
        song.regenerate(bars="15-18")


def test_vary_keeps_rhythm_and_changes_the_amount_asked(song):
    melody = song.melody.notes
    notes = len(melody)
    for amount in (0.25, 1.0):
        result = song.vary(amount, n=3, seed=2)
        for piece in result:
            new = piece.melody.notes
            assert [(n.onset, n.duration, n.velocity) for n in new] == [
                (n.onset, n.duration, n.velocity) for n in melody
            ]
            changed = sum(a.pitch != b.pitch for a, b in zip(melody, new, strict=True))
            assert 0 < changed <= round(amount * notes)
            assert [t.notes for t in piece.score.tracks[1:]] == [t.notes for t in song.score.tracks[1:]]
            assert piece.score.chords == song.score.chords


def test_vary_nothing_gives_the_same_bytes(song):
    assert vary(song, 0.0, seed=5).to_midi_bytes() == song.to_midi_bytes()


def test_vary_is_reproducible_from_its_seed(song):
    assert song.vary(0.5, seed=7).to_midi_bytes() == song.vary(0.5, seed=7).to_midi_bytes()


@pytest.mark.parametrize("amount", [-0.1, 1.5, "half", True])
def test_vary_refuses_bad_amounts(song, amount):
    with pytest.raises(ConfigError, match="amount"):
        song.vary(amount)


def test_vary_a_file_outside_the_models_range_keeps_its_register(tmp_path):
    # a melody two octaves below the model's range: folded up to be read, moved back when written
    notes = [(p - 24, i * 12, 12, 80) for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62] * 2)]
    path = midigan.save(make_score(notes, end_tick=4 * BAR), tmp_path / "low.mid")
    piece = vary(path, 1.0, seed=1)
    pitches = np.array([n.pitch for n in piece.melody.notes])
    assert abs(np.median(pitches) - 40) <= 12  # without moving back: 60 and up
