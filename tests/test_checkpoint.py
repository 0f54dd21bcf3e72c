"""Checkpoints: safetensors + JSON, atomic writes, exact resume, and refusing anything else."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from model_helpers import tiny_run_config, write_corpus, write_tiny_checkpoint
from safetensors.torch import load_file, save_file

import midigan.model.checkpoint as checkpoint_module
from midigan.cli import main
from midigan.composer.request import conditions_from_text
from midigan.errors import CheckpointError, TrainingError
from midigan.model.checkpoint import PRETRAINED_DIR, load_model, recover_folder, write_folder
from midigan.model.sampler import sample
from midigan.representations.conditions import Conditions
from midigan.train.config import TrainOptions
from midigan.train.trainer import Trainer, train


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"), pieces=18, bars=4, manifest=True)


def run(corpus: Path, out: Path, cache: Path, **kwargs) -> dict:
    config = kwargs.pop("config", None) or tiny_run_config(
        mle={"epochs": 50}, gan={"epochs": 1, "max_batches": 6}, train={"checkpoint_every": 2, "log_every": 2}
    )
    options = TrainOptions(
        corpus, out, config, device="cpu", seed=5, progress=False, cache_dir=cache, **kwargs
    )
    return train(options)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    run(corpus, out, out / "cache", max_steps=4)
    return out


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_run_folder_layout(trained):
    assert (trained / "config.toml").exists() and (trained / "train_log.jsonl").exists()
    for phase in ("mle", "gan"):
        names = sorted(p.name for p in (trained / phase).iterdir())
        assert names == [
            "config.json", "harmony.json", "harmony.safetensors", "model.safetensors", "trainer.json",
            "trainer.safetensors",
        ]  # fmt: skip
    meta = json.loads((trained / "gan" / "config.json").read_text())
    assert meta["format"] == "midigan-checkpoint" and meta["phase"] == "gan"
    assert len(meta["corpus"]["fingerprint"]) == 64 and "nll" in meta["metrics"]
    assert meta["run"]["model"]["hidden"] == 48
    assert not list(trained.glob(".*.tmp")), "no temporary folder left behind"


def test_load_model_gives_back_the_saved_weights(trained):
    bundle = load_model(trained / "mle")
    for name, tensor in weights(trained / "mle").items():
        assert torch.equal(bundle.generator.state_dict()[name], tensor)
    assert not bundle.generator.training
    assert load_model(trained).meta["phase"] == "gan", "a run folder loads its GAN model"
    assert load_model(trained / "gan" / "model.safetensors").meta["phase"] == "gan"
    piece = sample(bundle, [Conditions(2)], seed=0)[0]
    assert int(piece.duration.sum()) == 96


@pytest.mark.parametrize("stop_at", [2, 6])  # killed in the MLE phase / in the GAN phase
def test_resume_continues_exactly(corpus, tmp_path, stop_at):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run(corpus, straight, tmp_path / "cache", max_steps=4)
    run(corpus, killed, tmp_path / "cache", max_steps=4, stop_at_step=stop_at)
    phase = "mle" if stop_at <= 4 else "gan"
    state = json.loads((killed / phase / "trainer.json").read_text())
    assert state["position"]["step"] == stop_at and not state["position"]["phase_done"]
    run(corpus, killed, tmp_path / "cache", max_steps=4, resume=True)
    for phase in ("mle", "gan"):
        a, b = weights(straight / phase), weights(killed / phase)
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), f"{phase}: {name} differs after resume"
    log = [json.loads(line) for line in (killed / "train_log.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "resume" for r in log)


def test_resume_without_checkpoint_is_refused(corpus, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint to resume"):
        run(corpus, tmp_path / "empty", tmp_path / "cache", max_steps=2, resume=True)


def test_divergence_stops_with_last_good_checkpoint_intact(corpus, tmp_path, monkeypatch):
    original = Trainer._mle_step

    def poisoned(self, batch, opt, accum):
        if self.position.phase_step == 4:
            with torch.no_grad():
                self.generator.pitch_head.weight.fill_(float("nan"))
        original(self, batch, opt, accum)

    monkeypatch.setattr(Trainer, "_mle_step", poisoned)
    out = tmp_path / "nan"
    with pytest.raises(TrainingError, match=r"diverged at step 6.*last good checkpoint is .*mle"):
        run(corpus, out, tmp_path / "cache", max_steps=20)
    meta = json.loads((out / "mle" / "config.json").read_text())
    assert meta["step"] == 4
    assert all(torch.isfinite(t).all() for t in weights(out / "mle").values())


# ------------------------------------------------------------------ refusals
@pytest.fixture
def checkpoint(trained, tmp_path) -> Path:
    copy = tmp_path / "ckpt"
    shutil.copytree(trained / "mle", copy)
    return copy


def test_missing_files_are_refused(checkpoint):
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"no model\.safetensors"):
        load_model(checkpoint)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(checkpoint / "nowhere")


def test_corrupted_weights_are_refused(checkpoint):
    data = (checkpoint / "model.safetensors").read_bytes()
    (checkpoint / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted or not a safetensors"):
        load_model(checkpoint)
    (checkpoint / "model.safetensors").write_bytes(b"\x80\x04pickle-ish bytes")
    with pytest.raises(CheckpointError, match="corrupted or not a safetensors"):
        load_model(checkpoint)


def test_weights_that_do_not_match_the_config_are_refused(checkpoint):
    tensors = weights(checkpoint)
    tensors["pitch_head.weight"] = torch.zeros(3, 3)
    save_file(tensors, str(checkpoint / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"pitch_head\.weight has shape \(3, 3\)"):
        load_model(checkpoint)
    del tensors["pitch_head.weight"]
    save_file(tensors, str(checkpoint / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing pitch_head\.weight"):
        load_model(checkpoint)


def test_config_from_another_model_is_refused(checkpoint):
    meta = json.loads((checkpoint / "config.json").read_text())
    meta["model"]["hidden"] = 64
    (checkpoint / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="different models"):
        load_model(checkpoint)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(format_version=99), "format version 99"),
        (lambda m: m.update(format="something-else"), "not a midigan checkpoint"),
        (lambda m: m.pop("vocab"), "no 'vocab' section"),
        (lambda m: m["model"].update(colour=1), "invalid model or vocabulary"),
    ],
)
def test_unreadable_config_is_refused(checkpoint, edit, message):
    meta = json.loads((checkpoint / "config.json").read_text())
    edit(meta)
    (checkpoint / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=message):
        load_model(checkpoint)


def test_tuned_temperature_is_read_from_the_config_and_used_by_default(checkpoint):
    meta = json.loads((checkpoint / "config.json").read_text())
    assert load_model(checkpoint).temperature == meta["run"]["sampling"]["temperature"]
    del meta["run"]["sampling"]
    (checkpoint / "config.json").write_text(json.dumps(meta))
    assert load_model(checkpoint).temperature == 1.0, "checkpoints older than [sampling] keep 1.0"
    meta["run"]["sampling"] = {"temperature": 0.5}
    (checkpoint / "config.json").write_text(json.dumps(meta))
    bundle = load_model(checkpoint)
    assert bundle.temperature == 0.5
    request = [conditions_from_text(4, meter="4/4", key="C", chords="C G")] * 4
    implicit = sample(bundle, request, seed=3)
    explicit = sample(bundle, request, seed=3, temperature=0.5)
    plain = sample(bundle, request, seed=3, temperature=1.0)
    assert all((a.pitch == b.pitch).all() for a, b in zip(implicit, explicit, strict=True))
    assert any(len(a) != len(b) or (a.pitch != b.pitch).any() for a, b in zip(implicit, plain, strict=True))


def test_config_that_is_not_json_is_refused(checkpoint):
    (checkpoint / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(checkpoint)


def test_a_pickle_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"\x80\x04")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_model(path)


def test_shipped_model_and_its_mle_baseline_load_and_sample():
    bundle = load_model(None)
    assert bundle.meta["format"] == "midigan-checkpoint" and bundle.meta["phase"] == "gan"
    piece = sample(bundle, [conditions_from_text(4, meter="3/4", key="G", chords="G D")], seed=1)[0]
    assert int(piece.duration.sum()) == 4 * 36
    baseline = load_model(PRETRAINED_DIR / "mle")
    assert baseline.meta["phase"] == "mle"
    assert baseline.meta["corpus"]["fingerprint"] == bundle.meta["corpus"]["fingerprint"]
    assert baseline.vocab == bundle.vocab


# ------------------------------------------------------------------ atomic folders
def test_write_folder_replaces_atomically_and_recovers_an_interrupted_swap(tmp_path):
    target = tmp_path / "ckpt"
    write_folder(target, {"a.txt": b"one"})
    write_folder(target, {"a.txt": b"two", "b.txt": b"x"})
    assert (target / "a.txt").read_bytes() == b"two" and (target / "b.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    # a kill between "old aside" and "new in" leaves only the .old twin
    target.rename(tmp_path / ".ckpt.old")
    recover_folder(target)
    assert (target / "a.txt").read_bytes() == b"two"


def test_a_killed_writes_temp_folder_is_swept_by_the_next_write_and_nothing_else(tmp_path):
    """Issue 12, point 8: kills mid-write left `.mle.*.tmp` folders (some with a 0-byte
    model.safetensors) that were never removed."""
    target = tmp_path / "mle"
    write_folder(target, {"a.txt": b"one"})
    killed = tmp_path / ".mle.k2x9abqz.tmp"
    killed.mkdir()
    (killed / "model.safetensors").write_bytes(b"")
    fresh = tmp_path / ".mle.live0001.tmp"  # a write still going on: touched just now
    fresh.mkdir()
    kept = [tmp_path / ".gan.k2x9abqz.tmp", tmp_path / ".mle.short.tmp", tmp_path / "mle.k2x9abqz.tmp"]
    for folder in kept:
        folder.mkdir()
    link = tmp_path / ".mle.linked00.tmp"
    link.symlink_to(tmp_path / ".mle.short.tmp")
    an_hour_ago = time.time() - 3600
    for path in [killed, *kept]:
        os.utime(path, (an_hour_ago, an_hour_ago))
    os.utime(link, (an_hour_ago, an_hour_ago), follow_symlinks=False)
    write_folder(target, {"a.txt": b"two"})
    assert not killed.exists()
    assert fresh.is_dir() and all(folder.is_dir() for folder in kept) and link.is_symlink()
    # on resume the run owns its folder: the sweep does not wait, for either phase's name
    recover_folder(target)
    recover_folder(tmp_path / "gan")
    assert not fresh.exists() and not kept[0].exists()
    assert kept[1].is_dir() and kept[2].is_dir() and link.is_symlink()


# ------------------------------------------------------------------ hostile checkpoints (issue 12)
class _Built(Exception):
    """Raised if a test's checkpoint gets as far as building a network."""


