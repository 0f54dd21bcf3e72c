"""The learned chord-progression model: training, sampling, files, and compose's use of it."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from midigan.composer.progressions import OPEN, PATTERNS, default_progression
from midigan.composer.request import parse_chords, plan_conditions
from midigan.errors import CheckpointError, TheoryError
from midigan.model.checkpoint import PRETRAINED_DIR, load_model
from midigan.model.harmony import (
    FREE,
    HARMONY_CONFIG,
    HARMONY_WEIGHTS,
    HarmonyConfig,
    HarmonyModel,
    SlotConditions,
    harmony_files,
    load_harmony,
    piece_uniforms,
)
from midigan.representations.ids import chord_id, meter_id
from midigan.train.config import HarmonyTrainConfig
from midigan.train.dataset import chordless_rows
from midigan.train.harmony import SlotData, slot_nll, train_harmony

C, F, G = chord_id(0, "maj"), chord_id(5, "maj"), chord_id(7, "maj")
FOUR_FOUR = meter_id(4, 4)


def rule_corpus(bars: int, pieces: int, per_bar: tuple[int, ...]) -> SlotData:
    """`pieces` pieces in C major, 4/4, whose slots repeat `per_bar` (one id per slot) cyclically."""
    row = np.array([per_bar[i % len(per_bar)] for i in range(2 * bars)], dtype=np.int64)
    return SlotData(
        [row.copy() for _ in range(pieces)], [0] * pieces, [0] * pieces, [np.full(bars, FOUR_FOUR)] * pieces
    )


I_IV_V_I = (C, C, F, F, G, G, C, C)  # one chord a bar, I-IV-V-I every four bars
FAST = HarmonyTrainConfig(epochs=40, embed=16, hidden=32, lr=0.01, batch_size=8)


@pytest.fixture(scope="module")
def rule_model() -> tuple[HarmonyModel, dict]:
    data = rule_corpus(8, 24, I_IV_V_I)
    return train_harmony(data, rule_corpus(8, 4, I_IV_V_I), FAST, seed=0)


def sample_free(model: HarmonyModel, bars: int, seeds: list[int], temperature: float) -> torch.Tensor:
    cond = SlotConditions.build(
        model.config, [0] * len(seeds), [0] * len(seeds), [[FOUR_FOUR] * bars] * len(seeds)
    )
    forced = torch.full((len(seeds), 2 * bars), FREE, dtype=torch.long)
    return model.sample(cond, forced, piece_uniforms(seeds, 2 * bars), temperature)


def test_overfit_loss_falls_and_samples_follow_the_rule(rule_model):
    model, record = rule_model
    untrained = slot_nll(HarmonyModel(model.config), rule_corpus(8, 4, I_IV_V_I), 8)
    history = [row["valid_nll_per_slot"] for row in record["history"]]
    assert untrained > 4.0 and history[-1] < 0.25 and history[-1] <= history[0], (untrained, history)
    drawn = sample_free(model, 8, list(range(20)), temperature=0.3).numpy()
    expected = np.array([I_IV_V_I[i % 8] for i in range(16)])
    assert (drawn == expected).mean() >= 0.9


def test_forced_slots_are_kept_exactly(rule_model):
    model, _ = rule_model
    cond = SlotConditions.build(model.config, [0, 1], [0, 1], [[FOUR_FOUR] * 6] * 2)
    forced = torch.full((2, 12), FREE, dtype=torch.long)
    forced[0, [0, 5, 11]] = torch.tensor([chord_id(2, "min"), chord_id(9, "m7"), 0])
    forced[1, 3] = chord_id(10, "maj")
    drawn = model.sample(cond, forced, piece_uniforms([5, 6], 12), 1.0)
    keep = forced >= 0
    assert torch.equal(drawn[keep], forced[keep])
    assert (drawn[~keep] != 0).all()  # a free slot never draws 'no chord'


def test_a_piece_draws_the_same_chords_alone_or_in_a_batch(rule_model):
    model, _ = rule_model
    batch = sample_free(model, 8, [3, 4, 5], temperature=1.5)
    alone = sample_free(model, 8, [4], temperature=1.5)
    assert torch.equal(batch[1], alone[0])
    assert not torch.equal(batch[0], batch[2])  # other seeds, other draws at this temperature


def test_save_load_round_trip_gives_identical_samples(rule_model, tmp_path: Path):
    model, record = rule_model
    for name, data in harmony_files(model, record).items():
        (tmp_path / name).write_bytes(data)
    loaded = load_harmony(tmp_path)
    assert loaded is not None and loaded.config == model.config
    assert torch.equal(sample_free(model, 8, [1, 2], 1.0), sample_free(loaded, 8, [1, 2], 1.0))
    assert load_harmony(tmp_path / "nothing-here") is None


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / HARMONY_CONFIG).write_text("{not json"), "not valid JSON"),
        (lambda d: (d / HARMONY_WEIGHTS).write_bytes(b"\x00" * 40), "corrupted"),
        (lambda d: (d / HARMONY_WEIGHTS).unlink(), "missing"),
        (
            lambda d: (d / HARMONY_CONFIG).write_text(
                (d / HARMONY_CONFIG).read_text().replace('"hidden": 32', '"hidden": 40')
            ),
            "do not match",
        ),
    ],
)
def test_a_damaged_harmony_model_is_one_line(rule_model, tmp_path: Path, damage, message):
    model, record = rule_model
    for name, data in harmony_files(model, record).items():
        (tmp_path / name).write_bytes(data)
    damage(tmp_path)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_harmony(tmp_path)
    assert "\n" not in str(caught.value)


def test_valid_nll_of_an_untrained_model_is_about_uniform():
    model = HarmonyModel(HarmonyConfig(embed=8, hidden=8))
    nll = slot_nll(model, rule_corpus(4, 3, I_IV_V_I), 8)
    assert abs(nll - np.log(133)) < 0.5


# ------------------------------------------------------------------ '?' in a progression
def test_question_marks_parse_as_open_bars_and_halves():
    assert parse_chords("C ? ? G7") == [[(0, "maj")], [OPEN], [OPEN], [(7, "7")]]
    assert parse_chords("C ? | ? G7") == [[(0, "maj"), OPEN], [OPEN, (7, "7")]]
    assert parse_chords(["Am", "?"]) == [[(9, "min")], [OPEN]]
    assert parse_chords("C G Am F") == [[(0, "maj")], [(7, "maj")], [(9, "min")], [(5, "maj")]]


@pytest.mark.parametrize("text", ["C ? G | F", "C ?7 G", "? | H"])
def test_bad_question_mark_syntax_is_a_theory_error(text):
    with pytest.raises(TheoryError):
        parse_chords(text)


def test_open_bars_without_a_chord_model_take_the_hand_written_pattern():
    made = plan_conditions(8, "C", "4/4", None, "C ? ? G7", None, None, seed=4, n=1)[0]
    pattern = default_progression((0, "major"), 8, 4)
    assert [list(bar) for bar in made.chords] == [
        [(0, "maj")],
        pattern[1],
        pattern[2],
        [(7, "7")],
        [(0, "maj")],
        pattern[5],
        pattern[6],
        [(7, "7")],
    ]


def test_open_bars_with_a_chord_model_keep_the_given_ones(rule_model):
    model, _ = rule_model
    made = plan_conditions(8, "G", "4/4", None, "Em ? | ? D7", None, None, seed=1, n=3, harmony=lambda: model)
    for piece in made:
        assert len(piece.chords) == 8
        assert piece.chords[0][0] == (4, "min") and piece.chords[1][-1] == (2, "7")
        assert piece.chords[2][0] == (4, "min")  # the progression cycles over the piece


# ------------------------------------------------------------------ compose and training
def two_chord_model() -> tuple[HarmonyModel, dict]:
    """Two chords every bar, I then V: a harmonic rhythm no hand-written pattern has."""
    data = rule_corpus(8, 24, (C, G))
    return train_harmony(data, rule_corpus(8, 2, (C, G)), FAST, seed=1)


def test_compose_samples_chords_from_the_model_folder(tmp_path: Path):
    import midigan

    for name in ("model.safetensors", "config.json"):
        shutil.copy(PRETRAINED_DIR / name, tmp_path / name)
    model, record = two_chord_model()
    for name, data in harmony_files(model, record).items():
        (tmp_path / name).write_bytes(data)
    assert load_model(tmp_path).harmony is not None
    piece = midigan.compose(bars=8, key="D", meter="4/4", seed=9, model=tmp_path)
    bars = [list(bar) for bar in piece.conditions.chords]
    assert bars != default_progression((2, "major"), 8, 9)
    assert sum(len(bar) == 2 for bar in bars) >= 6  # it learned two chords a bar
    assert sum(bar == [(2, "maj"), (9, "maj")] for bar in bars) >= 6  # D then A: I - V in D
    hand = [[numeral] for pattern in PATTERNS["major"] for numeral in pattern]
    assert all(len(bar) == 1 for bar in hand)


def test_chord_dropout_draws_depend_on_seed_and_step_only():
    first = chordless_rows(0, 17, 400, 0.1)
    assert first is not None and np.array_equal(first, chordless_rows(0, 17, 400, 0.1))
    assert 20 <= first.sum() <= 60
    assert chordless_rows(0, 17, 400, 0.0) is None


def test_train_saves_one_chord_model_in_both_checkpoints(tmp_path: Path):
    from midigan.train.config import TrainOptions
    from midigan.train.trainer import train

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted((Path(__file__).parents[1] / "corpora" / "folk").glob("*.mid"))[:24]:
        shutil.copy(path, corpus / path.name)
    options = TrainOptions.resolve(
        corpus, tmp_path / "run", config="tiny", max_steps=3, device="cpu", quiet=True
    )
    train(replace(options, cache_dir=tmp_path / "cache"))
    mle, gan = tmp_path / "run" / "mle", tmp_path / "run" / "gan"
    for name in (HARMONY_WEIGHTS, HARMONY_CONFIG):
        assert (mle / name).read_bytes() == (gan / name).read_bytes()
    bundle = load_model(gan)
    assert bundle.harmony is not None
    record = json.loads((gan / HARMONY_CONFIG).read_text())
    assert record["metrics"]["train_pieces"] > 0 and record["metrics"]["valid_nll_per_slot"] > 0
    (gan / HARMONY_CONFIG).write_text(
        '{"format": "midigan-harmony", "format_version": 1, "config": {"hidden": 0}}'
    )
    with pytest.raises(CheckpointError, match="hidden"):
        load_model(gan)
