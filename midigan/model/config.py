"""Typed model configuration: the generator's and the critic's hyper-parameters.

One frozen dataclass per network. A checkpoint stores its :class:`ModelConfig`
(vocabulary sizes included) so a saved model describes its own tensor shapes;
:func:`model_config_from_dict` reads it back, refusing unknown keys and values of
the wrong type with a :class:`~midigan.errors.ConfigError`. The run configuration
that gathers these with the training sections is :mod:`midigan.train.config`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from typing import Any, get_origin, get_type_hints

from midigan.errors import ConfigError


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
    # Form: bar-index ids 0..MAX_BAR_INDEX-1 (representations.ids); 0 = no form table (a model
    # from before it: the fifth condition column is ignored). The trainer's default is MAX_BAR_INDEX.
    n_bar_index: int = 0


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Bidirectional LSTM critic over (soft) one-hot streams plus conditions."""

    embed: int = 64
    hidden: int = 128
    dropout: float = 0.1


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


def overlay_section(cls: type, section: str, values: Any, base: Any) -> Any:
    """`base` (an instance of the dataclass `cls`) with the keys of one TOML / JSON table `values` set.

    Raises:
        ConfigError: not a table, an unknown key, or a value of the wrong type.
    """
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


# Inclusive bounds on every ModelConfig field. A checkpoint's config.json is untrusted input:
# `hidden = 40000` or `layers = 20000` would allocate gigabytes (or build for minutes)
# before any shape check could refuse it. The maxima sit far above any model this recipe
# trains (the shipped one: embed 128, hidden 256, 2 layers) and far below what hurts.
MODEL_LIMITS: dict[str, tuple[float, float]] = {
    "embed": (1, 4096),
    "hidden": (1, 4096),
    "layers": (1, 16),
    "z_dim": (0, 1024),
    "step_noise": (0, 1024),
    "n_pitch": (0, 1024),
    "n_duration": (0, 1024),
    "n_velocity": (0, 1024),
    "n_chord": (0, 4096),
    "n_position": (0, 4096),
    "n_bars_remaining": (0, 4096),
    "n_meter": (0, 1024),
    "n_mode": (0, 16),
    "n_style": (0, 1024),
    "n_bar_index": (0, 4096),
}
MAX_LOOKBACK_LAGS = 16
MAX_LOOKBACK_BARS = 64


def check_model_config(config: ModelConfig, section: str = "model") -> None:
    """Range checks on every field of `config` (a type check cannot make them).

    Raises:
        ConfigError: the first field out of range, named with its bounds.
    """
    for name, (low, high) in MODEL_LIMITS.items():
        value = getattr(config, name)
        if not low <= value <= high:
            raise ConfigError(f"config {section}.{name} = {value!r} is out of range ({low}..{high})")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"config {section}.dropout = {config.dropout!r} is out of range (0 <= dropout < 1)")
    lags = config.lookback
    if (
        len(lags) > MAX_LOOKBACK_LAGS
        or len(set(lags)) != len(lags)
        or not all(1 <= lag <= MAX_LOOKBACK_BARS for lag in lags)
    ):
        raise ConfigError(
            f"config {section}.lookback = {list(lags)!r} is out of range (at most {MAX_LOOKBACK_LAGS} "
            f"distinct bar counts, each 1..{MAX_LOOKBACK_BARS})"
        )


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Rebuild a ModelConfig from a checkpoint's JSON (unknown keys refused, every field bounded).

    A checkpoint without `lookback` was written before lookback existed: a plain LSTM; one
    without `n_bar_index` before the form condition: no form table.

    Raises:
        ConfigError: unknown key, wrong type, or a value out of range (:data:`MODEL_LIMITS`).
    """
    config = overlay_section(ModelConfig, "model", data, replace(ModelConfig(), lookback=()))
    check_model_config(config)
    return config


def config_json_bytes(record: dict[str, Any]) -> bytes:
    """The bytes of a model's JSON config file: keys sorted, two-space indent, one final newline,
    so the same record always writes the same file (checkpoints, chord and velocity models)."""
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()


__all__ = [
    "MODEL_LIMITS",
    "DiscriminatorConfig",
    "ModelConfig",
    "check_model_config",
    "config_json_bytes",
    "model_config_from_dict",
    "overlay_section",
]