def _compose_with(model: Path, out: Path):
    return CliRunner().invoke(main, ["compose", "--bars", "2", "--model", str(model), "-o", str(out)])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"hidden": 40000}, r"model\.hidden = 40000 is out of range"),
        ({"hidden": 8000}, r"model\.hidden = 8000 is out of range"),
        ({"hidden": 64}, r"lstm\.weight_ih_l0 has shape \(128, 24\), config\.json implies \(256, 24\)"),
        ({"layers": 20000}, r"model\.layers = 20000 is out of range"),
        ({"layers": 3}, r"missing lstm\.bias_hh_l2"),
        ({"embed": 4096}, r"pitch_in\.weight has shape \(32, 24\), config\.json implies \(32, 4096\)"),
        ({"lookback": [0, -1, 2, 2]}, r"model\.lookback = \[0, -1, 2, 2\] is out of range"),
        ({"lookback": [1, 2]}, r"lookback_in\.weight has shape"),
        ({"lookback": "1,2"}, "must be a list of integers"),
        ({"n_chord": 500}, r"model\.n_chord = 500, but the vocabulary and condition ids give 133"),
        ({"n_pitch": 10**12}, r"model\.n_pitch = 1000000000000 is out of range"),
        ({"dropout": 2.0}, r"model\.dropout = 2\.0 is out of range"),
        ({"n_bar_index": 20}, r"model\.n_bar_index = 20, but the vocabulary and condition ids give 32"),
        ({"n_bar_index": 32}, r"missing bar_in\.weight"),
    ],
)
def test_sizes_in_config_json_are_checked_before_anything_is_built(tmp_path, monkeypatch, edit, message):
    """A tampered config.json once allocated 25 GB, or built 20,000 layers for 70 s, before refusing."""
    folder = write_tiny_checkpoint(tmp_path / "ckpt")
    meta = json.loads((folder / "config.json").read_text())
    meta["model"].update(edit)
    (folder / "config.json").write_text(json.dumps(meta))

    def build(*args, **kwargs):
        raise _Built("a network was built from an unchecked config")

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module, "build_generator", build)
        start = time.perf_counter()
        with pytest.raises(CheckpointError, match=message):
            load_model(folder)
        assert time.perf_counter() - start < 2.0  # bounded work (was: 70 s), not a speed figure
    result = _compose_with(folder, tmp_path / "x.mid")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.mid").exists()


