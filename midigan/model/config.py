"""Typed run configuration, read from TOML.

One frozen dataclass per section (`[model]`, `[discriminator]`, `[data]`, `[mle]`,
`[gan]`, `[train]`), all gathered in :class:`RunConfig`. Unknown sections or keys
and values of the wrong type are a :class:`~midigan.errors.ConfigError`, so a typo
in a config file fails before an hour of training rather than silently using a
default. Presets ship in ``midigan/model/presets/*.toml``; ``--config tiny`` names
one of them, ``--config path/to/file.toml`` any other file.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_origin, get_type_hints

from midigan.errors import ConfigError

PRESETS_DIR = Path(__file__).with_name("presets")


@dataclass(frozen=True)
class ModelConfig:
    """Generator hyper-parameters plus the sizes of every input vocabulary.

    The vocabulary sizes (`n_*`) are filled from the corpus' StreamVocab and
    from :mod:`midigan.representations.conditions` when a model is built; they are stored in every
    checkpoint so a saved model describes its own tensor shapes.
    """

    embed: int = 128  # width of the summed input embedding (= LSTM input size)
    hidden: int = 256  # LSTM hidden size
    layers: int = 2
    z_dim: int = 16  # per-piece noise; 0 disables it
    step_noise: int = 0  # per-step noise width; 0 disables it
    dropout: float = 0.1
    # Bars to look back for repeats (midigan.model.lookback); () = a plain LSTM.
    lookback: tuple[int, ...] = (1, 2, 4, 8)
    n_pitch: int = 0
    n_duration: int = 0
    n_velocity: int = 0
    n_chord: int = 0
    n_position: int = 0
    n_bars_remaining: int = 0  # ids 0..MAX_BARS_REMAINING (0 unused: bars left is >= 1)
    n_meter: int = 0
    n_mode: int = 2
    n_style: int = 0


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Bidirectional LSTM critic over (soft) one-hot streams plus conditions."""

    embed: int = 64
    hidden: int = 128
    dropout: float = 0.1


@dataclass(frozen=True)
class DataConfig:
    """How the corpus becomes batches."""

    seq_len: int = 128  # events per training window; longer pieces are cut into windows
    batch_size: int = 64
    coverage: float = 0.995  # share of corpus durations the duration vocabulary covers
    valid_pieces: int = 512  # cap on validation pieces scored each epoch (keeps CPU epochs short)
    max_events: int = 2000  # longer pieces are skipped (in practice: repeat-expansion accidents)


@dataclass(frozen=True)
class MLEConfig:
    """Teacher-forced warm start."""

    epochs: int = 12
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 200
    grad_clip: float = 1.0


@dataclass(frozen=True)
class GANConfig:
    """Adversarial fine-tuning with straight-through Gumbel-softmax.

    The generator loss is `lambda_fm * feature matching + lambda_adv * adversarial +
    lambda_mle * MLE anchor`; the anchor keeps the fine-tuned model from drifting
    into mode collapse, the feature matching term is what Salimans et al. (2016)
    found stable where the plain adversarial term is not.
    """

    epochs: int = 1
    lr_g: float = 5e-5
    lr_d: float = 2e-4
    d_steps: int = 1  # discriminator updates per generator update
    prefix: int = 8  # teacher-forced events before the generator runs freely
    unroll: int = 96  # events generated freely per window
    tau: float = 1.0  # Gumbel-softmax temperature at the start ...
    tau_final: float = 0.5  # ... annealed linearly to this at the end
    lambda_fm: float = 1.0
    lambda_adv: float = 0.2
    lambda_mle: float = 1.0
    label_smoothing: float = 0.1  # one-sided: real targets are 1 - this
    instance_noise: float = 0.2  # std of noise on discriminator inputs, annealed to 0
    grad_clip: float = 1.0
    max_batches: int = 400  # cap on GAN batches per epoch (0 = the whole epoch)


@dataclass(frozen=True)
class TrainConfig:
    """Loop mechanics: logging, checkpoints, precision, threads."""

    log_every: int = 50  # steps between log lines (and the only host syncs of the loop)
    checkpoint_every: int = 500  # steps between checkpoints (and one at every epoch end)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 ; auto = bf16 on CUDA, fp32 on CPU
    num_threads: int = 0  # torch CPU threads; 0 = torch's default
    max_loss: float = 50.0  # NLL per event above this is divergence: stop, keep the last checkpoint
    val_samples: int = 128  # pieces generated each epoch for the musical statistics


