"""Checkpoints: safetensors weights plus a JSON config, written atomically, loaded warily.

A checkpoint is a folder::

    model.safetensors   generator weights (float32), nothing executable
    config.json         format + version, model hyper-parameters, the stream
                        vocabulary, corpus fingerprint, metrics, run config
    trainer.safetensors optimizer moments, discriminator weights, RNG states  (training only)
    trainer.json        step, epoch, phase, optimizer hyper-parameters          (training only)
    harmony.safetensors the chord-progression model, with harmony.json  (optional)
    dynamics/           the velocity model (dynamics.safetensors + dynamics.json)  (optional)

Never pickle: a model file from the internet must not be able to run code. The
folder is written under a temporary name and swapped in by renames, so a kill
mid-write leaves the previous checkpoint whole (and :func:`recover_folder`
completes an interrupted swap). Loading checks every tensor name and shape
against the config before building anything, and refuses NaN or Inf weights.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import stat
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from midigan.errors import CheckpointError, ConfigError
from midigan.model.config import ModelConfig, config_json_bytes, model_config_from_dict
from midigan.model.generator import Generator, parameter_shapes
from midigan.model.harmony import HarmonyModel, load_harmony
from midigan.model.stepper import FusedStepper, HeadTemperatures
from midigan.representations.ids import (
    MAX_BAR_INDEX,
    MAX_BARS_REMAINING,
    MAX_POSITION,
    METER_NAMES,
    N_CHORDS,
    STYLES,
)
from midigan.representations.stream_vocab import StreamVocab

if TYPE_CHECKING:
    from midigan.model.dynamics import DynamicsModel

FORMAT = "midigan-checkpoint"
FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TRAINER_FILE = "trainer.safetensors"
TRAINER_META = "trainer.json"
PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
_STEPPER_CACHE = 8  # fused steppers kept per bundle (one per temperature / device / thread count)


@dataclass
class ModelBundle:
    """A loaded generator with everything needed to sample from it.

    Attributes:
        generator: the network, in eval mode, on `device`.
        vocab: the stream vocabulary that maps ids to pitches, ticks and velocities.
        config: the generator's hyper-parameters and vocabulary sizes.
        meta: the whole config.json (corpus fingerprint, metrics, run config...).
        device: where the generator lives.
        harmony: the chord-progression model saved beside it (harmony.safetensors), or
            None: compose then plays the hand-written progressions.
        dynamics: the velocity model in the `dynamics/` folder beside it
            (:mod:`midigan.model.dynamics`), or None: compose keeps the generator's velocities.
    """

    generator: Generator
    vocab: StreamVocab
    config: ModelConfig
    meta: dict[str, Any] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    harmony: HarmonyModel | None = None
    dynamics: DynamicsModel | None = None
    _steppers: dict[tuple[Any, ...], FusedStepper] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def stepper(self, temperature: float) -> FusedStepper:
        """The generator's :class:`FusedStepper` at `temperature`, built once and reused.

        Building one costs tens of milliseconds (every embedding table multiplied
        through the first layer), more than sampling a short piece. The cache key
        holds everything the fused weights are computed from: temperature, the head shares, the
        generator's device and dtype, the CPU thread count (it can change the
        rounding of the products) and the identity and in-place version of every
        weight, so moving, retraining or swapping the generator rebuilds it and a
        cached stepper gives bit for bit what a fresh one would.
        """
        g = self.generator
        # In-place edits (optimizer steps, load_state_dict) bump a tensor's version;
        # inference tensors keep none (they can only change under inference_mode).
        versions = tuple(
            (id(w), -1 if w.is_inference() else w._version) for w in (*g.parameters(), *g.buffers())
        )
        device = g.pitch_head.weight.device
        threads = torch.get_num_threads() if device.type == "cpu" else 0
        heads = self.head_temperatures
        key = (float(temperature), heads, str(device), g.pitch_head.weight.dtype, threads, id(g), versions)
        found = self._steppers.get(key)
        if found is None:
            if len(self._steppers) >= _STEPPER_CACHE:
                self._steppers.clear()
            found = self._steppers[key] = FusedStepper(g, temperature, heads)
        return found

    @property
    def head_temperatures(self) -> HeadTemperatures:
        """Each head's share of the temperature, tuned with the model (config.json
        `run.sampling`: `pitch`, `duration`, `copy`); all 1.0 where the config has none."""
        found = sampling_section(self.meta)
        return HeadTemperatures(**{k: found[k] for k in ("pitch", "duration", "copy") if k in found})

    @property
    def temperature(self) -> float:
        """The sampling temperature the model was tuned for (config.json `run.sampling`).

        Checkpoints written before the `[sampling]` section existed give 1.0.
        """
        return sampling_section(self.meta).get("temperature", 1.0)


SAMPLING_KEYS = ("temperature", "pitch", "duration", "copy")
"""What a config's `run.sampling` holds: the temperature, then each head's share of it."""


def sampling_section(meta: dict[str, Any]) -> dict[str, float]:
    """The valid values of a config's `run.sampling` (each a number in (0, 10]; others left out,
    so a hand-edited or older config samples at the defaults instead of failing)."""
    run = meta.get("run")
    section = run.get("sampling") if isinstance(run, dict) else None
    if not isinstance(section, dict):
        return {}
    return {key: float(section[key]) for key in SAMPLING_KEYS if in_sampling_range(section.get(key))}


def in_sampling_range(value: object) -> bool:
    """A number in (0, 10], as every sampling setting must be."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= 10
    )