def test_parameter_shapes_are_those_the_generator_saves():
    """`parameter_shapes` (the header check's expectation) must track the real network."""
    from model_helpers import tiny_bundle

    from midigan.model.generator import parameter_shapes

    for overrides in (
        {},
        {"lookback": ()},
        {"z_dim": 0, "step_noise": 5, "layers": 3},
        {"lookback": (3,)},
        {"n_bar_index": 32},
    ):
        bundle = tiny_bundle(**overrides)
        real = {name: tuple(t.shape) for name, t in bundle.generator.state_dict().items()}
        assert parameter_shapes(bundle.config) == real, overrides


def test_a_form_table_of_the_wrong_size_is_one_line_and_builds_nothing(tmp_path, monkeypatch):
    folder = write_tiny_checkpoint(tmp_path / "ckpt", n_bar_index=32)
    tensors = weights(folder)
    assert tuple(tensors["bar_in.weight"].shape) == (32, 24)
    tensors["bar_in.weight"] = torch.zeros(20, 24)
    save_file(tensors, str(folder / "model.safetensors"))
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module, "build_generator", lambda *a, **k: pytest.fail("built"))
        with pytest.raises(
            CheckpointError, match=r"bar_in\.weight has shape \(20, 24\), config\.json implies \(32, 24\)"
        ):
            load_model(folder)
    result = _compose_with(folder, tmp_path / "x.mid")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "bar_in.weight" in result.output and "Traceback" not in result.output


