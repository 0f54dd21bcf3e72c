"""Typed run configuration, read from TOML, and the options of one training run.

One frozen dataclass per section (`[model]`, `[discriminator]`, `[data]`, `[mle]`,
`[gan]`, `[train]`, `[sampling]`, `[harmony]`), all gathered in :class:`RunConfig`. Unknown
sections or keys and values of the wrong type are a :class:`~midigan.errors.ConfigError`,
so a typo in a config file fails before an hour of training rather than silently
using a default. Presets ship in ``midigan/train/presets/*.toml``; ``--config tiny``
names one of them, ``--config path/to/file.toml`` any other file.
:meth:`TrainOptions.resolve` turns what `midigan train` was given (a preset, a run
folder to resume, flags that override the file, a dry run) into one run's options.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from midigan.corpus.manifest import format_split, parse_split
from midigan.errors import ConfigError
from midigan.model.config import DiscriminatorConfig, ModelConfig, check_model_config, overlay_section
from midigan.representations.ids import MAX_BAR_INDEX

PRESETS_DIR = Path(__file__).with_name("presets")


@dataclass(frozen=True)
class DataConfig:
    """How the corpus becomes batches."""

    seq_len: int = 128  # events per training window; longer pieces are cut into windows
    batch_size: int = 64
    coverage: float = 0.995  # share of corpus durations the duration vocabulary covers
    valid_pieces: int = 512  # cap on validation pieces scored each epoch (keeps CPU epochs short)
    max_events: int = 2000  # longer pieces are left out, and named (in practice: repeat-expansion accidents)


@dataclass(frozen=True)
class MLEConfig:
    """Teacher-forced warm start."""

    epochs: int = 12
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 200
    grad_clip: float = 1.0
    min_steps: int = 400  # a corpus too small for `epochs` trains more of them (train/schedule.py); 0 = never


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
    validate_every: int = 1  # epochs between validations (and one at the end of each phase)


@dataclass(frozen=True)
class SamplingConfig:
    """How the trained model is sampled when the caller names no temperature.

    Tuned with `midigan evaluate` and recorded in every checkpoint's config.json
    (`run.sampling`), so `compose` and `evaluate` use the value the recipe was judged at.
    """

    temperature: float = 0.85  # softmax temperature; an explicit --temperature wins
    # Each head's share of it (midigan.model.stepper.HeadTemperatures): fresh pitches and
    # durations drawn at temperature x pitch / x duration, the lookback's copy weights at
    # temperature x copy. 1.0 everywhere is one temperature for all heads.
    pitch: float = 1.0
    duration: float = 1.0
    copy: float = 1.0


@dataclass(frozen=True)
class HarmonyTrainConfig:
    """The chord-progression model trained beside the generator (:mod:`midigan.train.harmony`)."""

    epochs: int = 12  # 0 = no harmony model: compose then plays the hand-written progressions
    embed: int = 64
    hidden: int = 128
    lr: float = 3e-3
    batch_size: int = 64  # pieces per step
    temperature: float = 0.8  # its sampling temperature, saved in harmony.json (chosen on valid)
    chord_dropout: float = 0.1  # share of generator training windows with every chord id 0 (chords="none")


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs, resolved and written next to its checkpoints."""

    # New runs get the form table (bar index); `n_bar_index = 0` in [model] trains without it.
    model: ModelConfig = field(default_factory=lambda: ModelConfig(n_bar_index=MAX_BAR_INDEX))
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    mle: MLEConfig = field(default_factory=MLEConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    harmony: HarmonyTrainConfig = field(default_factory=HarmonyTrainConfig)

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
        name: overlay_section(hints[name], name, values, getattr(base, name)) for name, values in data.items()
    }
    config = replace(base, **updated)
    validate_config(config)
    return config


