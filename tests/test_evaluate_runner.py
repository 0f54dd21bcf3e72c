"""`midigan evaluate` end to end on a tiny corpus made here (baselines only: no model needed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_score

from midigan.cli import main
from midigan.corpus.manifest import split_of
from midigan.errors import ConfigError
from midigan.evaluate.runner import (
    EvaluationSettings,
    bar_chords,
    conditions_for,
    corpus_pieces,
    evaluate,
    model_checkpoints,
    read_tune,
    sample_model,
)
from midigan.io.midi import write_midi
from midigan.music.score import ChordLabel
from midigan.representations.conditions import Conditions
from midigan.representations.tune import Tune

Q = 12
MAJOR = (0, 2, 4, 5, 7, 9, 11)


def fake_piece(rng: np.random.Generator, tonic: int, meter: tuple[int, int], bars: int):
    """A stepwise tune in `tonic` major with one chord a bar (I, IV, V, I ...)."""
    bar = Q * 4 * meter[0] // meter[1]
    notes, tick, degree = [], 0, 7
    while tick < bars * bar:
        length = int(min(rng.choice([6, 12, 12, 18, 24]), bars * bar - tick))
        degree = int(np.clip(degree + rng.choice([-2, -1, 1, 2]), 0, 14))
        notes.append((60 + tonic + 12 * (degree // 7) + MAJOR[degree % 7], tick, length, 80))
        tick += length
    roots = [(tonic + r) % 12 for r in (0, 5, 7, 0)]
    chords = [(i * bar, roots[i % 4], "maj") for i in range(bars)]
    return make_score(notes, meter=meter, key=(tonic, "major"), chords=chords, end_tick=bars * bar)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """14 pieces: 8 train, 6 test, in 4/4 and 6/8, several keys, 6 to 20 bars."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "midi").mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(14):
        meter = (6, 8) if i % 3 == 0 else (4, 4)
        tonic, bars = int(rng.integers(0, 12)), int(rng.integers(6, 21))
        path = f"midi/piece{i:02d}.mid"
        write_midi(fake_piece(rng, tonic, meter, bars), root / path)
        split = "test" if i % 7 in (1, 4, 6) else "train"
        entry = {"id": f"fake/{i}", "source": "fake", "style": "folk", "title": f"piece {i}",
                 "key": str(tonic), "mode": "major", "meter": f"{meter[0]}/{meter[1]}", "bars": bars,
                 "notes": 0, "split": split, "path": path}  # fmt: skip
        lines.append(json.dumps(entry))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_baselines_end_to_end(corpus: Path, tmp_path: Path) -> None:
    settings = EvaluationSettings(corpus=corpus, use_model=False, n=6, bars=4, seed=1)
    report = evaluate(settings, out_dir=tmp_path)
    assert [row.name for row in report.rows] == ["ceiling", "markov"]
    for row in report.rows:
        assert row.pieces == 6
        assert 0.0 <= row.mean_overlapped_area <= 1.0
        assert row.mean_kl_divergence >= 0.0
        assert 0.0 <= row.two_sample_accuracy <= 1.0
        assert row.statistics["scale_consistency"] > 0.9  # everything here is diatonic
    assert report.row("markov").statistics["chord_tone_ratio"] <= 1.0
    assert report.settings["reference_pieces"] == 6 and report.settings["training_pieces"] == 8
    saved = json.loads((tmp_path / "report.json").read_text())
    assert [r["name"] for r in saved["rows"]] == ["ceiling", "markov"]
    assert set(saved["rows"][0]["features"]) >= {"pitch_count", "note_length_transition_matrix"}
    for name in ("table.md", "features.png", "histograms.png", "distances.png"):
        assert (tmp_path / name).stat().st_size > 0
    table = report.format_table()
    assert table.splitlines()[1].startswith("test set") and "markov" in table


def test_same_seed_same_report(corpus: Path) -> None:
    settings = EvaluationSettings(corpus=corpus, use_model=False, n=6, bars=4, seed=2)
    first, again = evaluate(settings).to_json(), evaluate(settings).to_json()
    for report in (first, again):
        for row in report["rows"]:
            row.pop("seconds")  # wall time, the one thing allowed to differ
    assert first == again


