"""The MLE schedule fitted to a small corpus (issue 13, point 9), and left alone where it fits."""

from __future__ import annotations

import json
from dataclasses import replace

from click.testing import CliRunner
from model_helpers import tiny_run_config, write_corpus

from midigan.cli import main
from midigan.train.config import TrainOptions, load_config
from midigan.train.schedule import fit_schedule, model_size_note, warmup_note


def test_a_schedule_that_fits_the_data_is_left_exactly_as_the_preset_says():
    shipped = load_config(None)
    assert fit_schedule(shipped, 196) == (shipped, []), "the shipped corpus gives 196 batches an epoch"


def test_a_small_corpus_gets_more_epochs_a_short_warmup_and_fewer_validations():
    config, notes = fit_schedule(load_config(None), 3)  # 64 songs: 12 epochs would be 36 steps
    assert config.mle.epochs == 134 and config.mle.epochs * 3 >= config.mle.min_steps
    assert config.mle.warmup_steps == 40 and config.train.validate_every == 11
    assert "36 steps, fewer than [mle] min_steps = 400; training 134 epochs" in notes[0]
    assert config.model == load_config(None).model and config.gan == load_config(None).gan


def test_min_steps_zero_keeps_the_preset():
    config = replace(load_config(None), mle=replace(load_config(None).mle, min_steps=0))
    assert fit_schedule(config, 1) == (config, [])


def test_the_user_setting_the_schedule_turns_fitting_off(tmp_path):
    assert TrainOptions.resolve(tmp_path, tmp_path / "a").fit_schedule
    assert not TrainOptions.resolve(tmp_path, tmp_path / "b", epochs=3).fit_schedule
    assert not TrainOptions.resolve(tmp_path, tmp_path / "c", max_steps=20).fit_schedule
    assert not TrainOptions.resolve(tmp_path, tmp_path / "d", dry_run=True).fit_schedule


def test_a_fixed_schedule_whose_warmup_never_ends_is_warned_about():
    assert "longer than the phase (36 steps)" in warmup_note(load_config(None), 3)
    assert warmup_note(load_config(None), 196) is None


def test_a_model_far_bigger_than_its_data_is_named_with_the_preset_to_use():
    assert "a smaller model (--config tiny)" in model_size_note(1_000_000, 20_000)
    assert model_size_note(1_000_000, 600_000) is None


def test_cli_on_a_small_folder_trains_enough_steps_and_says_so(tmp_path, monkeypatch):
    """The default preset once ran 36 MLE steps on 64 songs, its warm-up never ending, without a word."""
    monkeypatch.setenv("MIDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    corpus = write_corpus(tmp_path / "songs", pieces=12)
    config = tmp_path / "small.toml"
    base = tiny_run_config(mle={"min_steps": 30, "warmup_steps": 20}, gan={"epochs": 0})
    config.write_text(base.to_toml(), encoding="utf-8")
    out = tmp_path / "run"
    args = ["train", "--corpus", str(corpus), "--out", str(out), "--config", str(config), "--device", "cpu"]
    result = CliRunner().invoke(main, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    assert "fewer than [mle] min_steps = 30; training" in result.output
    assert "warm-up 20 -> 3 steps" in result.output
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if r.get("phase") == "mle" and "loss" in r]
    assert steps[-1] >= 30, "MLE took at least min_steps steps"
    fitted = load_config(out / "config.toml")
    assert fitted.mle.epochs > base.mle.epochs and fitted.mle.warmup_steps == 3
    assert any("training" in note for note in records[0]["schedule"])
    validations = [r for r in records if r.get("event") == "validation"]
    assert len(validations) <= base.mle.epochs + 1, "tiny epochs do not each validate"
