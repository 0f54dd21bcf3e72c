"""NoteStreams and StreamVocab: the model's view of a melody and its class ids."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_score, make_track
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import melodies

from midigan.errors import ConfigError
from midigan.music.score import ChordLabel, KeySignature, Meter, Score
from midigan.music.theory import parse_progression
from midigan.representations.conditions import Conditions
from midigan.representations.ids import MAX_BARS_REMAINING, MAX_POSITION, chord_id, meter_id
from midigan.representations.stream_vocab import StreamVocab
from midigan.representations.streams import REST, NoteStreams, condition_track


def _notes(score: Score) -> list[tuple[int, int, int, int]]:
    return [(n.pitch, n.onset, n.duration, n.velocity) for n in score.tracks[0].notes]


def _assert_tiles(s: NoteStreams) -> None:
    assert (s.duration > 0).all()
    assert s.onset.tolist() == (np.cumsum(s.duration) - s.duration).tolist()
    assert int(s.duration.sum()) == s.total_ticks()
    assert (s.velocity[s.pitch == REST] == 0).all() and (s.bars_remaining >= 1).all()


@settings(max_examples=150, deadline=None)
@given(melodies(), st.booleans())
def test_round_trip_is_exact(score: Score, to_c: bool) -> None:
    s = NoteStreams.from_score(score, to_c=to_c)
    _assert_tiles(s)
    assert -5 <= s.shift <= 6 and (to_c or s.shift == 0)
    key = score.key_at(0)
    if key is not None and to_c:
        assert (key.tonic + s.shift) % 12 == 0
    back = s.to_score()
    assert _notes(back) == _notes(score)
    assert back.tracks[0].name == "Melody"
    assert (back.meters, back.tempos, back.keys, back.chords) == (
        score.meters,
        score.tempos,
        score.keys,
        score.chords,
    )
    assert back.bar_count == score.bar_count and back.end == score.end


@settings(max_examples=60, deadline=None)
@given(melodies(max_bars=8), st.data())
def test_bars_window_tiles_and_keeps_the_notes_it_holds(score: Score, data: st.DataObject) -> None:
    s = NoteStreams.from_score(score)
    start = data.draw(st.integers(0, s.bar_count - 1))
    n_bars = data.draw(st.integers(1, s.bar_count - start))
    w = s.bars_window(start, n_bars)
    _assert_tiles(w)
    starts = s.bar_starts()
    lo, hi = int(starts[start]), int(starts[start + n_bars])
    assert w.total_ticks() == hi - lo and w.bar_count == n_bars
    assert w.bars_remaining[0] == n_bars
    original = {n.onset: n for n in score.tracks[0].notes}
    for note in w.to_score().tracks[0].notes:
        source = original[note.onset + lo]
        assert (note.pitch, note.velocity) == (source.pitch, source.velocity)
        assert note.duration == min(source.duration, hi - source.onset)
    inside = [n for n in score.tracks[0].notes if lo <= n.onset < hi]
    assert len(w.to_score().tracks[0].notes) == len(inside)


def test_rests_fill_gaps_and_conditions_follow_the_onsets() -> None:
    q = 12
    score = make_score(
        [(62, 6, 12, 90), (66, 18, 12, 91), (69, 36, 30, 60)],
        meter=(3, 4),
        key=(2, "major"),
        chords=[(0, 2, "maj"), (48, 7, "maj")],
    )
    s = NoteStreams.from_score(score, style="irish")
    assert s.shift == -2 and s.bar_count == 2 and s.style == 1 and s.mode == 0
    assert s.pitch.tolist() == [REST, 60, 64, REST, 67, REST]
    assert s.duration.tolist() == [6, q, q, 6, 30, 6]
    assert s.position.tolist() == [0, 6, 18, 30, 0, 30]
    assert s.bars_remaining.tolist() == [2, 2, 2, 2, 1, 1]
    assert s.chord.tolist() == [chord_id(0, "maj")] * 5 + [chord_id(5, "maj")]  # D -> C, G -> F
    assert s.meter.tolist() == [meter_id(3, 4)] * 6
    assert s.chord_labels == score.chords  # untransposed
    assert s.pitches_in_key().tolist() == [REST, 62, 66, REST, 69, REST]


def test_melody_is_chosen_by_the_rule_or_by_index_and_made_monophonic() -> None:
    score = make_score([(40, 0, 48)], key=None)
    score.tracks[0].name = "Bass"
    score.tracks.append(make_track([(72, 0, 24), (76, 0, 12), (74, 12, 36)], "Lead"))  # chord at 0: top wins
    score.tracks.append(make_track([(36, 0, 1)] * 1, "Drums", is_drum=True))
    s = NoteStreams.from_score(score)
    assert s.shift == 0 and s.pitch.tolist() == [76, 74] and s.duration.tolist() == [12, 36]
    bass = NoteStreams.from_score(score, melody_track=0)
    assert bass.pitch.tolist() == [40]


def test_a_score_without_pitched_notes_is_one_long_rest() -> None:
    score = make_score([], end_tick=96)
    s = NoteStreams.from_score(score)
    assert s.pitch.tolist() == [REST] and s.duration.tolist() == [96]
    assert s.to_score().tracks[0].notes == []


def test_condition_track_by_hand_in_six_eight() -> None:
    c = Conditions(bars=2, meter=(6, 8), key=(7, "major"), chords=parse_progression("G D | C"))
    track = condition_track(np.array([18, 6, 12, 18, 18]), c)
    assert track["onset"].tolist() == [0, 18, 24, 36, 54]
    assert track["position"].tolist() == [0, 18, 24, 0, 18]
    assert track["bars_remaining"].tolist() == [2, 2, 2, 1, 1]
    # G major -> C: shift +5. G -> C, D -> G, C -> F.
    assert (
        track["chord"].tolist()
        == [chord_id(0, "maj"), chord_id(7, "maj"), chord_id(7, "maj")] + [chord_id(5, "maj")] * 2
    )
    assert track["meter"].tolist() == [meter_id(6, 8)] * 5
    assert track["bar_index"].tolist() == [0, 0, 0, 1, 1]


def test_condition_track_agrees_with_from_score() -> None:
    score = make_score([(60, 0, 18), (64, 18, 18), (67, 36, 36)], meter=(6, 8), key=(5, "minor"))
    score.chords = [ChordLabel(0, 5, "min"), ChordLabel(36, 0, "7")]
    s = NoteStreams.from_score(score)
    track = condition_track(s.duration, s)
    for name in ("onset", "position", "bars_remaining", "chord", "meter", "bar_index"):
        assert track[name].tolist() == getattr(s, name).tolist(), name


def test_bars_window_rebases_and_cuts() -> None:
    notes = [(60, 0, 12), (62, 12, 60), (64, 72, 24), (65, 96, 48), (67, 144, 36)]
    score = make_score(notes, chords=[(0, 0, "maj"), (60, 7, "maj"), (120, 5, "maj")])
    score.meters.append(Meter(144, 3, 4))
    s = NoteStreams.from_score(score)
    assert s.bar_count == 4
    w = s.bars_window(1, 2)  # ticks 48..144 of 4/4
    _assert_tiles(w)
    assert w.pitch.tolist() == [REST, 64, 65] and w.duration.tolist() == [24, 24, 48]
    assert w.bars_remaining.tolist() == [2, 2, 1]
    assert w.chord_labels == [ChordLabel(0, 0, "maj"), ChordLabel(12, 7, "maj"), ChordLabel(72, 5, "maj")]
    assert w.meters == [Meter(0, 4, 4)] and w.bar_count == 2
    last = s.bars_window(2, 2)  # crosses into 3/4
    assert last.meters == [Meter(0, 4, 4), Meter(48, 3, 4)] and last.total_ticks() == 84
    assert last.pitch.tolist() == [65, 67] and last.duration.tolist() == [48, 36]
    first = s.bars_window(0, 1)
    assert first.pitch.tolist() == [60, 62] and first.duration.tolist() == [12, 36]  # cut at the end
    with pytest.raises(ConfigError, match="outside"):
        s.bars_window(3, 2)


# -------------------------------------------------------------------- vocab
def _sample(n: int = 300, seed: int = 0) -> list[NoteStreams]:
    """Melodies in 4/4 with folk-like lengths and a rare odd one."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        notes, tick = [], 0
        while tick < 4 * 48:
            length = int(rng.choice([3, 6, 12, 18, 24, 5], p=[0.1, 0.4, 0.35, 0.08, 0.069, 0.001]))
            notes.append((int(rng.integers(55, 80)), tick, length, int(rng.integers(40, 110))))
            tick += length
        out.append(NoteStreams.from_score(make_score(notes, end_tick=tick + (-tick) % 48)))
    return out