def model_config_for(base: ModelConfig, vocab: StreamVocab) -> ModelConfig:
    """`base` with every vocabulary size filled from `vocab` and :mod:`midigan.representations.conditions`."""
    return replace(
        base,
        n_pitch=vocab.n_pitch,
        n_duration=vocab.n_duration,
        n_velocity=vocab.n_velocity,
        n_chord=N_CHORDS,
        n_position=MAX_POSITION,
        n_bars_remaining=MAX_BARS_REMAINING + 1,
        n_meter=len(METER_NAMES),
        n_mode=2,
        n_style=len(STYLES),
        n_bar_index=MAX_BAR_INDEX if base.n_bar_index else 0,  # 0: a model without the form table
    )


def build_generator(config: ModelConfig, vocab: StreamVocab) -> Generator:
    """A fresh generator whose duration clock is the vocabulary's."""
    return Generator(config, vocab.durations)


# ------------------------------------------------------------------ writing
def checkpoint_files(
    generator: Generator,
    vocab: StreamVocab,
    meta: dict[str, Any],
    trainer_tensors: dict[str, torch.Tensor] | None = None,
    trainer_meta: dict[str, Any] | None = None,
) -> dict[str, bytes]:
    """The bytes of every file of a checkpoint folder (nothing written yet)."""
    weights = {k: v.detach().float().cpu().contiguous() for k, v in generator.state_dict().items()}
    config = {
        **meta,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": asdict(generator.config),
        "vocab": vocab.to_json(),
    }
    files = {
        MODEL_FILE: save_safetensors(weights, metadata={"format": FORMAT}),
        CONFIG_FILE: config_json_bytes(config),
    }
    if trainer_tensors is not None:
        tensors = {k: v.detach().cpu().contiguous() for k, v in trainer_tensors.items()}
        files[TRAINER_FILE] = save_safetensors(tensors, metadata={"format": FORMAT})
        files[TRAINER_META] = config_json_bytes(trainer_meta or {})
    return files