def test_a_config_from_before_the_form_table_loads_without_one(tmp_path):
    """Checkpoints written before `n_bar_index` existed (the previous shipped one among them) have
    no form table; the shipped model now has one."""
    folder = write_tiny_checkpoint(tmp_path / "ckpt")
    meta = json.loads((folder / "config.json").read_text())
    del meta["model"]["n_bar_index"]
    (folder / "config.json").write_text(json.dumps(meta))
    bundle = load_model(folder)
    assert bundle.config.n_bar_index == 0 and bundle.generator.bar_in is None
    assert json.loads((PRETRAINED_DIR / "config.json").read_text())["model"]["n_bar_index"] == 32
    assert load_model(PRETRAINED_DIR).generator.bar_in.weight.shape[0] == 32
    (piece,) = sample(bundle, [Conditions(2)], seed=3)
    assert piece.total_ticks() == 96


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_inf_weights_are_refused(tmp_path, value):
    """NaN weights once sampled an empty melody and compose exited 0."""
    folder = write_tiny_checkpoint(tmp_path / "ckpt")
    tensors = weights(folder)
    tensors["dv_head.weight"][3, 1] = value
    save_file(tensors, str(folder / "model.safetensors"))
    kind = "NaN" if value != value else "Inf"
    with pytest.raises(CheckpointError, match=rf"tensor dv_head\.weight holds {kind} values"):
        load_model(folder)
    result = _compose_with(folder, tmp_path / "x.mid")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert f"holds {kind}" in result.output and not (tmp_path / "x.mid").exists()


# ------------------------------------------------------------------ damaged state on --resume (issue 12)
@pytest.fixture(scope="module")
def killed_in_gan(corpus, tmp_path_factory) -> tuple[Path, Path]:
    """A run folder killed during the GAN phase (so gan/ holds optimizers of both networks), and
    the cache its corpus was tokenized into."""
    out = tmp_path_factory.mktemp("killed")
    cache = tmp_path_factory.mktemp("cache")
    run(corpus, out, cache, max_steps=4, stop_at_step=6)
    assert not json.loads((out / "gan" / "trainer.json").read_text())["position"]["phase_done"]
    return out, cache


