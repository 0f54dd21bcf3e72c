"""Training: the config files, the corpus cache, batching, a tiny overfit, a GAN step, the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import make_score
from model_helpers import tiny_bundle, tiny_run_config, write_corpus
from safetensors.torch import load_file

import midigan
from midigan.cli import main
from midigan.composer.request import conditions_from_text
from midigan.corpus.manifest import corpus_entries
from midigan.errors import ConfigError
from midigan.model.checkpoint import load_model
from midigan.model.conditioning import Timeline
from midigan.model.config import DiscriminatorConfig
from midigan.model.discriminator import Discriminator
from midigan.model.sampler import sample
from midigan.representations.conditions import Conditions
from midigan.representations.streams import NoteStreams, PieceTimeline
from midigan.train import dataset
from midigan.train.batch import Batch
from midigan.train.config import GANConfig, RunConfig, TrainOptions, config_from_dict, load_config
from midigan.train.dataset import collate, epoch_batches, load_corpus, windows
from midigan.train.gan import GeneratorObjective, discriminator_loss, generator_loss, judge, real_window
from midigan.train.trainer import Trainer, train


# ------------------------------------------------------------------ config
def test_presets_load_and_round_trip_through_toml(tmp_path):
    config = load_config("tiny")
    assert config.model.hidden < load_config(None).model.hidden
    path = tmp_path / "resolved.toml"
    path.write_text(config.to_toml(), encoding="utf-8")
    assert load_config(path) == config


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": {"hiden": 3}}, "unknown key"),
        ({"optimiser": {}}, "unknown config section"),
        ({"model": {"hidden": "big"}}, "must be int"),
        ({"model": {"layers": True}}, "must be int"),
        ({"gan": {"label_smoothing": 0.7}}, "out of range"),
    ],
)
def test_bad_config_is_refused_with_the_key_named(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_lookback_lags_are_a_list_of_distinct_positive_bars():
    assert config_from_dict({"model": {"lookback": [1, 3]}}).model.lookback == (1, 3)
    assert config_from_dict({"model": {"lookback": []}}).model.lookback == ()
    with pytest.raises(ConfigError, match="must be a list of integers"):
        config_from_dict({"model": {"lookback": 4}})
    for bad in ([0, 1], [2, 2]):
        with pytest.raises(ConfigError, match=r"model\.lookback"):
            config_from_dict({"model": {"lookback": bad}})


def test_ints_are_accepted_for_floats_and_unknown_preset_is_named():
    assert config_from_dict({"mle": {"lr": 1}}).mle.lr == 1.0
    with pytest.raises(ConfigError, match=r"presets: .*tiny"):
        load_config("no-such-preset")
    assert RunConfig() == load_config(None), "dataclass defaults are the shipped preset"


def test_options_resolve_resume_overrides_and_dry_run(tmp_path):
    """What `midigan train` resolves: the run's own config on --resume, flags over the file, a dry run."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.toml").write_text(load_config("tiny").to_toml(), encoding="utf-8")
    resumed = TrainOptions.resolve(tmp_path, out, resume=True, epochs=7, gan_epochs=0)
    assert resumed.config.model == load_config("tiny").model, "the run folder's config.toml"
    assert (resumed.config.mle.epochs, resumed.config.gan.epochs) == (7, 0) and resumed.resume
    fresh = TrainOptions.resolve(
        tmp_path, tmp_path / "new", config="tiny", gan_epochs=0, dry_run=True, quiet=True
    )
    assert fresh.max_steps == 1 and fresh.config.gan.epochs == 1 and not fresh.progress
    assert fresh.config.train.val_samples <= 2 and fresh.config.data.valid_pieces <= 8
    assert TrainOptions.resolve(tmp_path, tmp_path / "new").config == load_config(None), (
        "no --resume: default"
    )
    again = TrainOptions.resolve(tmp_path, out, force=True)
    assert again.force and again.config == load_config(None), "--force: a fresh run in a used folder"