def write_folder(folder: str | Path, files: dict[str, bytes]) -> Path:
    """Write `files` as the folder `folder`, replacing any earlier one atomically.

    The files go to a temporary sibling folder first; then the old folder is
    renamed aside, the new one renamed in, and the old one deleted. A kill at
    any moment leaves either the old or the new folder complete (see
    :func:`recover_folder`).

    Raises:
        CheckpointError: the parent folder cannot be written.
    """
    folder = Path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_temps(folder)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
        for name, data in files.items():
            with open(tmp / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        old = folder.with_name(f".{folder.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        raise CheckpointError(f"{folder}: cannot write checkpoint ({e.strerror or e}); check the path") from e
    return folder


def recover_folder(folder: str | Path) -> Path:
    """Finish a swap that a kill interrupted: if `folder` is gone but its `.old` twin
    exists, put the twin back, and remove the temp folders killed writes left. Returns `folder`."""
    folder = Path(folder)
    old = folder.with_name(f".{folder.name}.old")
    if not folder.exists() and old.is_dir():
        os.replace(old, folder)
    sweep_stale_temps(folder, older_than_s=0)  # on resume: the run owns its folder, nothing writes there
    return folder


TEMP_STALE_SECONDS = 60.0
"""A checkpoint temp folder untouched this long is a killed write's (a live write of every
file takes seconds, and each new file touches the folder)."""


def sweep_stale_temps(folder: str | Path, older_than_s: float = TEMP_STALE_SECONDS) -> list[Path]:
    """Remove the temp folders killed writes of checkpoint `folder` left beside it.

    :func:`write_folder` stages into ``.NAME.XXXXXXXX.tmp`` (``tempfile.mkdtemp``); a kill
    before the rename leaves it, sometimes with a 0-byte model.safetensors. Only that exact
    pattern for this NAME is removed, only real folders (not links) owned by this user,
    and only when untouched for `older_than_s`. Runs on every checkpoint write, and on
    resume with no wait (:func:`recover_folder`).

    Returns:
        The folders removed.
    """
    folder = Path(folder)
    pattern = re.compile(rf"^\.{re.escape(folder.name)}\.[a-z0-9_]{{8}}\.tmp$")
    cutoff = time.time() - older_than_s
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder.parent))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.match(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and info.st_mtime < cutoff:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


# ------------------------------------------------------------------ reading
def resolve_checkpoint(path: str | Path | None) -> Path:
    """The checkpoint folder `path` names.

    Accepts a checkpoint folder, its model.safetensors, or a run folder of
    `midigan train` (its `gan/` checkpoint, else `mle/`). None = the shipped model.

    Raises:
        CheckpointError: nothing that looks like a checkpoint there.
    """
    if path is None:
        folder = PRETRAINED_DIR
        if not (folder / MODEL_FILE).exists():
            raise CheckpointError(
                f"no shipped model in {folder}: reinstall midigan, or pass a checkpoint from `midigan train`"
            )
        return folder
    path = Path(path)
    if path.is_file():
        if path.suffix != ".safetensors":
            raise CheckpointError(
                f"{path}: not a checkpoint; give a folder with {MODEL_FILE} and {CONFIG_FILE}"
            )
        return path.parent
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint folder")
    for candidate in (path, path / "gan", path / "mle"):
        recover_folder(candidate)
        if (candidate / MODEL_FILE).exists() or (candidate / CONFIG_FILE).exists():
            return candidate
    raise CheckpointError(
        f"{path}: no {MODEL_FILE} here (nor in gan/ or mle/); is this a midigan checkpoint?"
    )


def read_config(folder: Path) -> dict[str, Any]:
    """The checked config.json of a checkpoint folder.

    Raises:
        CheckpointError: missing, not JSON, not ours, or a format version we cannot read.
    """
    path = folder / CONFIG_FILE
    if not path.exists():
        raise CheckpointError(
            f"{folder}: no {CONFIG_FILE}; a checkpoint needs {MODEL_FILE} and {CONFIG_FILE}"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e}); the checkpoint is corrupted") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a midigan checkpoint config (format is not {FORMAT!r})")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r}; this midigan reads version {FORMAT_VERSION}"
        )
    for key in ("model", "vocab"):
        if not isinstance(meta.get(key), dict):
            raise CheckpointError(f"{path}: config has no {key!r} section; the checkpoint is incomplete")
    return meta


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file.

    Raises:
        CheckpointError: missing or corrupted (not safetensors, truncated).
    """
    if not path.exists():
        raise CheckpointError(f"{path.parent}: no {path.name}; the checkpoint is incomplete")
    try:
        return load_safetensors(path.read_bytes())
    except (SafetensorError, ValueError, RuntimeError, OSError) as e:
        raise CheckpointError(f"{path}: corrupted or not a safetensors file ({e})") from e


def read_shapes(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Name -> (shape, dtype) of every tensor of a safetensors file, from its header alone
    (no tensor is read), so sizes can be checked before anything is allocated.

    Raises:
        CheckpointError: missing, or a header that is not safetensors.
    """
    if not path.exists():
        raise CheckpointError(f"{path.parent}: no {path.name}; the checkpoint is incomplete")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {
                name: (tuple(handle.get_slice(name).get_shape()), handle.get_slice(name).get_dtype())
                for name in handle.keys()  # noqa: SIM118 - safe_open has keys(), not iteration
            }
    except (SafetensorError, ValueError, RuntimeError, OSError) as e:
        raise CheckpointError(f"{path}: corrupted or not a safetensors file ({e})") from e


_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")


