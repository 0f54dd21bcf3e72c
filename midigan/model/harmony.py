"""A small learned chord-progression model: the harmony compose plays when none is asked for.

A piece's harmony is a sequence of *slots*, two per bar (the chord in force at the
downbeat and at the middle of the bar), so the model learns the corpus's harmonic
rhythm (one chord a bar repeats its id, two chords a bar change at the middle) and,
from where each slot stands in the form, its cadences. Chord ids are those of
:mod:`midigan.representations.ids`, roots moved to tonic C as the generator sees them.

Each slot's input is the previous slot's chord plus the piece's style, meter and mode
and the slot's place in the form (bar index from the start, bars remaining, half of
the bar), each clamped and embedded, summed, and fed to one GRU layer; a linear head
gives the next chord's logits. Sampling honours forced slots (a user's chords) and
draws every other slot from per-piece uniforms made from the piece's own seed, so a
piece of a batch gets the chords it would get alone.

Saved beside a generator checkpoint as ``harmony.safetensors`` + ``harmony.json``.
"""

from __future__ import annotations

import hashlib
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

from midigan.errors import CheckpointError
from midigan.model.config import config_json_bytes
from midigan.representations.ids import METER_NAMES, N_CHORDS, STYLES

HARMONY_WEIGHTS = "harmony.safetensors"
HARMONY_CONFIG = "harmony.json"
HARMONY_FORMAT = "midigan-harmony"
HARMONY_VERSION = 1
FREE = -1
"""A slot value that leaves the chord to the model (anything >= 0 is a forced chord id)."""


@dataclass(frozen=True)
class HarmonyConfig:
    """Sizes of the chord model; saved in harmony.json."""

    embed: int = 64
    hidden: int = 128
    n_chord: int = N_CHORDS
    n_style: int = len(STYLES)
    n_meter: int = len(METER_NAMES)
    n_mode: int = 2
    max_bar: int = 32  # bar-index ids 0..max_bar-1; later bars share the last id
    max_remaining: int = 16  # bars-remaining ids 1..max_remaining (including the current bar)
    temperature: float = 1.0  # the sampling temperature the model was tuned for

    def check(self) -> None:
        """Raises: CheckpointError: a size out of range or an id space this midigan lacks."""
        limits = {"embed": (1, 4096), "hidden": (1, 4096), "max_bar": (1, 1024), "max_remaining": (1, 1024)}
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                raise CheckpointError(f"harmony model: {name} = {value!r} is out of range")
        expected = {"n_chord": N_CHORDS, "n_style": len(STYLES), "n_meter": len(METER_NAMES), "n_mode": 2}
        for name, value in expected.items():
            if getattr(self, name) != value:
                raise CheckpointError(
                    f"harmony model: {name} = {getattr(self, name)!r}, this midigan has {value}"
                )
        if not isinstance(self.temperature, (int, float)) or not 0 < self.temperature <= 10:
            raise CheckpointError(f"harmony model: temperature = {self.temperature!r} is out of range")


@dataclass
class SlotConditions:
    """The per-slot condition ids of a batch of B pieces of S slots (padded), as tensors.

    Attributes:
        style, mode: (B,) ids.
        meter, bar, remaining, half: (B, S) ids (already clamped).
    """

    style: torch.Tensor
    mode: torch.Tensor
    meter: torch.Tensor
    bar: torch.Tensor
    remaining: torch.Tensor
    half: torch.Tensor

    @classmethod
    def build(
        cls, config: HarmonyConfig, style: list[int], mode: list[int], bar_meters: list[np.ndarray]
    ) -> SlotConditions:
        """Conditions for pieces whose bars have the meter ids `bar_meters[i]` (two slots a bar)."""
        S = 2 * max(len(m) for m in bar_meters)
        B = len(bar_meters)
        meter = np.zeros((B, S), dtype=np.int64)
        bar = np.zeros((B, S), dtype=np.int64)
        remaining = np.ones((B, S), dtype=np.int64)
        half = np.tile(np.arange(S) % 2, (B, 1))
        for i, meters in enumerate(bar_meters):
            n = len(meters)
            index = np.arange(n)
            meter[i, : 2 * n] = np.repeat(np.asarray(meters, dtype=np.int64), 2)
            bar[i, : 2 * n] = np.repeat(np.minimum(index, config.max_bar - 1), 2)
            remaining[i, : 2 * n] = np.repeat(np.clip(n - index, 1, config.max_remaining), 2)
        return cls(
            torch.as_tensor(style, dtype=torch.long),
            torch.as_tensor(mode, dtype=torch.long),
            *(torch.from_numpy(a) for a in (meter, bar, remaining, half)),
        )


