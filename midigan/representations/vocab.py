"""The vocabularies: `TokenVocab` for event tokens, `StreamVocab` for note streams.

Both save and load themselves as JSON, so a model carries its vocabulary with it
and never needs pickle.

`TokenVocab` is built deterministically from an `EventConfig`.

The vocabulary is a pure function of its config, so a model only needs the config
to rebuild it; it is still saved in full (JSON) next to any model that uses it, and
loading checks that the saved token list is the one the config builds, which
catches a vocabulary from another midigan version before it garbles a decode.

Token families, in id order: `PAD BOS EOS Bar Drum`, `Position_<tick>`,
`Meter_<n>/<d>`, `Tempo_<qpm>`, `Key_<name>`, `Chord_<symbol>`, `Track_<i>`,
`Program_<p>`, `Pitch_<p>`, `Duration_<ticks>`, `Velocity_<v>`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from midigan.errors import ConfigError
from midigan.music import theory
from midigan.representations.conditions import (
    MAX_BARS_REMAINING,
    MAX_POSITION,
    N_CHORDS,
    Conditions,
    chord_from_id,
)

if TYPE_CHECKING:
    from midigan.representations.streams import NoteStreams

REST = -1
"""Pitch value of a rest event in :class:`~midigan.representations.streams.NoteStreams`."""

FORMAT = "midigan.TokenVocab"
VERSION = 1
STREAM_FORMAT = "midigan.StreamVocab"
STREAM_VERSION = 1

# Token kinds: the grammar works on these small ints, not on strings.
PAD, BOS, EOS, BAR, DRUM, POSITION, METER, TEMPO, KEY, CHORD, TRACK, PROGRAM, PITCH, DURATION, VELOCITY = (
    range(15)
)
KIND_NAMES = (
    "PAD", "BOS", "EOS", "Bar", "Drum", "Position", "Meter", "Tempo", "Key", "Chord", "Track",
    "Program", "Pitch", "Duration", "Velocity",
)  # fmt: skip

METER_DENOMINATORS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class EventConfig:
    """What the event vocabulary can express.

    Attributes:
        max_position: positions 0..max_position-1 ticks from the barline. 192 ticks
            (16 quarters) holds every bar up to 4/1, 16/4 or 32/8; the model's
            stream conditions clip at 96, but tokens must be exact.
        max_duration: durations 1..max_duration ticks exact (192 = four 4/4 bars);
            longer notes are clipped with a warning.
        max_tracks: track slots.
        max_meter_numerator: meters n/d with 1 <= n <= this and d in 1, 2, 4 ... 32.
        min_qpm, max_qpm: tempo tokens, one per whole qpm; others round and clip
            (with a warning). 600 because corpus tunes notated in fast quarters reach 480.
    """

    max_position: int = 192
    max_duration: int = 192
    max_tracks: int = 64
    max_meter_numerator: int = 32
    min_qpm: int = 20
    max_qpm: int = 600

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventConfig:
        """Rebuild a config; unknown keys are an error (they mean another version).

        Raises:
            ConfigError: unknown keys or non-integer values.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown EventConfig keys {unknown}: the vocabulary is from another version")
        if not all(isinstance(v, int) and v > 0 for v in data.values()):
            raise ConfigError(f"EventConfig values must be positive integers (got {data})")
        return cls(**data)


