"""EventTokens: REMI-like tokens from a Score and back, with a checked grammar."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import make_score, make_track
from hypothesis import given, settings
from strategies import canonical, scores

from midigan.errors import ConfigError, TokenGrammarError
from midigan.music.score import KeySignature, Meter, Score, Tempo
from midigan.representations.event_vocab import EventConfig, TokenVocab
from midigan.representations.events import EventTokens, default_vocab


@settings(max_examples=200, deadline=None)
@given(scores())
def test_round_trip_is_exact(score: Score) -> None:
    tokens = EventTokens.from_score(score)
    assert tokens.ids.dtype == np.int32
    assert canonical(tokens.to_score()) == canonical(score)


@settings(max_examples=30, deadline=None)
@given(scores(max_tracks=2))
def test_bare_ids_keep_everything_but_names(score: Score) -> None:
    tokens = EventTokens.from_score(score)
    back = EventTokens.from_ids(tokens.ids.tolist(), tokens.vocab).to_score()
    assert [t.name for t in back.tracks] == [f"Track {i}" for i in range(len(score.tracks))]
    for track in back.tracks:
        track.name = ""
    for track in score.tracks:
        track.name = ""
    assert canonical(back) == canonical(score)


def test_twinkle_reads_like_remi(twinkle: Score) -> None:
    tokens = EventTokens.from_score(twinkle).tokens
    assert tokens[:12] == [
        "BOS", "Track_0", "Program_0", "Bar", "Meter_4/4", "Position_0", "Tempo_120", "Key_C",
        "Chord_C", "Track_0", "Pitch_60", "Duration_12",
    ]  # fmt: skip
    assert tokens.count("Bar") == 2 and tokens[-1] == "EOS"
    assert "Chord_F" in tokens and tokens.count("Track_0") == 2  # declared once, switched to once


def test_meter_changes_on_and_off_the_barline_and_an_end_off_the_barline() -> None:
    score = make_score([(60, 0, 12), (62, 50, 10), (64, 61, 30)], end_tick=100)
    score.meters.append(Meter(60, 3, 4))  # inside bar 2 of 4/4: bar 2 is cut to 12 ticks
    tokens = EventTokens.from_score(score)
    text = " ".join(tokens.tokens)
    assert "Bar Position_2 Pitch_62 Duration_10 Velocity_80 Position_12 Bar Meter_3/4" in text
    assert text.endswith("Bar Position_4 EOS")  # the last bar ends at tick 100
    back = tokens.to_score()
    assert back.bar_starts() == score.bar_starts() == [0, 48, 60, 96, 132]
    assert canonical(back) == canonical(score)


def test_multitrack_with_drums_triplets_and_repeated_notes() -> None:
    melody = [(67, 0, 4, 90), (67, 4, 4, 91), (67, 8, 4, 92), (69, 12, 36, 80)]
    score = make_score(melody, meter=(6, 8), key=(7, "major"), chords=[(0, 7, "maj"), (18, 2, "7")])
    score.tracks.append(make_track([(36, 0, 1, 120), (38, 9, 1, 100), (36, 18, 1, 120)], "Drums", 0, True))
    score.tracks.append(make_track([(43, 0, 18, 70), (50, 18, 18, 70)], "Bass", 32))
    score.tempos.append(Tempo(18, 100.0))
    score.keys.append(KeySignature(30, 4, "minor"))
    tokens = EventTokens.from_score(score)
    assert tokens.tokens[1:9] == [
        "Track_0",
        "Program_0",
        "Track_1",
        "Program_0",
        "Drum",
        "Track_2",
        "Program_32",
        "Bar",
    ]
    assert canonical(tokens.to_score()) == canonical(score)


def test_long_notes_clip_with_a_warning_and_tempos_round() -> None:
    score = make_score([(60, 0, 240)], qpm=97.4, end_tick=240)
    with pytest.warns(UserWarning, match="clipped"):
        tokens = EventTokens.from_score(score)
    back = tokens.to_score()
    assert back.tracks[0].notes[0].duration == 192
    assert back.tempos == [Tempo(0, 97.0)]


def test_empty_score() -> None:
    tokens = EventTokens.from_score(Score())
    assert tokens.tokens == ["BOS", "EOS"]
    assert tokens.to_score().end == 0


# ------------------------------------------------------------------ grammar
def _broken(tokens: list[str]) -> str:
    with pytest.raises(TokenGrammarError) as info:
        EventTokens.from_tokens(tokens).to_score()
    return str(info.value)


GOOD = [
    "BOS",
    "Track_0",
    "Program_0",
    "Bar",
    "Position_0",
    "Track_0",
    "Pitch_60",
    "Duration_12",
    "Velocity_80",
    "EOS",
]


def test_the_reference_sequence_decodes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score = EventTokens.from_tokens(GOOD).to_score()
    assert [(n.pitch, n.onset, n.duration, n.velocity) for n in score.tracks[0].notes] == [(60, 0, 12, 80)]
    assert score.meters == [Meter(0, 4, 4)] and score.end == 48


@pytest.mark.parametrize(
    ("index", "replacement", "message"),
    [
        (7, "Velocity_80", "token 7 'Velocity_80': expected Duration after 'Pitch_60'"),
        (8, "Duration_6", "token 8 'Duration_6': expected Velocity after 'Duration_12'"),
        (0, "Bar", "token 0 'Bar': expected BOS"),
        (6, "Position_3", "token 6 'Position_3': expected Pitch after 'Track_0'"),
        (5, "Track_3", "token 5 'Track_3': expected a track declared in the header (0..0)"),
        (4, "Position_48", "token 4 'Position_48': expected a position after -1 and inside the 4/4 bar"),
        (5, "Pitch_62", "token 5 'Pitch_62': expected Track before the first Pitch"),
        (4, "Pitch_60", "token 4 'Pitch_60': expected Meter, Position, Bar or EOS after 'Bar'"),
        (1, "Track_1", "token 1 'Track_1': expected Track_0 (tracks are declared in order)"),
        (2, "Bar", "token 2 'Bar': expected Program after a track declaration"),
        (
            5,
            "Meter_3/4",
            "token 5 'Meter_3/4': expected Tempo, Key, Chord, Track, Pitch, Bar or EOS after 'Position_0'",
        ),
        (9, "PAD", "token 9 'PAD': expected Position, Track, Pitch, Bar or EOS after 'Velocity_80'"),
    ],
)
def test_grammar_errors_name_the_index_and_what_was_expected(
    index: int, replacement: str, message: str
) -> None:
    tokens = list(GOOD)
    tokens[index] = replacement
    assert message in _broken(tokens)


def test_positions_must_increase_and_sequences_must_end() -> None:
    backwards = [*GOOD[:9], "Position_0", "Pitch_62", "Duration_1", "Velocity_1", "EOS"]
    assert "token 9 'Position_0': expected a position after 0" in _broken(backwards)
    assert "without EOS" in _broken(GOOD[:-1])
    assert "inside a note: expected Velocity" in _broken(GOOD[:8])
    assert "token 10 'Bar': expected PAD after EOS" in _broken([*GOOD, "Bar"])
    assert EventTokens.from_tokens([*GOOD, "PAD", "PAD"]).to_score().bar_count == 1
    with pytest.raises(TokenGrammarError, match=r"token 3 \(id 99999\): not in the vocabulary"):
        EventTokens.from_ids([1, 5, 6, 99999], default_vocab()).to_score()


# -------------------------------------------------------------------- vocab
def test_vocab_is_deterministic_and_round_trips_through_json(tmp_path) -> None:
    vocab = TokenVocab(EventConfig(max_tracks=4))
    assert vocab == TokenVocab(EventConfig(max_tracks=4)) and vocab != default_vocab()
    assert len(set(vocab.tokens)) == len(vocab)
    assert TokenVocab.from_json(json.loads(json.dumps(vocab.to_json()))) == vocab
    path = vocab.save(tmp_path / "vocab.json")
    assert TokenVocab.load(path) == vocab
    assert vocab.id_of("Chord_Am") == vocab.base[9] + 1 + 9 * 11 + 1  # chord tokens follow chord ids


def test_a_foreign_vocab_is_refused(tmp_path) -> None:
    data = default_vocab().to_json()
    data["tokens"] = data["tokens"][:-1]
    with pytest.raises(ConfigError, match="differs"):
        TokenVocab.from_json(data)
    with pytest.raises(ConfigError, match="unknown EventConfig keys"):
        TokenVocab.from_json({**default_vocab().to_json(), "config": {"max_bars": 3}})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        TokenVocab.load(tmp_path / "bad.json")


def test_scores_beyond_the_vocabulary_are_refused_clearly() -> None:
    small = TokenVocab(EventConfig(max_tracks=1, max_position=48))
    two = make_score([(60, 0, 12)])
    two.tracks.append(make_track([(62, 0, 12)]))
    with pytest.raises(TokenGrammarError, match="2 tracks"):
        EventTokens.from_score(two, small)
    with pytest.raises(TokenGrammarError, match="max_position"):
        EventTokens.from_score(make_score([(60, 50, 12)], meter=(6, 4)), small)