class HarmonyModel(nn.Module):
    """Next-chord model over half-bar slots (see the module docstring)."""

    def __init__(self, config: HarmonyConfig) -> None:
        super().__init__()
        self.config = config
        E = config.embed
        self.chord = nn.Embedding(config.n_chord + 1, E)  # + begin-of-piece id
        self.style = nn.Embedding(config.n_style, E)
        self.mode = nn.Embedding(config.n_mode, E)
        self.meter = nn.Embedding(config.n_meter, E)
        self.bar = nn.Embedding(config.max_bar, E)
        self.remaining = nn.Embedding(config.max_remaining + 1, E)
        self.half_slot = nn.Embedding(2, E)
        self.rnn = nn.GRU(E, config.hidden, batch_first=True)
        self.head = nn.Linear(config.hidden, config.n_chord)

    @property
    def bos(self) -> int:
        return self.config.n_chord

    def _inputs(self, prev: torch.Tensor, cond: SlotConditions, t: slice) -> torch.Tensor:
        """Summed embeddings (B, T, E) of the previous chords `prev` (B, T) at slots `t`."""
        piece = (self.style(cond.style) + self.mode(cond.mode))[:, None]  # (B, 1, E)
        return (
            self.chord(prev)
            + piece
            + self.meter(cond.meter[:, t])
            + self.bar(cond.bar[:, t])
            + self.remaining(cond.remaining[:, t])
            + self.half_slot(cond.half[:, t])
        )

    def forward(self, chords: torch.Tensor, cond: SlotConditions) -> torch.Tensor:
        """Teacher-forced logits (B, S, n_chord) of every slot of `chords` (B, S)."""
        B, S = chords.shape
        assert cond.meter.shape == (B, S), f"conditions {tuple(cond.meter.shape)} != chords {(B, S)}"
        prev = torch.cat([torch.full((B, 1), self.bos, dtype=torch.long), chords[:, :-1]], 1)
        out, _ = self.rnn(self._inputs(prev, cond, slice(None)))
        return self.head(out)

    @torch.no_grad()
    def sample(
        self,
        cond: SlotConditions,
        forced: torch.Tensor,
        uniforms: torch.Tensor,
        temperature: float | None = None,
    ) -> torch.Tensor:
        """Chord ids (B, S): forced slots kept, :data:`FREE` slots drawn one after another.

        Args:
            cond: the slots' conditions.
            forced: (B, S) chord id to force, or FREE.
            uniforms: (B, S) in [0, 1): each piece's own draws (inverse-CDF sampling, so
                a piece's chords do not depend on the other pieces of the batch).
            temperature: softmax temperature; None = the model's tuned one.

        A free slot never draws 'no chord' (id 0): the user asked for chords.
        """
        temperature = self.config.temperature if temperature is None else temperature
        B, S = forced.shape
        out = torch.empty((B, S), dtype=torch.long)
        prev = torch.full((B, 1), self.bos, dtype=torch.long)
        state = None
        for t in range(S):
            h, state = self.rnn(self._inputs(prev, cond, slice(t, t + 1)), state)
            logits = self.head(h[:, 0]).double() / temperature
            logits[:, 0] = -torch.inf
            cdf = torch.softmax(logits, -1).cumsum(-1)
            drawn = torch.searchsorted(cdf, (uniforms[:, t : t + 1].double() * cdf[:, -1:]).contiguous())
            drawn = drawn.squeeze(1).clamp(max=self.config.n_chord - 1)
            out[:, t] = torch.where(forced[:, t] >= 0, forced[:, t], drawn)
            prev = out[:, t : t + 1]
        return out