@dataclass(frozen=True)
class SamplingConfig:
    """How the trained model is sampled when the caller names no temperature.

    Tuned with `midigan evaluate` and recorded in every checkpoint's config.json
    (`run.sampling`), so `compose` and `evaluate` use the value the recipe was judged at.
    """

    temperature: float = 0.85  # softmax temperature; an explicit --temperature wins


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs, resolved and written next to its checkpoints."""

    model: ModelConfig = field(default_factory=ModelConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    mle: MLEConfig = field(default_factory=MLEConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return asdict(self)

    def to_toml(self) -> str:
        """The resolved configuration as TOML text (what `load_config` reads back)."""
        lines: list[str] = []
        for section, values in self.to_dict().items():
            lines.append(f"[{section}]")
            for key, value in values.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def _coerce(section: str, key: str, value: Any, kind: Any) -> Any:
    """Check a TOML value against the dataclass field type (ints accepted for floats)."""
    if get_origin(kind) is tuple:  # tuple[int, ...]: TOML and JSON give lists
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"[{section}] {key} must be a list of integers (got {value!r})")
        return tuple(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(f"[{section}] {key} must be {kind.__name__} (got {value!r})")
    return value


def _section(cls: type, section: str, values: Any, base: Any) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table of keys")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"[{section}] unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return replace(base, **{k: _coerce(section, k, v, hints[k]) for k, v in values.items()})


def config_from_dict(data: dict[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Overlay `data` (parsed TOML or JSON) onto `base` (defaults when None).

    Raises:
        ConfigError: unknown section or key, or a value of the wrong type.
    """
    base = base or RunConfig()
    sections = {f.name: f for f in fields(RunConfig)}
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ConfigError(f"unknown config section(s) {', '.join(unknown)}; known: {', '.join(sections)}")
    hints = get_type_hints(RunConfig)
    updated = {
        name: _section(hints[name], name, values, getattr(base, name)) for name, values in data.items()
    }
    config = replace(base, **updated)
    validate_config(config)
    return config


def validate_config(config: RunConfig) -> None:
    """Range checks that a type check cannot make.

    Raises:
        ConfigError: a value out of range, naming the key.
    """
    checks = [
        ("model.embed", config.model.embed >= 1),
        ("model.hidden", config.model.hidden >= 1),
        ("model.layers", config.model.layers >= 1),
        ("model.z_dim", config.model.z_dim >= 0),
        ("model.step_noise", config.model.step_noise >= 0),
        ("model.dropout", 0.0 <= config.model.dropout < 1.0),
        (
            "model.lookback",
            all(lag >= 1 for lag in config.model.lookback)
            and len(set(config.model.lookback)) == len(config.model.lookback),
        ),
        ("discriminator.hidden", config.discriminator.hidden >= 1),
        ("data.seq_len", config.data.seq_len >= 2),
        ("data.batch_size", config.data.batch_size >= 1),
        ("data.coverage", 0.5 <= config.data.coverage <= 1.0),
        ("mle.epochs", config.mle.epochs >= 0),
        ("mle.lr", config.mle.lr > 0),
        ("gan.epochs", config.gan.epochs >= 0),
        ("gan.d_steps", config.gan.d_steps >= 1),
        ("gan.prefix", config.gan.prefix >= 0),
        ("gan.unroll", config.gan.unroll >= 1),
        ("gan.tau", config.gan.tau > 0 and config.gan.tau_final > 0),
        ("gan.label_smoothing", 0.0 <= config.gan.label_smoothing < 0.5),
        ("train.log_every", config.train.log_every >= 1),
        ("train.checkpoint_every", config.train.checkpoint_every >= 1),
        ("train.precision", config.train.precision in ("auto", "fp32", "bf16", "fp16")),
        ("sampling.temperature", 0 < config.sampling.temperature <= 10),
    ]
    for name, ok in checks:
        if not ok:
            section, key = name.split(".")
            value = getattr(getattr(config, section), key)
            raise ConfigError(f"config {name} = {value!r} is out of range")


def load_config(source: str | Path | None = None) -> RunConfig:
    """Read a run configuration.

    Args:
        source: a TOML file, the name of a shipped preset ('default', 'tiny'), or
            None for 'default'.

    Raises:
        ConfigError: missing file, unknown preset, bad TOML, unknown key, bad value.
    """
    path = _resolve(source)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror})") from e
    return config_from_dict(data)


def _resolve(source: str | Path | None) -> Path:
    if source is None:
        return PRESETS_DIR / "default.toml"
    path = Path(source)
    if path.suffix == "" and not path.exists():
        preset = PRESETS_DIR / f"{source}.toml"
        if preset.exists():
            return preset
        names = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))
        raise ConfigError(f"no config file or preset named {source!r}; presets: {names}")
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    return path


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Rebuild a ModelConfig from a checkpoint's JSON (unknown keys refused).

    A checkpoint without `lookback` was written before lookback existed: a plain LSTM.

    Raises:
        ConfigError: unknown key or wrong type.
    """
    return _section(ModelConfig, "model", data, replace(ModelConfig(), lookback=()))


__all__ = [
    "DataConfig",
    "DiscriminatorConfig",
    "GANConfig",
    "MLEConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "config_from_dict",
    "load_config",
    "model_config_from_dict",
]