def test_fit_covers_the_corpus_and_leaves_rare_lengths_out() -> None:
    sample = _sample()
    vocab = StreamVocab.fit(sample)
    assert vocab.coverage(sample) >= 0.995
    assert 5 not in vocab.durations  # a 0.1% length is not worth a class
    assert {1, 2, 3, 4, 6, 12, 48} <= set(vocab.durations)  # rest fillers and the 4/4 bar
    pitches = np.concatenate([s.pitch[s.pitch != REST] for s in sample])
    assert (vocab.pitch_low, vocab.pitch_high) == (pitches.min(), pitches.max())
    assert vocab.n_pitch == 2 + vocab.pitch_high - vocab.pitch_low
    assert vocab.velocity_edges == (1, 16, 32, 48, 64, 80, 96, 112, 128) and vocab.n_velocity == 8


def test_vocab_json_round_trip() -> None:
    vocab = StreamVocab.fit(_sample(20))
    assert StreamVocab.from_json(json.loads(json.dumps(vocab.to_json()))) == vocab
    with pytest.raises(ConfigError, match="not a midigan stream vocabulary"):
        StreamVocab.from_json({"pitch_low": 1})
    with pytest.raises(ConfigError, match="ascending"):
        StreamVocab(60, 72, (6, 3), (1, 128))