def test_options_resolve_takes_seed_and_config_from_the_resumed_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.toml").write_text(load_config("tiny").to_toml(), encoding="utf-8")
    (out / "run.json").write_text('{"seed": 3}\n', encoding="utf-8")
    resumed = TrainOptions.resolve(tmp_path, out, resume=True)
    assert resumed.seed == 3 and resumed.config == load_config("tiny")
    same = TrainOptions.resolve(tmp_path, out, config="tiny", seed=3, resume=True, epochs=9)
    assert same.seed == 3 and same.config.mle.epochs == 9, "repeating the run's options is fine"
    with pytest.raises(ConfigError, match=r"--seed 5 contradicts the run .*seeded 3"):
        TrainOptions.resolve(tmp_path, out, seed=5, resume=True)
    with pytest.raises(ConfigError, match=r"--config default contradicts the run .*model\.embed is 32"):
        TrainOptions.resolve(tmp_path, out, config="default", resume=True)
    with pytest.raises(ConfigError, match="choose one"):
        TrainOptions.resolve(tmp_path, out, resume=True, force=True)
    with pytest.raises(ConfigError, match="no run to resume"):
        TrainOptions.resolve(tmp_path, tmp_path / "nothing", resume=True)


# ------------------------------------------------------------------ corpus
def test_any_midi_folder_is_a_corpus_split_by_hash(tmp_path):
    folder = write_corpus(tmp_path / "mine", pieces=40)
    entries = corpus_entries(folder)
    assert len(entries) == 40 and all(e.style is None for e in entries)
    splits = {e.split for e in entries}
    assert "train" in splits and splits <= {"train", "valid", "test"}
    assert [e.split for e in entries] == [e.split for e in corpus_entries(folder)], "stable"


def test_manifest_gives_split_and_style(tmp_path):
    folder = write_corpus(tmp_path / "c", pieces=6, manifest=True)
    entries = corpus_entries(folder)
    assert [e.split for e in entries].count("valid") == 1 and {e.style for e in entries} == {"folk"}


def test_tokenized_corpus_is_cached_and_never_reparsed(tmp_path, monkeypatch):
    folder = write_corpus(tmp_path / "c", pieces=8)
    first = load_corpus(folder, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("streams-*.npz"))) == 1

    def refuse(entry):
        raise AssertionError("parsed again")

    monkeypatch.setattr(dataset, "read_melody", refuse)
    again = load_corpus(folder, cache_dir=tmp_path / "cache")
    assert np.array_equal(first.events, again.events) and again.vocab == first.vocab
    assert [t.bar_starts.tolist() for t in again.timelines] == [
        t.bar_starts.tolist() for t in first.timelines
    ]
    monkeypatch.undo()
    midigan.save(make_score([(60, 0, 48)]), folder / "tune000.mid")  # a file changes: new fingerprint
    changed = load_corpus(folder, cache_dir=tmp_path / "cache")
    assert changed.fingerprint != first.fingerprint


def test_events_and_conditions_are_those_of_the_streams(tmp_path):
    folder = write_corpus(tmp_path / "c", pieces=3, meter=(3, 4))
    corpus = load_corpus(folder, cache_dir=tmp_path / "cache")
    streams = dataset.read_streams(corpus_entries(folder)[0])
    encoded = corpus.vocab.encode(streams)
    piece = corpus.events[corpus.offsets[0] : corpus.offsets[1]]
    for column, name in enumerate(dataset.EVENT_COLUMNS):
        assert np.array_equal(piece[:, column], encoded[name]), name


def test_not_a_corpus_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no MIDI files"):
        corpus_entries(tmp_path)
    with pytest.raises(ConfigError, match="not a folder"):
        corpus_entries(tmp_path / "missing")


