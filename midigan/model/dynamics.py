"""The velocity model: a finished melody in, a velocity for each of its notes out.

The generator's own velocity stream learns nothing from the folk corpus (its velocities
are a metric template), so loudness is a second, small network trained on the dynamics
corpus (:mod:`midigan.corpus.dynamics`) and applied to any melody afterwards: pitches
and rhythm stay the generator's, velocities become this model's. Shapes:

    inputs   ids (B, T, 4) + values (B, T, C)      :mod:`midigan.model.dynamics_features`
    encoder  a bidirectional LSTM over the notes   (B, T, 2H): the melody's shape around
             each note, both ways (the melody is finished, so the future is known)
    decoder  an LSTM over encoder + previous bin   (B, T, H): velocities hold and change
             as played (a level holds, a crescendo climbs) instead of jittering
    head     logits over velocity bins             (B, T, bins), bins of 128 / bins

Sampling draws bin by bin with a seeded ``torch.Generator`` per piece (the same seed
gives the same velocities whatever else is in the batch); a bin plays the velocity the
training data used most inside it (``bin_value``, saved with the weights): a passage marked
p is 50 throughout in the scores, not 49-52 at random, and a played one keeps its spread
from bin to bin.

Saved as a folder (:data:`WEIGHTS_FILE` + :data:`CONFIG_FILE`, safetensors + JSON, never
pickle) whose two files appear together (:func:`midigan.io.atomic.all_or_nothing`); beside a
generator checkpoint it is the ``dynamics/`` folder, which :func:`midigan.model.checkpoint.load_model`
attaches (so this module does not import that one).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from midigan.errors import CheckpointError, MidiganError
from midigan.io.atomic import all_or_nothing, write_atomic
from midigan.model.config import config_json_bytes
from midigan.model.dynamics_features import CATEGORIES, CONTINUOUS, LEVEL_COLUMN, MelodyGrid, features

FORMAT = "midigan-dynamics"
FORMAT_VERSION = 1
WEIGHTS_FILE = "dynamics.safetensors"
CONFIG_FILE = "dynamics.json"
FOLDER_NAME = "dynamics"
"""The velocity model's folder name beside a generator's model.safetensors."""


@dataclass(frozen=True)
class DynamicsConfig:
    """Velocity-model hyper-parameters (all small: the corpus is a few hundred pieces)."""

    embed: int = 16  # width of each categorical embedding
    hidden: int = 48  # LSTM hidden size (encoder per direction, and decoder)
    bins: int = 32  # velocity bins over 1..128 (width 128 / bins)
    dropout: float = 0.3  # 70 pieces: more than 0.1 (which overfit by step 300)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DynamicsConfig:
        """Read back :func:`asdict` output; unknown keys or non-numbers are a CheckpointError."""
        names = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise CheckpointError(f"dynamics config: unknown keys {', '.join(unknown)}")
        values = {}
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CheckpointError(f"dynamics config: {key} = {value!r} is not a number")
            values[key] = float(value) if key == "dropout" else int(value)
        config = cls(**values)
        if not (1 <= config.embed <= 512 and 1 <= config.hidden <= 1024 and 2 <= config.bins <= 128):
            raise CheckpointError(f"dynamics config out of range: {config}")
        return config

    @property
    def bin_width(self) -> float:
        return 128.0 / self.bins


class DynamicsModel(nn.Module):
    """Bidirectional encoder + autoregressive decoder over a melody's notes (module doc)."""

    def __init__(self, config: DynamicsConfig) -> None:
        super().__init__()
        self.config = config
        self.meta: dict[str, Any] = {}  # the saved JSON (corpus, metrics) once loaded
        E, H = config.embed, config.hidden
        self.tables = nn.ModuleList(nn.Embedding(size, E) for _, size in CATEGORIES)
        width = E * len(CATEGORIES) + len(CONTINUOUS)
        self.inp = nn.Linear(width, H)
        self.encoder = nn.LSTM(H, H, batch_first=True, bidirectional=True)
        self.previous = nn.Embedding(config.bins + 1, E)  # id `bins` = start of the piece
        self.decoder = nn.LSTM(2 * H + E, H, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(H, config.bins)
        # (bins,) the velocity each bin plays: the training data's commonest in it (set by training)
        centres = 1 + (torch.arange(config.bins, dtype=torch.float32) + 0.5) * config.bin_width
        self.register_buffer("bin_value", centres.floor().clamp(1, 127))

    @property
    def temperature(self) -> float:
        """The sampling temperature saved with the model (`sampling.temperature`), else 1."""
        sampling = self.meta.get("sampling")
        value = sampling.get("temperature") if isinstance(sampling, dict) else None
        return float(value) if isinstance(value, (int, float)) and 0 < value <= 4 else 1.0

    def encode(self, ids: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """(B, T, 4) ids and (B, T, C) values -> (B, T, 2H) encoder states."""
        assert ids.shape[-1] == len(CATEGORIES), f"ids need {len(CATEGORIES)} columns, got {ids.shape}"
        parts = [table(ids[..., i]) for i, table in enumerate(self.tables)] + [values]
        x = torch.relu(self.inp(torch.cat(parts, -1)))  # (B, T, H)
        encoded, _ = self.encoder(self.drop(x))  # (B, T, 2H)
        return self.drop(encoded)

    def forward(self, ids: torch.Tensor, values: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, bins) of each note's bin given the bins before it."""
        encoded = self.encode(ids, values)
        start = torch.full_like(bins[:, :1], self.config.bins)
        previous = self.previous(torch.cat([start, bins[:, :-1]], 1))  # (B, T, E)
        hidden, _ = self.decoder(torch.cat([encoded, previous], -1))  # (B, T, H)
        return self.head(self.drop(hidden))

    @torch.no_grad()
    def sample(self, ids: torch.Tensor, values: torch.Tensor, uniforms: torch.Tensor,
               temperature: float = 1.0) -> torch.Tensor:  # fmt: skip
        """Bins (B, T) drawn note by note: inverse-CDF draws from `uniforms` (B, T) in [0, 1)."""
        encoded = self.encode(ids, values)
        B, T = ids.shape[:2]
        prev = torch.full((B,), self.config.bins, dtype=torch.long, device=ids.device)
        state = None
        out = torch.empty((B, T), dtype=torch.long, device=ids.device)
        for t in range(T):
            step = torch.cat([encoded[:, t], self.previous(prev)], -1).unsqueeze(1)  # (B, 1, 2H + E)
            hidden, state = self.decoder(step, state)
            probs = torch.softmax(self.head(hidden[:, 0]) / temperature, -1)  # (B, bins)
            cdf = probs.cumsum(-1)
            prev = torch.searchsorted(cdf, uniforms[:, t : t + 1].clamp(max=cdf[:, -1:] - 1e-6)).squeeze(1)
            prev = prev.clamp(max=self.config.bins - 1)
            out[:, t] = prev
        return out


# ------------------------------------------------------------------ bins
def velocity_bins(velocity: np.ndarray, config: DynamicsConfig) -> np.ndarray:
    """(N,) bin ids of MIDI velocities 1..127."""
    return np.clip((np.asarray(velocity) - 1) // config.bin_width, 0, config.bins - 1).astype(np.int64)


def bin_values_of(velocity: np.ndarray, config: DynamicsConfig) -> torch.Tensor:
    """(bins,) the commonest velocity of `velocity` in each bin (the bin's middle where none falls)."""
    velocity = np.asarray(velocity, dtype=np.int64)
    bins = velocity_bins(velocity, config)
    out = np.floor(1 + (np.arange(config.bins) + 0.5) * config.bin_width)
    for b in np.unique(bins):
        values, counts = np.unique(velocity[bins == b], return_counts=True)
        out[b] = values[counts.argmax()]
    return torch.from_numpy(np.clip(out, 1, 127).astype(np.float32))


# ------------------------------------------------------------------ applying
def sample_velocities(
    model: DynamicsModel,
    grids: list[MelodyGrid],
    levels: list[int] | list[np.ndarray],
    seeds: list[int],
    temperature: float | None = None,
) -> list[np.ndarray]:
    """Velocities for every note of each melody, at each melody's overall level.

    Args:
        model: a trained velocity model (put in eval mode here).
        grids: the melodies.
        levels: each melody's level id (index into LEVELS), or an (N,) array of one per note.
        seeds: one seed per melody; the same seed and melody give the same velocities.
        temperature: softmax temperature of the draws (1 = as learned); None = the model's own
            (:attr:`DynamicsModel.temperature`).

    Returns:
        Per melody, an (N,) int64 array of velocities 1..127.
    """
    assert len(grids) == len(levels) == len(seeds), "one level and one seed per melody"
    temperature = model.temperature if temperature is None else float(temperature)
    model.eval()
    device = next(model.parameters()).device
    out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(grids)
    todo = [i for i, g in enumerate(grids) if len(g.pitch)]
    if not todo:
        return out
    T = max(len(grids[i].pitch) for i in todo)
    ids = np.zeros((len(todo), T, len(CATEGORIES)), dtype=np.int64)
    values = np.zeros((len(todo), T, len(CONTINUOUS)), dtype=np.float32)
    uniforms = np.zeros((len(todo), T), dtype=np.float32)
    for row, i in enumerate(todo):
        n = len(grids[i].pitch)
        level = levels[i]
        ids[row, :n], values[row, :n] = features(grids[i], 0)
        ids[row, :n, LEVEL_COLUMN] = np.asarray(level, dtype=np.int64)
        generator = torch.Generator().manual_seed(int(seeds[i]) & 0xFFFF_FFFF_FFFF)
        uniforms[row, :n] = torch.rand(n, generator=generator, dtype=torch.float64).numpy()
    bins = model.sample(torch.from_numpy(ids).to(device), torch.from_numpy(values).to(device),
                        torch.from_numpy(uniforms).to(device), temperature).cpu().numpy()  # fmt: skip
    for row, i in enumerate(todo):
        n = len(grids[i].pitch)
        out[i] = model.bin_value.cpu().numpy()[bins[row, :n]].astype(np.int64)
    return out


# ------------------------------------------------------------------ files
def parameter_shapes(config: DynamicsConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every weight of a model with this config (checked before loading)."""
    return {name: tuple(p.shape) for name, p in DynamicsModel(config).state_dict().items()}


def save_dynamics(model: DynamicsModel, folder: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write the model into `folder` (weights + JSON, appearing together), replacing an earlier one.

    Raises:
        CheckpointError: the folder cannot be written.
    """
    weights = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    config = {**(meta or {}), "format": FORMAT, "format_version": FORMAT_VERSION,
              "model": asdict(model.config)}  # fmt: skip
    files = {
        WEIGHTS_FILE: save_safetensors(weights, metadata={"format": FORMAT}),
        CONFIG_FILE: config_json_bytes(config),
    }
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with all_or_nothing(replace=True):
            for name, data in files.items():
                write_atomic(folder / name, lambda data=data: data)
    except (OSError, MidiganError) as e:
        raise CheckpointError(f"{folder}: cannot write the velocity model ({e})") from e
    return folder


def load_dynamics(folder: str | Path, device: str | torch.device = "cpu") -> DynamicsModel:
    """Load a velocity model folder; config, names, shapes and values checked before use.

    Raises:
        CheckpointError: missing files, not a velocity model, mismatched or non-finite weights.
    """
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {CONFIG_FILE}; not a velocity-model folder")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a midigan velocity model (format is not {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: velocity-model version {meta.get('format_version')!r}; "
                              f"this midigan reads {FORMAT_VERSION}")  # fmt: skip
    if not isinstance(meta.get("model"), dict):
        raise CheckpointError(f"{path}: no 'model' section")
    config = DynamicsConfig.from_dict(meta["model"])
    weights = _read_weights(folder / WEIGHTS_FILE, parameter_shapes(config))
    model = DynamicsModel(config)
    model.load_state_dict({k: v.float() for k, v in weights.items()})
    model.meta = meta
    return model.to(torch.device(device)).eval()


def _read_weights(path: Path, expected: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """The tensors of `path`, with exactly the names and shapes `expected`, all finite floats.

    Raises:
        CheckpointError: missing, not safetensors, other names or shapes, NaN or Inf.
    """
    if not path.is_file():
        raise CheckpointError(f"{path.parent}: no {path.name}; the velocity model is incomplete")
    try:
        tensors = load_safetensors(path.read_bytes())
    except (SafetensorError, ValueError, RuntimeError, OSError) as e:
        raise CheckpointError(f"{path}: corrupted or not a safetensors file ({e})") from e
    if set(tensors) != set(expected):
        odd = sorted(set(tensors) ^ set(expected))[:3]
        raise CheckpointError(f"{path}: weights do not match {CONFIG_FILE} ({', '.join(odd)})")
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != expected[name] or not tensor.is_floating_point():
            raise CheckpointError(f"{path}: tensor {name} has shape {tuple(tensor.shape)} "
                                  f"({tensor.dtype}); {CONFIG_FILE} implies {expected[name]}")  # fmt: skip
        if not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: tensor {name} holds NaN or Inf values")
    return tensors


def find_dynamics(checkpoint_folder: str | Path) -> Path | None:
    """The `dynamics/` folder beside a generator checkpoint's files, if it holds a velocity model."""
    folder = Path(checkpoint_folder) / FOLDER_NAME
    return folder if (folder / CONFIG_FILE).is_file() else None