def test_cli_prints_the_table(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    args = ["evaluate", "--no-model", "--corpus", str(corpus), "--n", "6", "--bars", "4", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "ceiling" in result.output and "markov" in result.output and "OA" in result.output
    assert (out / "report.json").is_file()


def test_no_model_evaluation_never_imports_torch(corpus: Path, tmp_path: Path) -> None:
    """Baselines only: listing the corpus and fitting the Markov model need no torch."""
    out_dir = str(tmp_path / "evaluation")
    args = ["evaluate", "--no-model", "--corpus", str(corpus), "--n", "6", "--bars", "4", "--out", out_dir]
    code = (
        "import sys; from click.testing import CliRunner; from midigan.cli import main; "
        f"result = CliRunner().invoke(main, {args!r}); print(result.exit_code, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["0", "False"], out.stdout + out.stderr


def test_cli_reports_a_missing_corpus_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", "--no-model", "--corpus", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "manifest.jsonl not found" in result.output and "Traceback" not in result.output


def test_a_plain_midi_folder_is_split_as_training_splits_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("a.mid", "sub/b.mid", "c.midi"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write_midi(fake_piece(rng, 0, (4, 4), 2), tmp_path / name)
    pieces = corpus_pieces(tmp_path)
    assert [(p.id, p.split) for p in pieces] == [(n, split_of(n)) for n in ("a.mid", "c.midi", "sub/b.mid")]
    assert len(read_tune(pieces[2])) > 0
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no MIDI files"):
        corpus_pieces(empty)


def test_settings_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--n"):
        evaluate(EvaluationSettings(corpus=tmp_path, n=2))
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        evaluate(EvaluationSettings(corpus=tmp_path, use_model=False, baselines=False))


def test_bad_manifest_line_stops_the_evaluation(corpus: Path, tmp_path: Path) -> None:
    text = (corpus / "manifest.jsonl").read_text()
    (tmp_path / "manifest.jsonl").write_text(text + "not json\n")
    with pytest.raises(ConfigError, match=r"manifest\.jsonl:15: not a JSON line"):
        evaluate(EvaluationSettings(corpus=tmp_path, use_model=False, n=6, bars=4))


def test_bar_chords_finds_the_even_split() -> None:
    labels = [ChordLabel(0, 0, "maj"), ChordLabel(24, 7, "7"), ChordLabel(48, 5, "maj")]
    assert bar_chords(labels, 0, 48) == ((0, "maj"), (7, "7"))
    assert bar_chords(labels, 48, 48) == ((5, "maj"),)
    three = [ChordLabel(0, 0, "maj"), ChordLabel(12, 2, "min")]  # a change on beat 2 of 4/4
    assert bar_chords(three, 0, 48) == ((0, "maj"), (2, "min"), (2, "min"), (2, "min"))
    assert bar_chords([], 0, 36) == ((None, "maj"),)


def test_conditions_follow_the_real_piece() -> None:
    score = make_score(
        [(67, 0, 36), (69, 36, 36)], meter=(6, 8), key=(7, "major"), chords=[(0, 7, "maj"), (36, 2, "7")]
    )
    conditions = conditions_for(Tune.from_score(score), "irish")
    assert (conditions.bars, conditions.meter, conditions.key, conditions.style) == (
        2,
        (6, 8),
        (7, "major"),
        "irish",
    )
    assert conditions.chords == (((7, "maj"),), ((2, "7"),))
    conditions.validate()
    plain = conditions_for(Tune.from_score(make_score([(60, 0, 48)])), None)
    assert plain.chords == ()


def test_model_checkpoints(tmp_path: Path) -> None:
    shipped = model_checkpoints(None)
    assert shipped[-1] == ("gan", None)
    assert [name for name, _ in shipped] in (["gan"], ["mle", "gan"])
    (tmp_path / "mle").mkdir()
    (tmp_path / "gan").mkdir()
    assert model_checkpoints(tmp_path) == [("mle", tmp_path / "mle"), ("gan", tmp_path / "gan")]
    assert model_checkpoints(tmp_path / "gan") == [("mle", tmp_path / "mle"), ("gan", tmp_path / "gan")]
    other = tmp_path / "best"
    assert model_checkpoints(other) == [("gan", other)]
    shipped_layout = tmp_path / "shipped"
    (shipped_layout / "mle").mkdir(parents=True)
    (shipped_layout / "model.safetensors").write_bytes(b"")
    assert model_checkpoints(shipped_layout) == [("mle", shipped_layout / "mle"), ("gan", shipped_layout)]


def test_nan_cells_print_as_dashes(corpus: Path) -> None:
    report = evaluate(EvaluationSettings(corpus=corpus, use_model=False, n=6, bars=4))
    first = report.format_table(markdown=True).splitlines()[2]
    assert first.startswith("| test set") and "—" in first
    assert math.isnan(report.reference["copied_percent"])


def test_bar_chords_off_the_grid_fall_back_to_eighths() -> None:
    labels = [ChordLabel(0, 0, "maj"), ChordLabel(5, 7, "maj")]  # a change 5 ticks in
    chords = bar_chords(labels, 0, 48)
    assert len(chords) == 8 and chords[0] == (0, "maj") and chords[1] == (7, "maj")


def test_a_run_folder_gets_mle_and_gan_rows(corpus: Path, tmp_path: Path) -> None:
    """An untrained tiny model, saved as a training run, goes through the same protocol."""
    pytest.importorskip("torch")
    from model_helpers import tiny_bundle

    from midigan.model.checkpoint import checkpoint_files, write_folder

    for phase, seed in (("mle", 0), ("gan", 1)):
        bundle = tiny_bundle(seed)
        write_folder(tmp_path / "run" / phase, checkpoint_files(bundle.generator, bundle.vocab, {}))
    settings = EvaluationSettings(
        corpus=corpus, model=tmp_path / "run", n=6, bars=4, baselines=False, device="cpu"
    )
    report = evaluate(settings)
    assert [row.name for row in report.rows] == ["mle", "gan"]
    for row in report.rows:
        assert row.pieces == 6
        assert 0.0 <= row.mean_overlapped_area <= 1.0
        assert row.statistics["chord_tone_ratio"] <= 1.0
    requests = [Conditions(bars=3, meter=(3, 4), key=(9, "minor"), chords=(((9, "min"),), ((4, "7"),)))] * 2
    tunes = sample_model(tmp_path / "run" / "gan", requests, settings, lambda items: items)
    for tune in tunes:
        assert (tune.tonic, tune.mode, tune.meter, tune.bar_count) == (9, "minor", (3, 4), 3)
        assert [(c.tick, c.root) for c in tune.chords] == [(0, 9), (36, 4), (72, 9)]


# ------------------------------------------------------------------ --split (issue 13, point 10)
def _plain_folder(folder: Path, pieces: int) -> Path:
    rng = np.random.default_rng(1)
    folder.mkdir()
    for i in range(pieces):
        write_midi(fake_piece(rng, int(rng.integers(0, 12)), (4, 4), 6), folder / f"song{i:02d}.mid")
    return folder


def test_cli_a_small_plain_folder_is_refused_with_the_way_out_then_split_by_shares(tmp_path: Path) -> None:
    """A 90/5/5 hash leaves a folder of 20 songs 1 test piece; `--split` gives it 6."""
    folder = _plain_folder(tmp_path / "songs", 20)
    args = ["evaluate", "--no-model", "--corpus", str(folder), "--n", "6", "--bars", "4"]
    refused = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "no")])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "with the 90/5/5 split by file name; split a small folder by shares" in refused.output
    assert not (tmp_path / "no").exists(), "nothing half-written"
    result = CliRunner().invoke(
        main, [*args, "--split", "train=0.6,valid=0.1,test=0.3", "--out", str(tmp_path / "e")]
    )
    assert result.exit_code == 0, result.output
    assert "6 test pieces of up to 4 bars (split train=0.6,valid=0.1,test=0.3)" in result.output
    assert json.loads((tmp_path / "e" / "report.json").read_text())["settings"]["split"].startswith(
        "train=0.6"
    )


def test_cli_train_and_evaluate_agree_on_a_split_by_shares(tmp_path: Path, monkeypatch) -> None:
    """The run records its --split; evaluate takes it from the model and splits the folder the same way."""
    pytest.importorskip("torch")
    from midigan.evaluate.runner import recorded_split
    from midigan.train.config import TrainOptions
    from midigan.train.dataset import fingerprint

    monkeypatch.setenv("MIDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    folder = _plain_folder(tmp_path / "songs", 12)
    run = tmp_path / "run"
    args = ["train", "--corpus", str(folder), "--out", str(run), "--config", "tiny", "--dry-run", "--quiet"]
    result = CliRunner().invoke(
        main, [*args, "--split", "train=0.5, valid=0.25, test=0.25", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((run / "run.json").read_text())["split"] == "train=0.5,valid=0.25,test=0.25"
    split = recorded_split(run)
    assert split == "train=0.5,valid=0.25,test=0.25"
    trained_on = json.loads((run / "mle" / "config.json").read_text())["corpus"]["fingerprint"]
    coverage = TrainOptions.resolve(folder, tmp_path / "x", config="tiny").config.data.coverage
    assert fingerprint(corpus_pieces(folder, split), coverage) == trained_on, "same files, same splits"
    with pytest.raises(ConfigError, match="contradicts the run"):
        TrainOptions.resolve(folder, run, resume=True, split="train=0.8,valid=0.1,test=0.1")
    assert TrainOptions.resolve(folder, run, resume=True).split == split