def test_batches_are_fixed_by_seed_and_epoch_and_sharded_evenly():
    items = [dataset.Window(i, 0, 1 + i % 7) for i in range(101)]
    a, b = epoch_batches(items, 8, seed=1, epoch=3), epoch_batches(items, 8, seed=1, epoch=3)
    assert a == b and a != epoch_batches(items, 8, seed=1, epoch=4)
    shards = [epoch_batches(items, 8, 1, 3, rank=r, world=2) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == len(a) // 2
    seen = [w for shard in shards for batch in shard for w in batch]
    assert len(seen) == len(set(seen))


def test_windows_continue_from_the_real_previous_event(tmp_path):
    corpus = load_corpus(write_corpus(tmp_path / "c", pieces=2, bars=8), cache_dir=tmp_path / "cache")
    cut = windows(corpus, np.array([0]), seq_len=5)
    assert len(cut) >= 2 and cut[1].start == cut[0].stop
    batch = collate(corpus, cut[:2], bos=(90, 91, 92))
    assert batch.prev[0].tolist() == [90, 91, 92]
    assert batch.prev[1].tolist() == corpus.events[cut[1].start - 1, :3].tolist()
    assert batch.start[1] == corpus.onset[cut[1].start] > 0


# ------------------------------------------------------------------ learning
def test_tiny_overfit_reproduces_the_training_melodies(tmp_path):
    """Loss falls, and greedy samples on the training pieces' conditions are those pieces."""
    folder = tmp_path / "three"
    folder.mkdir()
    melodies = {
        2: [(60, 0, 12), (64, 12, 12), (67, 24, 24), (72, 48, 24), (67, 72, 24)],
        3: [(67, 0, 24), (65, 24, 12), (64, 36, 12), (62, 48, 48), (60, 96, 48)],
        4: [
            (72, 0, 12),
            (71, 12, 12),
            (69, 24, 24),
            (67, 48, 48),
            (65, 96, 48),
            (64, 144, 24),
            (60, 168, 24),
        ],
    }
    rows = []
    for bars, notes in melodies.items():
        midigan.save(make_score(notes, end_tick=bars * 48), folder / f"m{bars}.mid")
        rows.append({"id": f"m{bars}", "path": f"m{bars}.mid", "split": "train", "style": "folk"})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tiny_run_config(
        model={"hidden": 64, "embed": 32, "z_dim": 2},
        data={"batch_size": 3},
        mle={"epochs": 150, "lr": 0.01, "warmup_steps": 1},
        gan={"epochs": 0},
        train={"log_every": 10, "checkpoint_every": 1000},
    )
    out = tmp_path / "run"
    train(
        TrainOptions(folder, out, config, device="cpu", seed=0, progress=False, cache_dir=tmp_path / "cache")
    )
    losses = [
        r["loss"] for r in map(json.loads, (out / "train_log.jsonl").read_text().splitlines()) if "loss" in r
    ]
    assert losses[-1] < 0.1 * losses[0]
    bundle = load_model(out / "mle")
    requests = [Conditions(bars) for bars in melodies]
    for (bars, notes), piece in zip(
        melodies.items(), sample(bundle, requests, temperature=0, seed=0), strict=True
    ):
        got = [(n.pitch, n.onset, n.duration) for n in piece.to_score().tracks[0].notes]
        assert got == notes, f"{bars}-bar melody"


def test_gan_steps_move_generated_features_toward_the_real_ones():
    """On a toy distribution (one fixed two-note motif), feature matching pulls the generator to it."""
    torch.manual_seed(0)
    bundle = tiny_bundle(seed=0, lookback=())
    gen, cfg = bundle.generator.train(), bundle.config
    critic = Discriminator(DiscriminatorConfig(embed=16, hidden=16, dropout=0.0), cfg)
    B, T = 16, 12
    real_pitch = torch.tensor([6, 10] * (T // 2)).expand(B, T)  # pitch ids of G4, B4
    timeline = Timeline.stack([PieceTimeline.of(Conditions(4))] * B)
    batch = Batch(
        pitch=real_pitch,
        duration=torch.full((B, T), 7),  # 12 ticks: quarter notes
        velocity=torch.full((B, T), 5),
        conditions=timeline.at(torch.arange(T).expand(B, T) * 12),
        mask=torch.ones(B, T, dtype=torch.bool),
        prev=torch.tensor([cfg.n_pitch, cfg.n_duration, cfg.n_velocity]).expand(B, 3),
        mode=torch.zeros(B, dtype=torch.int64),
        style=torch.zeros(B, dtype=torch.int64),
        start=torch.zeros(B, dtype=torch.int64),
    )
    sizes = (cfg.n_pitch, cfg.n_duration, cfg.n_velocity)
    objective = GeneratorObjective(gen)
    gan = GANConfig(lambda_mle=0.0, lambda_adv=0.1, lambda_fm=1.0)
    opt_g = torch.optim.Adam(gen.parameters(), 1e-2, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), 1e-2, betas=(0.5, 0.999))
    real = real_window(batch, sizes, 0, T)
    target = real.streams[0].mean((0, 1))

    def distance(out) -> float:  # L1 gap of the pitch histograms
        return float((out.generated.streams[0].detach().mean((0, 1)) - target).abs().sum())

    before = []
    for _ in range(40):
        out = objective(batch, timeline, 0, T, 1.0)
        before.append(distance(out))
        real_logits, fake_logits, _, _ = judge(critic, real, out.generated.detach(), batch, 0.0)
        opt_d.zero_grad()
        discriminator_loss(real_logits, fake_logits, 0.1).backward()
        opt_d.step()
        _, fake_logits, real_features, fake_features = judge(critic, real, out.generated, batch, 0.0)
        loss, _ = generator_loss(out, fake_logits, real_features, fake_features, gan)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
    assert np.mean(before[-5:]) < 0.25 * np.mean(before[:5])


# ------------------------------------------------------------------ CLI
def test_cli_dry_run_writes_both_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("MIDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    corpus = write_corpus(tmp_path / "c", pieces=8, manifest=True)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["train", "--corpus", str(corpus), "--out", str(out), "--config", "tiny", "--dry-run", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    assert (out / "mle" / "model.safetensors").exists() and (out / "gan" / "model.safetensors").exists()
    steps = [r for r in map(json.loads, (out / "train_log.jsonl").read_text().splitlines()) if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert "[model]" in (out / "config.toml").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "cuda"], "no CUDA device" if not torch.cuda.is_available() else None),
        (["--device", "tpu"], "use auto, cpu, cuda"),
        (["--config", "nonexistent-preset"], "no config file or preset"),
    ],
)
def test_cli_errors_are_one_plain_line(tmp_path, monkeypatch, args, message):
    if message is None:
        pytest.skip("CUDA present")
    monkeypatch.setenv("MIDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    corpus = write_corpus(tmp_path / "c", pieces=4)
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[model]\nhiden = 3\n")
    result = CliRunner().invoke(main, ["train", "--corpus", str(corpus), "--out", str(tmp_path / "r"), *args])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(
        main, ["train", "--corpus", str(corpus), "--out", str(tmp_path / "r"), "--config", str(bad_config)]
    )
    assert result.exit_code == 1 and "unknown key(s) hiden" in result.output


def test_streams_roundtrip_of_sampled_piece_is_a_score(tmp_path):
    piece = sample(tiny_bundle(), [conditions_from_text(2, meter="2/4", key="Bb")], seed=3)[0]
    assert isinstance(piece, NoteStreams)
    score = piece.to_score()
    midigan.save(score, tmp_path / "x.mid")
    assert Path(tmp_path / "x.mid").stat().st_size > 0


# ------------------------------------------------------------------ the run folder remembers (issue 12)
@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> dict:
    """A corpus, a config with frequent checkpoints, and the arguments of a seeded CLI run."""
    work = tmp_path_factory.mktemp("small_run")
    corpus = write_corpus(work / "corpus", pieces=12, manifest=True)
    config = work / "frequent.toml"
    config.write_text(
        tiny_run_config(train={"checkpoint_every": 2, "log_every": 2}).to_toml(), encoding="utf-8"
    )
    args = ["--corpus", str(corpus), "--config", str(config), "--seed", "3", "--epochs", "10"]
    return {"corpus": corpus, "cache": work / "cache", "args": args}


def _train(small_run: dict, monkeypatch, *args: str):
    monkeypatch.setenv("MIDIGAN_CACHE_DIR", str(small_run["cache"]))
    return CliRunner().invoke(main, ["train", *args, "--device", "cpu", "--quiet"])


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_cli_resume_takes_the_runs_seed_and_config_and_ends_like_an_unbroken_run(
    small_run, tmp_path, monkeypatch
):
    """`--resume` without `--seed` once continued with seed 0: other batches, other weights."""
    args = [*small_run["args"], "--max-steps", "6", "--gan-epochs", "0"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert _train(small_run, monkeypatch, "--out", str(straight), *args).exit_code == 0
    step = Trainer._step

    def interrupted(self, *a, **k):
        if self.position.step == 4:
            raise KeyboardInterrupt
        step(self, *a, **k)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_step", interrupted)
        result = _train(small_run, monkeypatch, "--out", str(killed), *args)
    assert result.exit_code == 130, result.output
    resume = ["--out", str(killed), "--corpus", str(small_run["corpus"]), "--resume", "--max-steps", "6"]
    result = _train(small_run, monkeypatch, *resume)
    assert result.exit_code == 0, result.output
    starts = [
        r
        for r in map(json.loads, (killed / "train_log.jsonl").read_text().splitlines())
        if r.get("event") == "start"
    ]
    assert [r["seed"] for r in starts] == [3, 3] and starts[1]["resumed_from"].endswith("mle")
    a, b = (
        load_file(str(straight / "mle" / "model.safetensors")),
        load_file(str(killed / "mle" / "model.safetensors")),
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ"


@pytest.fixture
def used_folder(small_run, tmp_path_factory, monkeypatch) -> Path:
    """A finished run (both phases) in a folder that also holds a file of the user's."""
    out = tmp_path_factory.mktemp("used") / "run"
    result = _train(small_run, monkeypatch, "--out", str(out), *small_run["args"], "--max-steps", "2")
    assert result.exit_code == 0, result.output
    (out / "notes.txt").write_text("mine")
    return out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--resume", "--seed", "5"], r"--seed 5 contradicts the run in .* \(seeded 3\)"),
        (["--resume", "--config", "tiny"], r"contradicts the run in .*train\.log_every is 2 in the run, 5"),
        (["--resume", "--force"], "choose one"),
        (
            [],
            r"is not empty \(an earlier run\?\); continue that run with --resume, or start over .*--force",
        ),
    ],
)
def test_cli_refuses_a_run_that_would_contradict_or_mix_with_the_folders(
    small_run, used_folder, monkeypatch, extra, message
):
    """`--resume --config other`, `--resume --seed N` and a plain re-run were once accepted silently."""
    before = _files(used_folder)
    args = ["--out", str(used_folder), "--corpus", str(small_run["corpus"]), *extra]
    if not extra:
        args = ["--out", str(used_folder), *small_run["args"], "--max-steps", "2"]
    result = _train(small_run, monkeypatch, *args)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and "Traceback" not in result.output, result.output
    assert re.search(message, lines[0]), lines[0]
    assert _files(used_folder) == before, "nothing written"


def test_cli_force_starts_over_and_keeps_the_users_files(small_run, used_folder, monkeypatch):
    args = ["--out", str(used_folder), *small_run["args"], "--seed", "4", "--max-steps", "2"]
    result = _train(small_run, monkeypatch, *args, "--gan-epochs", "0", "--force")
    assert result.exit_code == 0, result.output
    assert not (used_folder / "gan").exists(), "the earlier run's GAN checkpoint is gone"
    assert (used_folder / "notes.txt").read_text() == "mine"
    log = [json.loads(line) for line in (used_folder / "train_log.jsonl").read_text().splitlines()]
    assert [r["seed"] for r in log if r.get("event") == "start"] == [4], "one run's log"
    assert json.loads((used_folder / "run.json").read_text()) == {"seed": 4}
    assert json.loads((used_folder / "mle" / "config.json").read_text())["seed"] == 4