def validate_config(config: RunConfig) -> None:
    """Range checks that a type check cannot make.

    Raises:
        ConfigError: a value out of range, naming the key.
    """
    check_model_config(config.model)
    checks = [
        ("discriminator.embed", 1 <= config.discriminator.embed <= 4096),
        ("discriminator.hidden", 1 <= config.discriminator.hidden <= 4096),
        ("data.seq_len", config.data.seq_len >= 2),
        ("data.batch_size", config.data.batch_size >= 1),
        ("data.coverage", 0.5 <= config.data.coverage <= 1.0),
        ("mle.epochs", config.mle.epochs >= 0),
        ("mle.lr", config.mle.lr > 0),
        ("mle.min_steps", config.mle.min_steps >= 0),
        ("mle.warmup_steps", config.mle.warmup_steps >= 0),
        ("gan.epochs", config.gan.epochs >= 0),
        ("gan.d_steps", config.gan.d_steps >= 1),
        ("gan.prefix", config.gan.prefix >= 0),
        ("gan.unroll", config.gan.unroll >= 1),
        ("gan.tau", config.gan.tau > 0 and config.gan.tau_final > 0),
        ("gan.label_smoothing", 0.0 <= config.gan.label_smoothing < 0.5),
        ("train.log_every", config.train.log_every >= 1),
        ("train.checkpoint_every", config.train.checkpoint_every >= 1),
        ("train.validate_every", config.train.validate_every >= 1),
        ("train.precision", config.train.precision in ("auto", "fp32", "bf16", "fp16")),
        ("sampling.temperature", 0 < config.sampling.temperature <= 10),
        ("sampling.pitch", 0 < config.sampling.pitch <= 10),
        ("sampling.duration", 0 < config.sampling.duration <= 10),
        ("sampling.copy", 0 < config.sampling.copy <= 10),
        ("harmony.epochs", config.harmony.epochs >= 0),
        ("harmony.embed", 1 <= config.harmony.embed <= 4096),
        ("harmony.hidden", 1 <= config.harmony.hidden <= 4096),
        ("harmony.lr", config.harmony.lr > 0),
        ("harmony.batch_size", config.harmony.batch_size >= 1),
        ("harmony.temperature", 0 < config.harmony.temperature <= 10),
        ("harmony.chord_dropout", 0.0 <= config.harmony.chord_dropout < 1.0),
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


RUN_CONFIG_FILE = "config.toml"  # the resolved configuration, in every run folder
RUN_FILE = "run.json"  # what else a resumed run must take from the first one: the seed
_FLAG_FIELDS = (  # set by the command line (epoch flags, --dry-run) or fitted to the corpus
    ("mle", "epochs"),  # (midigan.train.schedule), so a resume may differ from the preset in them
    ("mle", "warmup_steps"),
    ("train", "validate_every"),
    ("gan", "epochs"),
    ("data", "valid_pieces"),
    ("train", "val_samples"),
)


@dataclass(frozen=True)
class TrainOptions:
    """One `midigan train` invocation.

    Attributes:
        corpus: corpora/ (with manifest.jsonl) or any folder of MIDI files.
        out: the run folder.
        config: resolved hyper-parameters.
        device: 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'.
        seed: seeds weights, batch order and every random draw.
        resume: continue from the run folder's last checkpoint.
        max_steps: cap on optimizer steps per phase (smoke runs); None = no cap.
        progress: show progress bars.
        cache_dir: where the tokenized corpus is cached (None = the user cache).
        stop_at_step: for tests: end after this global step as if killed.
        force: start over: remove an earlier run's files from `out` first (only the
            files a run writes; anything else in the folder is left alone).
        fit_schedule: fit the MLE schedule to the corpus when it is too small for the
            config's (:func:`midigan.train.schedule.fit_schedule`); `midigan train` sets it
            for a fresh run without --epochs or --max-steps.
        split: shares for a plain corpus folder (``train=0.8,valid=0.1,test=0.1``,
            :func:`midigan.corpus.manifest.split_by_shares`); None = the hash rule.
    """

    corpus: Path
    out: Path
    config: RunConfig
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    max_steps: int | None = None
    progress: bool = True
    cache_dir: Path | None = None
    stop_at_step: int | None = None
    force: bool = False
    fit_schedule: bool = False
    split: str | None = None

    @classmethod
    def resolve(
        cls,
        corpus: str | Path,
        out: str | Path,
        config: str | Path | None = None,
        epochs: int | None = None,
        gan_epochs: int | None = None,
        max_steps: int | None = None,
        device: str = "auto",
        seed: int | None = None,
        resume: bool = False,
        dry_run: bool = False,
        quiet: bool = False,
        force: bool = False,
        split: str | None = None,
    ) -> TrainOptions:
        """The options `midigan train` asks for.

        A fresh run takes the named config file or preset (default: 'default') and
        `seed` (default 0), and needs an empty (or new) run folder unless `force`.
        A resumed run takes both from its run folder (``config.toml``, ``run.json``);
        a `config` or `seed` that contradicts them is refused rather than silently
        giving other weights. Then the epoch flags apply; a dry run takes one step of
        each phase and a tiny validation.

        Raises:
            ConfigError: a missing or invalid config file, an unknown preset, a
                non-empty run folder without `resume` or `force`, options that
                contradict the run being resumed.
        """
        out_path = Path(out)
        if resume and force:
            raise ConfigError("--resume continues the run in the folder, --force starts it over: choose one")
        if resume:
            cfg, seed = _resumed_run(out_path, config, seed)
            split = _resumed_split(out_path, split)
        else:
            _check_fresh_folder(out_path, force)
            cfg, seed = load_config(config), 0 if seed is None else seed
        if split is not None:
            split = format_split(parse_split(split))
        if epochs is not None:
            cfg = replace(cfg, mle=replace(cfg.mle, epochs=epochs))
        if gan_epochs is not None:
            cfg = replace(cfg, gan=replace(cfg.gan, epochs=gan_epochs))
        if dry_run:
            max_steps = 1
            cfg = replace(
                cfg,
                mle=replace(cfg.mle, epochs=max(cfg.mle.epochs, 1)),
                gan=replace(cfg.gan, epochs=max(cfg.gan.epochs, 1)),
                data=replace(cfg.data, valid_pieces=min(cfg.data.valid_pieces, 8)),
                train=replace(cfg.train, val_samples=min(cfg.train.val_samples, 2)),
                harmony=replace(cfg.harmony, epochs=min(cfg.harmony.epochs, 1)),
            )
        fit = not (resume or dry_run) and epochs is None and max_steps is None  # else the user set it
        return cls(
            Path(corpus), out_path, cfg, device, seed, resume, max_steps, progress=not quiet, force=force,
            fit_schedule=fit, split=split,
        )  # fmt: skip


def _check_fresh_folder(out: Path, force: bool) -> None:
    """A new run needs an empty folder: re-running into a used one would mix two runs."""
    if not force and out.is_dir() and any(out.iterdir()):
        raise ConfigError(
            f"{out} is not empty (an earlier run?); continue that run with --resume, "
            "or start over there with --force"
        )


def _resumed_run(out: Path, config: str | Path | None, seed: int | None) -> tuple[RunConfig, int]:
    """The config and seed of the run in `out`; `config` and `seed` may only repeat them."""
    if not (out / RUN_CONFIG_FILE).is_file():
        raise ConfigError(f"{out}: no run to resume (no {RUN_CONFIG_FILE}); start it without --resume")
    cfg = load_config(out / RUN_CONFIG_FILE)
    if config is not None:
        difference = _first_difference(cfg, load_config(config))
        if difference:
            raise ConfigError(
                f"--config {config} contradicts the run in {out} ({difference}); "
                "resume without --config, or start over with --force"
            )
    stored = stored_seed(out)
    if stored is None:  # a run folder written before run.json: the seed cannot be checked
        return cfg, 0 if seed is None else seed
    if seed is not None and seed != stored:
        raise ConfigError(
            f"--seed {seed} contradicts the run in {out} (seeded {stored}); resume without --seed"
        )
    return cfg, stored


def _first_difference(run: RunConfig, given: RunConfig) -> str | None:
    """'section.key: run value vs given value' for the first field that differs, ignoring
    the fields the command line sets itself (:data:`_FLAG_FIELDS`)."""
    theirs, ours = run.to_dict(), given.to_dict()
    for section, values in theirs.items():
        for key, value in values.items():
            if (section, key) not in _FLAG_FIELDS and ours[section][key] != value:
                return f"{section}.{key} is {value!r} in the run, {ours[section][key]!r} in the config"
    return None


def stored_seed(out: Path) -> int | None:
    """The seed recorded in the run folder `out` (``run.json``); None when there is none.

    Raises:
        ConfigError: ``run.json`` unreadable or without an integer seed.
    """
    path = out / RUN_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not a readable run record ({e}); the run folder is damaged") from e
    seed = data.get("seed") if isinstance(data, dict) else None
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"{path}: no integer 'seed' (got {seed!r}); the run folder is damaged")
    return seed


def _resumed_split(out: Path, split: str | None) -> str | None:
    """The --split of the run in `out` (``run.json``); a `split` given again must repeat it."""
    path = out / RUN_FILE
    stored = None
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data = {}  # stored_seed has already named a damaged run.json
        stored = data.get("split") if isinstance(data, dict) else None
    if split is not None and format_split(parse_split(split)) != stored:
        raise ConfigError(
            f"--split {split} contradicts the run in {out} (split {stored or 'by the hash rule'}); "
            "resume without --split"
        )
    return stored if isinstance(stored, str) else None


def run_record(seed: int, split: str | None = None) -> bytes:
    """The bytes of ``run.json`` for a run seeded `seed` (what :func:`stored_seed` reads), with
    the run's --split when it had one."""
    record: dict[str, Any] = {"seed": seed} | ({"split": split} if split else {})
    return (json.dumps(record, sort_keys=True) + "\n").encode()