class TokenVocab:
    """Token strings and ids, with each token's kind and value for fast decoding.

    Attributes:
        config: the config the vocabulary was built from.
        tokens: token strings; id = index.
        kinds: kind code of each id (see `KIND_NAMES`).
        values: the number each token carries (tick, pitch, qpm, chord id, ...; 0 for none).
        base: first id of each kind, so encoders compute ids arithmetically.
    """

    def __init__(self, config: EventConfig | None = None) -> None:
        self.config = config or EventConfig()
        c = self.config
        self.meters: list[tuple[int, int]] = [
            (n, d) for n in range(1, c.max_meter_numerator + 1) for d in METER_DENOMINATORS
        ]
        self.key_names = [theory.key_name(tonic, mode) for mode in ("major", "minor") for tonic in range(12)]
        families: list[tuple[int, list[str], list[int]]] = [
            (PAD, ["PAD"], [0]),
            (BOS, ["BOS"], [0]),
            (EOS, ["EOS"], [0]),
            (BAR, ["Bar"], [0]),
            (DRUM, ["Drum"], [0]),
            (POSITION, *_family("Position", range(c.max_position))),
            (METER, [f"Meter_{n}/{d}" for n, d in self.meters], list(range(len(self.meters)))),
            (TEMPO, *_family("Tempo", range(c.min_qpm, c.max_qpm + 1))),
            (KEY, [f"Key_{name}" for name in self.key_names], list(range(24))),
            (CHORD, [f"Chord_{theory.chord_symbol(*chord_from_id(i))}" for i in range(N_CHORDS)],
             list(range(N_CHORDS))),
            (TRACK, *_family("Track", range(c.max_tracks))),
            (PROGRAM, *_family("Program", range(128))),
            (PITCH, *_family("Pitch", range(128))),
            (DURATION, *_family("Duration", range(1, c.max_duration + 1))),
            (VELOCITY, *_family("Velocity", range(1, 128))),
        ]  # fmt: skip
        self.tokens: tuple[str, ...] = ()
        self.kinds: list[int] = []
        self.values: list[int] = []
        self.base: dict[int, int] = {}
        tokens: list[str] = []
        for kind, names, values in families:
            self.base[kind] = len(tokens)
            tokens += names
            self.kinds += [kind] * len(names)
            self.values += values
        self.tokens = tuple(tokens)
        self.index: dict[str, int] = {t: i for i, t in enumerate(tokens)}
        self.meter_index = {m: i for i, m in enumerate(self.meters)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenVocab) and other.tokens == self.tokens

    def __hash__(self) -> int:
        return hash(self.tokens)

    def __repr__(self) -> str:
        return f"TokenVocab({len(self)} tokens, {self.config})"

    def id_of(self, token: str) -> int:
        """Id of a token string.

        Raises:
            ConfigError: the token is not in the vocabulary.
        """
        try:
            return self.index[token]
        except KeyError:
            raise ConfigError(f"token {token!r} is not in the vocabulary") from None

    # --------------------------------------------------------------- files
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: format tag, config and the full token list."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "config": asdict(self.config),
            "tokens": list(self.tokens),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenVocab:
        """Rebuild from :meth:`to_json` output, checking the token list matches.

        Raises:
            ConfigError: not a token vocabulary, or one from another midigan version.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"not a midigan token vocabulary (expected format {FORMAT!r})")
        if data.get("version") != VERSION:
            raise ConfigError(
                f"token vocabulary version {data.get('version')!r}; this midigan reads {VERSION}"
            )
        vocab = cls(EventConfig.from_dict(data.get("config", {})))
        if "tokens" in data and tuple(data["tokens"]) != vocab.tokens:
            raise ConfigError(
                "saved token list differs from the one its config builds: another midigan version"
            )
        return vocab

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON (atomically) and return the path."""
        from midigan.io import write_atomic

        text = json.dumps(self.to_json(), indent=1)
        return write_atomic(Path(path), lambda: text.encode("utf-8"))

    @classmethod
    def load(cls, path: str | Path) -> TokenVocab:
        """Read a vocabulary written by :meth:`save`.

        Raises:
            ConfigError: unreadable, not JSON, or not a matching vocabulary.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path}: cannot read token vocabulary: {e}") from e
        return cls.from_json(data)


def _family(prefix: str, values: range) -> tuple[list[str], list[int]]:
    return [f"{prefix}_{v}" for v in values], list(values)


# ------------------------------------------------------------- stream vocab
ALWAYS_DURATIONS = (1, 2, 3, 4, 6, 12)
"""Tick lengths every fitted vocabulary holds, so any gap splits greedily into rests."""


@dataclass(frozen=True)
class StreamVocab:
    """Class-id vocabularies of the three streams; saved as JSON inside every checkpoint.

    Attributes:
        pitch_low, pitch_high: pitch id 0 = rest, `1 + (p - pitch_low)` otherwise.
            Pitches outside the range move by octaves into it (clipped if the range
            is narrower than an octave).
        durations: ascending tick lengths; duration id = index.
        velocity_edges: bin boundaries, `len = bins + 1`; bin i holds
            `[edges[i], edges[i+1])`; id = bin index; decodes to the bin centre.
            Rests take velocity id 0 (ignored on decode).
    """

    pitch_low: int
    pitch_high: int
    durations: tuple[int, ...]
    velocity_edges: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "durations", tuple(int(d) for d in self.durations))
        object.__setattr__(self, "velocity_edges", tuple(int(e) for e in self.velocity_edges))
        if not 0 <= self.pitch_low <= self.pitch_high <= 127:
            raise ConfigError(f"pitch range {self.pitch_low}..{self.pitch_high} must lie within 0..127")
        d = self.durations
        if not d or d[0] < 1 or np.any(np.diff(d) <= 0):
            raise ConfigError(f"durations must be positive and strictly ascending (got {d})")
        e = self.velocity_edges
        if len(e) < 2 or np.any(np.diff(e) <= 0):
            raise ConfigError(f"velocity_edges must be at least two ascending values (got {e})")

    @property
    def n_pitch(self) -> int:
        return 2 + self.pitch_high - self.pitch_low

    @property
    def n_duration(self) -> int:
        return len(self.durations)

    @property
    def n_velocity(self) -> int:
        return len(self.velocity_edges) - 1

    @property
    def velocity_centres(self) -> np.ndarray:
        edges = np.asarray(self.velocity_edges, dtype=np.int64)
        return np.clip((edges[:-1] + edges[1:] - 1) // 2, 1, 127)

    # --------------------------------------------------------------- fitting
    @classmethod
    def fit(
        cls, streams: Iterable[NoteStreams], coverage: float = 0.995, velocity_bins: int = 8
    ) -> StreamVocab:
        """Fit the vocabularies to a corpus.

        Pitch range: lowest to highest note seen. Durations: the most frequent event
        lengths (notes and rests) until they cover `coverage` of all events, plus
        :data:`ALWAYS_DURATIONS` and every bar length seen (so rests of any gap or
        whole bar split greedily). Velocity: `velocity_bins` equal bins over 1..127
        (corpora from notation have one or two velocities, so quantiles would collapse).

        Raises:
            ConfigError: no notes at all, or `coverage` outside (0, 1].
        """
        if not 0 < coverage <= 1:
            raise ConfigError(f"coverage must be in (0, 1] (got {coverage})")
        pitches, durations, bars = [], [], set()
        for s in streams:
            pitches.append(s.pitch[s.pitch != REST])
            durations.append(np.asarray(s.duration, dtype=np.int64))
            bars.update(m.bar_ticks for m in s.meters)
        notes = np.concatenate(pitches) if pitches else np.zeros(0)
        if not len(notes):
            raise ConfigError("cannot fit a StreamVocab: the streams hold no notes")
        lengths, counts = np.unique(np.concatenate(durations), return_counts=True)
        order = np.lexsort((lengths, -counts))
        needed = int(np.searchsorted(np.cumsum(counts[order]), coverage * counts.sum() - 1e-9)) + 1
        chosen = set(lengths[order][:needed].tolist()) | set(ALWAYS_DURATIONS) | bars
        edges = tuple(1 + 127 * i // velocity_bins for i in range(velocity_bins + 1))
        return cls(int(notes.min()), int(notes.max()), tuple(sorted(chosen)), edges)

    def coverage(self, streams: Iterable[NoteStreams]) -> float:
        """Share of events (notes and rests) whose duration is in the vocabulary (1.0 if none)."""
        known = np.asarray(self.durations)
        hits = total = 0
        for s in streams:
            hits += int(np.isin(s.duration, known).sum())
            total += len(s.duration)
        return hits / total if total else 1.0

    # -------------------------------------------------------------- ids
    def split(self, s: NoteStreams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pitch, duration, velocity with every duration in the vocabulary, tiling kept.

        An event of unknown length keeps the largest vocabulary length that fits; the
        remainder becomes rests, split greedily.

        Raises:
            ConfigError: a remainder shorter than the shortest vocabulary duration.
        """
        known = np.asarray(self.durations, dtype=np.int64)
        duration = np.asarray(s.duration, dtype=np.int64)
        off = np.flatnonzero(~np.isin(duration, known))
        if not len(off):
            return np.asarray(s.pitch), duration, np.asarray(s.velocity)
        pieces = np.ones(len(duration), dtype=np.int64)
        parts: dict[int, list[int]] = {}
        for i in off.tolist():
            parts[i] = self._greedy(int(duration[i]))
            pieces[i] = len(parts[i])
        source = np.repeat(np.arange(len(duration)), pieces)
        first = np.ones(len(source), dtype=bool)
        first[1:] = source[1:] != source[:-1]
        pitch = np.where(first, np.asarray(s.pitch)[source], REST)
        velocity = np.where(first, np.asarray(s.velocity)[source], 0)
        out = duration[source]
        starts = np.cumsum(pieces) - pieces
        for i, lengths in parts.items():
            out[starts[i] : starts[i] + len(lengths)] = lengths
        return pitch, out, velocity

    def _greedy(self, ticks: int) -> list[int]:
        lengths, left = [], ticks
        for d in reversed(self.durations):
            while left >= d:
                lengths.append(d)
                left -= d
        if left:
            raise ConfigError(
                f"cannot split {ticks} ticks into vocabulary durations (shortest {self.durations[0]}): "
                "include 1 in StreamVocab.durations"
            )
        return lengths

    def encode(self, s: NoteStreams) -> dict[str, Any]:
        """Class ids for the model.

        Returns:
            `pitch`, `duration`, `velocity`, `chord`, `position` (clipped to
            MAX_POSITION - 1), `bars_remaining` (clipped to 1..MAX_BARS_REMAINING),
            `meter`: `(N',)` int64 arrays, N' >= N after splitting; `mode`, `style`: ints.
        """
        from midigan.representations.streams import condition_track

        pitch, duration, velocity = self.split(s)
        cond = condition_track(duration, s)
        pitch_ids = np.zeros(len(pitch), dtype=np.int64)
        notes = pitch != REST
        folded = _fold(pitch[notes].astype(np.int64), self.pitch_low, self.pitch_high)
        pitch_ids[notes] = 1 + folded - self.pitch_low
        edges = np.asarray(self.velocity_edges)
        velocity_ids = np.clip(np.searchsorted(edges, velocity, side="right") - 1, 0, self.n_velocity - 1)
        return {
            "pitch": pitch_ids,
            "duration": np.searchsorted(np.asarray(self.durations), duration).astype(np.int64),
            "velocity": np.where(notes, velocity_ids, 0).astype(np.int64),
            "chord": cond["chord"].astype(np.int64),
            "position": np.clip(cond["position"], 0, MAX_POSITION - 1).astype(np.int64),
            "bars_remaining": np.clip(cond["bars_remaining"], 1, MAX_BARS_REMAINING).astype(np.int64),
            "meter": cond["meter"].astype(np.int64),
            "mode": int(s.mode),
            "style": int(s.style),
        }

    def decode(self, ids: Mapping[str, np.ndarray], template: NoteStreams | Conditions) -> NoteStreams:
        """Streams from class ids; conditions and metadata come from `template`.

        The events are fitted to the template's bars: those starting at or past the
        last barline are dropped, one crossing it is cut, and a short sequence is
        completed with a rest, so the result always tiles the piece.

        Raises:
            ConfigError: an id outside its vocabulary.
        """
        pitch_ids = np.asarray(ids["pitch"], dtype=np.int64)
        duration_ids = np.asarray(ids["duration"], dtype=np.int64)
        velocity_ids = np.asarray(ids.get("velocity", np.zeros_like(pitch_ids)), dtype=np.int64)
        for name, values, size in (
            ("pitch", pitch_ids, self.n_pitch),
            ("duration", duration_ids, self.n_duration),
            ("velocity", velocity_ids, self.n_velocity),
        ):
            if len(values) and (values.min() < 0 or values.max() >= size):
                raise ConfigError(
                    f"{name} ids must lie in 0..{size - 1} (got {values.min()}..{values.max()})"
                )
        pitch = np.where(pitch_ids == 0, REST, self.pitch_low + pitch_ids - 1)
        duration = np.asarray(self.durations, dtype=np.int64)[duration_ids]
        velocity = np.where(pitch_ids == 0, 0, self.velocity_centres[velocity_ids])
        from midigan.representations.streams import NoteStreams

        total = template.total_ticks()
        onset = np.cumsum(duration) - duration
        keep = onset < total
        pitch, duration, velocity = (
            pitch[keep],
            np.minimum(duration[keep], total - onset[keep]),
            velocity[keep],
        )
        if duration.sum() < total:
            gap = total - int(duration.sum())
            pitch, duration, velocity = (
                np.append(pitch, REST),
                np.append(duration, gap),
                np.append(velocity, 0),
            )
        return NoteStreams.from_events(pitch, duration, velocity, template)

    # --------------------------------------------------------------- files
    def to_json(self) -> dict[str, Any]:
        return {
            "format": STREAM_FORMAT,
            "version": STREAM_VERSION,
            "pitch_low": self.pitch_low,
            "pitch_high": self.pitch_high,
            "durations": list(self.durations),
            "velocity_edges": list(self.velocity_edges),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StreamVocab:
        """Rebuild from :meth:`to_json` output.

        Raises:
            ConfigError: not a stream vocabulary, another version, or invalid values.
        """
        if not isinstance(d, dict) or d.get("format") != STREAM_FORMAT:
            raise ConfigError(f"not a midigan stream vocabulary (expected format {STREAM_FORMAT!r})")
        if d.get("version") != STREAM_VERSION:
            raise ConfigError(f"stream vocabulary version {d.get('version')!r}; this midigan reads 1")
        try:
            return cls(
                int(d["pitch_low"]), int(d["pitch_high"]), tuple(d["durations"]), tuple(d["velocity_edges"])
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"stream vocabulary is incomplete or malformed: {e}") from e

    def dumps(self) -> str:
        """The JSON text of :meth:`to_json`."""
        return json.dumps(self.to_json())


def _fold(pitch: np.ndarray, low: int, high: int) -> np.ndarray:
    """Move pitches by octaves into [low, high]; clip where the range is under an octave."""
    above = pitch > high
    pitch = np.where(above, pitch - 12 * ((pitch - high + 11) // 12), pitch)
    below = pitch < low
    pitch = np.where(below, pitch + 12 * ((low - pitch + 11) // 12), pitch)
    return np.clip(pitch, low, high)