def piece_uniforms(seeds: list[int], slots: int) -> torch.Tensor:
    """(len(seeds), slots) uniforms, each row drawn from a torch.Generator seeded by that piece's seed."""
    rows = []
    for seed in seeds:
        digest = hashlib.sha256(f"midigan-harmony:{seed}".encode()).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)
        rows.append(torch.rand(slots, generator=generator, dtype=torch.float64))
    return torch.stack(rows)


# ------------------------------------------------------------------ files
def harmony_files(model: HarmonyModel, meta: dict[str, Any]) -> dict[str, bytes]:
    """The bytes of harmony.safetensors and harmony.json (config, `meta`: metrics, training)."""
    weights = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    record = {**meta, "format": HARMONY_FORMAT, "format_version": HARMONY_VERSION}
    record["config"] = asdict(model.config)
    record["vocab"] = {"chords": N_CHORDS, "styles": list(STYLES), "meters": list(METER_NAMES)}
    return {
        HARMONY_WEIGHTS: save_safetensors(weights, metadata={"format": HARMONY_FORMAT}),
        HARMONY_CONFIG: config_json_bytes(record),
    }


def load_harmony(folder: str | Path) -> HarmonyModel | None:
    """The harmony model saved in checkpoint `folder`; None when it has none.

    Raises:
        CheckpointError: one of the two files missing, corrupted, not ours, or not
            matching its config (one line naming the file).
    """
    folder = Path(folder)
    config_path, weights_path = folder / HARMONY_CONFIG, folder / HARMONY_WEIGHTS
    if not config_path.exists() and not weights_path.exists():
        return None
    if not config_path.exists() or not weights_path.exists():
        missing = config_path if not config_path.exists() else weights_path
        raise CheckpointError(
            f"{missing}: missing; the harmony model needs {HARMONY_WEIGHTS} and {HARMONY_CONFIG}"
        )
    try:
        record = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{config_path}: not valid JSON ({e}); the harmony model is corrupted") from e
    if not isinstance(record, dict) or record.get("format") != HARMONY_FORMAT:
        raise CheckpointError(
            f"{config_path}: not a midigan harmony config (format is not {HARMONY_FORMAT!r})"
        )
    if record.get("format_version") != HARMONY_VERSION:
        raise CheckpointError(
            f"{config_path}: harmony format version {record.get('format_version')!r}; "
            f"this midigan reads version {HARMONY_VERSION}"
        )
    raw = record.get("config")
    known = {f.name for f in fields(HarmonyConfig)}
    if not isinstance(raw, dict) or set(raw) - known:
        raise CheckpointError(f"{config_path}: invalid harmony config section")
    config = HarmonyConfig(**raw)
    config.check()
    try:
        weights = load_safetensors(weights_path.read_bytes())
    except (SafetensorError, ValueError, RuntimeError, OSError) as e:
        raise CheckpointError(f"{weights_path}: corrupted or not a safetensors file ({e})") from e
    with torch.random.fork_rng(devices=[]):  # the weights are about to be replaced: draw nothing from
        model = HarmonyModel(config)  # the caller's RNG (a resumed training run must not see this load)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in weights.items()}
    if expected != found:
        raise CheckpointError(f"{weights_path}: weights do not match {HARMONY_CONFIG}")
    if not all(bool(torch.isfinite(v).all()) for v in weights.values()):
        raise CheckpointError(f"{weights_path}: holds NaN or Inf values; the harmony model is unusable")
    model.load_state_dict({k: v.float() for k, v in weights.items()})
    return model.eval()