def test_encode_decode_is_the_identity_when_durations_are_known() -> None:
    sample = _sample(30, seed=1)
    vocab = StreamVocab.fit(sample, coverage=1.0)
    for s in sample:
        ids = vocab.encode(s)
        assert {k: v.dtype for k, v in ids.items() if isinstance(v, np.ndarray)} == dict.fromkeys(
            ("pitch", "duration", "velocity", "chord", "position", "bars_remaining", "meter", "bar_index"),
            np.int64,
        )
        back = vocab.decode(ids, s)
        for name in (
            "pitch",
            "duration",
            "onset",
            "chord",
            "position",
            "bars_remaining",
            "meter",
            "bar_index",
        ):
            assert getattr(back, name).tolist() == getattr(s, name).tolist(), name
        centres = vocab.velocity_centres[ids["velocity"]]
        assert back.velocity.tolist() == np.where(s.pitch == REST, 0, centres).tolist()
        assert np.abs(back.velocity.astype(int) - s.velocity).max() <= 8


def test_long_notes_split_into_a_note_and_rests_keeping_the_tiling() -> None:
    s = NoteStreams.from_score(make_score([(60, 0, 40), (62, 40, 8)], end_tick=48))
    vocab = StreamVocab(50, 70, (1, 2, 3, 4, 6, 12), (1, 64, 128))
    ids = vocab.encode(s)
    durations = np.asarray(vocab.durations)[ids["duration"]]
    assert durations.tolist() == [12, 12, 12, 4, 6, 2]
    assert ids["pitch"].tolist() == [11, 0, 0, 0, 13, 0]
    assert ids["position"].tolist() == [0, 12, 24, 36, 40, 46]
    back = vocab.decode(ids, s)
    _assert_tiles(back)
    assert _notes(back.to_score()) == [(60, 0, 12, 95), (62, 40, 6, 95)]  # bin [64, 128) decodes to 95


def test_decode_fits_events_to_the_requested_bars_in_the_requested_key() -> None:
    vocab = StreamVocab(48, 84, (1, 2, 3, 4, 6, 12, 24, 48), (1, 64, 128))
    c = Conditions(bars=2, meter=(3, 4), key=(7, "major"), chords=parse_progression("G | D"), qpm=90)
    too_long = {
        "pitch": np.array([13, 0, 17]),
        "duration": np.array([7, 5, 7]),
        "velocity": np.array([1, 0, 0]),
    }
    s = vocab.decode(too_long, c)  # 48 + 12 + 48 > 72: the last note is cut to 12
    _assert_tiles(s)
    assert s.duration.tolist() == [48, 12, 12] and s.shift == 5
    score = s.to_score()
    assert _notes(score) == [(55, 0, 48, 95), (59, 60, 12, 32)]  # C-space 60/64 moved down to G
    assert score.keys == [KeySignature(0, 7, "major")] and score.tempos[0].qpm == 90
    assert [c.symbol for c in score.chords] == ["G", "D"]
    assert s.chord.tolist() == [chord_id(0, "maj"), chord_id(7, "maj"), chord_id(7, "maj")]
    short = vocab.decode({"pitch": np.array([13]), "duration": np.array([2]), "velocity": np.array([0])}, c)
    assert short.duration.tolist() == [3, 69] and short.pitch.tolist() == [60, REST]
    with pytest.raises(ConfigError, match="pitch ids"):
        vocab.decode({"pitch": np.array([99]), "duration": np.array([3])}, c)


def test_encode_clips_positions_and_bars_remaining_and_folds_pitches() -> None:
    notes = [(100, 0, 12), (30, 12, 96)]
    s = NoteStreams.from_score(make_score(notes, meter=(5, 2), key=None, end_tick=40 * 120))
    vocab = StreamVocab(48, 84, (1, 2, 3, 4, 6, 12, 96, 120), (1, 128))
    ids = vocab.encode(s)
    assert ids["position"].max() == MAX_POSITION - 1  # 5/2 bars are 120 ticks
    assert ids["bars_remaining"][0] == MAX_BARS_REMAINING
    assert ids["pitch"][:2].tolist() == [1 + 76 - 48, 1 + 54 - 48]  # 100 -> 76, 30 -> 54 by octaves