def check_shapes(
    found: dict[str, tuple[tuple[int, ...], str]], expected: dict[str, tuple[int, ...]], where: Path
) -> None:
    """Names, shapes and dtypes of `found` (:func:`read_shapes`) must be those `expected`
    (:func:`~midigan.model.generator.parameter_shapes` of the config).

    Raises:
        CheckpointError: naming the first missing, unexpected, misshapen or non-float tensor.
    """
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + (
            [f"unexpected {', '.join(extra[:3])}"] if extra else []
        )
        raise CheckpointError(f"{where}: weights do not match config.json ({'; '.join(parts)})")
    for name, shape in expected.items():
        got, dtype = found[name]
        if got != shape:
            raise CheckpointError(
                f"{where}: tensor {name} has shape {got}, config.json implies {shape}; "
                "weights and config are from different models"
            )
        if dtype not in _FLOAT_DTYPES:
            raise CheckpointError(f"{where}: tensor {name} is {dtype}, expected floating point")


def check_finite(tensors: dict[str, torch.Tensor], where: Path) -> None:
    """Every value of every floating tensor must be finite: NaN or Inf weights sample
    nothing (an empty melody) rather than fail, so they are refused at load.

    Raises:
        CheckpointError: naming the first tensor holding NaN or Inf.
    """
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            kind = "NaN" if bool(torch.isnan(tensor).any()) else "Inf"
            raise CheckpointError(f"{where}: tensor {name} holds {kind} values; the weights are unusable")


def model_and_vocab(meta: dict[str, Any], where: Path) -> tuple[ModelConfig, StreamVocab]:
    """The checked model config and vocabulary of a checkpoint's config.json: every field
    bounded, and every vocabulary size the one the vocabulary and the condition ids imply.

    Raises:
        CheckpointError: an invalid, out-of-range or inconsistent `model` or `vocab` section.
    """
    try:
        config = model_config_from_dict(meta["model"])
        vocab = StreamVocab.from_json(meta["vocab"])
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: invalid model or vocabulary section ({e})") from e
    implied = model_config_for(config, vocab)
    for name in (f.name for f in fields(ModelConfig)):
        if getattr(implied, name) != getattr(config, name):
            raise CheckpointError(
                f"{where}: invalid model section (model.{name} = {getattr(config, name)}, "
                f"but the vocabulary and condition ids give {getattr(implied, name)})"
            )
    return config, vocab


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu") -> ModelBundle:
    """Load a generator checkpoint for sampling.

    Everything is checked before the network is built: config.json's fields against
    their bounds and the vocabulary, then every tensor name and shape in the weights'
    header against the config; then the values are read and must be finite.

    Args:
        path: checkpoint folder, its model.safetensors, or a run folder; None =
            the model shipped in midigan/pretrained/.
        device: 'cpu', 'cuda', 'cuda:1'...

    Raises:
        CheckpointError: missing files, corrupted weights, names or shapes that do
            not match the config, NaN or Inf weights, an unknown format version.
    """
    folder = resolve_checkpoint(path)
    meta = read_config(folder)
    config, vocab = model_and_vocab(meta, folder / CONFIG_FILE)
    weights_path = folder / MODEL_FILE
    check_shapes(read_shapes(weights_path), parameter_shapes(config), weights_path)
    weights = read_tensors(weights_path)
    check_finite(weights, weights_path)
    try:
        generator = build_generator(config, vocab)
    except (AssertionError, ValueError) as e:
        raise CheckpointError(f"{folder / CONFIG_FILE}: invalid model or vocabulary section ({e})") from e
    generator.load_state_dict({k: v.float() for k, v in weights.items()})
    try:
        target = torch.device(device)
        generator.to(target).eval()
    except (RuntimeError, AssertionError) as e:
        raise CheckpointError(f"cannot place the model on device {device!r} ({e})") from e
    harmony = load_harmony(folder)  # on the CPU: a few dozen small steps, not worth a device
    from midigan.model.dynamics import find_dynamics, load_dynamics  # it imports this module

    found = find_dynamics(folder)
    dynamics = load_dynamics(found) if found is not None else None  # CPU too: one short pass a piece
    return ModelBundle(
        generator=generator, vocab=vocab, config=config, meta=meta, device=target, harmony=harmony,
        dynamics=dynamics,
    )  # fmt: skip


def read_trainer_state(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer / RNG tensors and the JSON training state of a checkpoint folder.

    Raises:
        CheckpointError: missing or corrupted training state (the folder cannot be resumed).
    """
    meta_path = folder / TRAINER_META
    if not meta_path.exists():
        raise CheckpointError(f"{folder}: no {TRAINER_META}; this checkpoint cannot be resumed")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{meta_path}: not valid JSON ({e})") from e
    return read_tensors(folder / TRAINER_FILE), meta
