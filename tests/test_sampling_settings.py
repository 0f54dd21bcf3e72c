"""`midigan set-sampling`: a checkpoint's tuned temperature and head shares, read and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from model_helpers import write_tiny_checkpoint

from midigan.cli import main
from midigan.errors import CheckpointError, ConfigError
from midigan.model.checkpoint import load_model
from midigan.model.sampling_settings import read_sampling, set_sampling
from midigan.model.stepper import HeadTemperatures


def test_set_sampling_records_the_choice_and_leaves_the_weights(tmp_path: Path) -> None:
    folder = write_tiny_checkpoint(tmp_path / "ckpt")
    weights = (folder / "model.safetensors").read_bytes()
    before = json.loads((folder / "config.json").read_text())
    assert read_sampling(folder) == {"temperature": 1.0, "pitch": 1.0, "duration": 1.0, "copy": 1.0}
    after = set_sampling(folder, temperature=0.9, pitch=1.25, duration=1.25)
    assert after == {"temperature": 0.9, "pitch": 1.25, "duration": 1.25, "copy": 1.0}
    bundle = load_model(folder)
    assert bundle.temperature == 0.9
    assert bundle.head_temperatures == HeadTemperatures(pitch=1.25, duration=1.25, copy=1.0)
    assert (folder / "model.safetensors").read_bytes() == weights
    config = json.loads((folder / "config.json").read_text())
    for meta in (config, before):  # nothing but run.sampling moved
        run = meta.pop("run", {})
        run.pop("sampling", None)
        meta["run"] = run
    assert config == before
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]  # no temp left
    set_sampling(folder, copy=0.9)  # one value at a time; the others stay
    assert read_sampling(folder)["pitch"] == 1.25 and read_sampling(folder)["copy"] == 0.9


@pytest.mark.parametrize("bad", [0, -1.0, 11.0, float("nan")])
def test_set_sampling_refuses_values_out_of_range(tmp_path: Path, bad: float) -> None:
    folder = write_tiny_checkpoint(tmp_path / "ckpt")
    text = (folder / "config.json").read_text()
    with pytest.raises(ConfigError, match="above 0 and at most 10"):
        set_sampling(folder, pitch=bad)
    with pytest.raises(ConfigError, match="unknown sampling setting 'velocity'"):
        set_sampling(folder, velocity=1.0)
    assert (folder / "config.json").read_text() == text


def test_set_sampling_cli_shows_sets_and_fails_in_one_line(tmp_path: Path) -> None:
    folder = write_tiny_checkpoint(tmp_path / "ckpt")
    shown = CliRunner().invoke(main, ["set-sampling", str(folder)])
    assert shown.exit_code == 0 and shown.output.strip() == "temperature 1 pitch 1 duration 1 copy 1"
    done = CliRunner().invoke(main, ["set-sampling", str(folder), "--pitch", "1.2", "--temperature", "0.8"])
    assert done.exit_code == 0 and done.output.strip() == "temperature 0.8 pitch 1.2 duration 1 copy 1"
    missing = CliRunner().invoke(main, ["set-sampling", str(tmp_path / "nothing"), "--pitch", "1.2"])
    assert missing.exit_code == 1 and "no such checkpoint folder" in missing.output
    assert "Traceback" not in missing.output and len(missing.output.strip().splitlines()) == 1
    zero = CliRunner().invoke(main, ["set-sampling", str(folder), "--copy", "0"])
    assert zero.exit_code == 2 and "Traceback" not in zero.output
    with pytest.raises(CheckpointError):
        read_sampling(tmp_path / "nothing")