def _edit_json(name: str, change):
    def edit(run_folder: Path) -> None:
        path = run_folder / name
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return edit


def _edit_tensors(name: str, change):
    def edit(run_folder: Path) -> None:
        path = run_folder / name
        tensors = load_file(str(path))
        change(tensors)
        save_file(tensors, str(path))

    return edit


def _write(name: str, text: str):
    return lambda run_folder: (run_folder / name).write_text(text)


DAMAGE = {
    "intact": (lambda run_folder: None, None),
    "config.json not JSON": (_write("gan/config.json", "{not json"), r"gan/config\.json: not valid JSON"),
    "trainer.json not JSON": (_write("gan/trainer.json", "[1,"), r"gan/trainer\.json: not valid JSON"),
    "trainer.json without position": (
        _edit_json("gan/trainer.json", lambda d: d.pop("position")),
        r"trainer\.json: missing position",
    ),
    "trainer.json without optimizers": (
        _edit_json("gan/trainer.json", lambda d: d.pop("optimizers")),
        r"trainer\.json: missing optimizers",
    ),
    "unknown key": (
        _edit_json("gan/trainer.json", lambda d: d.update(colour="red")),
        r"trainer\.json: unknown key\(s\) colour",
    ),
    "unknown position key": (
        _edit_json("gan/trainer.json", lambda d: d["position"].update(lap=1)),
        r"position has unknown key\(s\) lap",
    ),
    "step as a string": (
        _edit_json("gan/trainer.json", lambda d: d["position"].update(step="6")),
        r"position\.step must be a count >= 0 \(got '6'\)",
    ),
    "optimizer moment of the wrong shape": (
        _edit_tensors(
            "gan/trainer.safetensors", lambda t: t.update({"opt_d.state.0.exp_avg": torch.zeros(3)})
        ),
        r"opt_d\.state\.0\.exp_avg has shape \(3,\)",
    ),
    "learning rate as a string": (
        _edit_json("gan/trainer.json", lambda d: d["optimizers"]["g"]["param_groups"][0].update(lr="fast")),
        r"group value lr = 'fast' does not fit the optimizer",
    ),
    "RNG state of the wrong size": (
        _edit_tensors("gan/trainer.safetensors", lambda t: t.update({"rng.cpu.0": t["rng.cpu.0"][:100]})),
        r"RNG state rng\.cpu\.0 is torch\.uint8 \(100,\)",
    ),
    "NaN generator weights": (
        _edit_tensors("gan/model.safetensors", lambda t: t["pitch_head.bias"].fill_(float("nan"))),
        r"tensor pitch_head\.bias holds NaN",
    ),
    "config.toml not TOML": (_write("config.toml", "[model\n"), r"config\.toml: not valid TOML"),
    "run.json without a seed": (_write("run.json", "{}"), r"run\.json: no integer 'seed'"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_cli_resume_of_damaged_state_is_one_line_and_writes_nothing(
    corpus, killed_in_gan, tmp_path, monkeypatch, case
):
    """Each of these once raised a traceback (or failed mid-training) on `midigan train --resume`."""
    original, cache = killed_in_gan
    run_folder = tmp_path / "run"
    shutil.copytree(original, run_folder)
    edit, message = DAMAGE[case]
    edit(run_folder)
    before = {p: p.read_bytes() for p in run_folder.rglob("*") if p.is_file()}
    monkeypatch.setenv("MIDIGAN_CACHE_DIR", str(cache))
    args = ["train", "--corpus", str(corpus), "--out", str(run_folder), "--resume", "--max-steps", "4"]
    result = CliRunner().invoke(main, [*args, "--device", "cpu", "--quiet"])
    if message is None:  # the control: the same copy, undamaged, resumes
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert re.search(message, lines[0]), lines[0]
    after = {p: p.read_bytes() for p in run_folder.rglob("*") if p.is_file()}
    assert after == before, "a refused resume leaves the run folder as it was"
