"""The class-id vocabulary of :class:`~midigan.representations.streams.NoteStreams`: `StreamVocab`.

Fitted to a corpus (pitch range, the event lengths that cover it, velocity bins) and
saved as JSON inside every checkpoint, so a model carries its vocabulary with it and
never needs pickle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from midigan.errors import ConfigError
from midigan.representations.ids import MAX_BAR_INDEX, MAX_BARS_REMAINING, MAX_POSITION
from midigan.representations.streams import REST, NoteStreams, StreamsTemplate, condition_track

STREAM_FORMAT = "midigan.StreamVocab"
STREAM_VERSION = 1

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
        durations = self.durations
        if not durations or durations[0] < 1 or np.any(np.diff(durations) <= 0):
            raise ConfigError(f"durations must be positive and strictly ascending (got {durations})")
        edges = self.velocity_edges
        if len(edges) < 2 or np.any(np.diff(edges) <= 0):
            raise ConfigError(f"velocity_edges must be at least two ascending values (got {edges})")

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
        for melody in streams:
            pitches.append(melody.pitch[melody.pitch != REST])
            durations.append(np.asarray(melody.duration, dtype=np.int64))
            bars.update(m.bar_ticks for m in melody.meters)
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
        for melody in streams:
            hits += int(np.isin(melody.duration, known).sum())
            total += len(melody.duration)
        return hits / total if total else 1.0

    # -------------------------------------------------------------- ids
    def split(self, streams: NoteStreams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pitch, duration, velocity with every duration in the vocabulary, tiling kept.

        An event of unknown length keeps the largest vocabulary length that fits; the
        remainder becomes rests, split greedily.

        Raises:
            ConfigError: a remainder shorter than the shortest vocabulary duration.
        """
        known = np.asarray(self.durations, dtype=np.int64)
        duration = np.asarray(streams.duration, dtype=np.int64)
        off = np.flatnonzero(~np.isin(duration, known))
        if not len(off):
            return np.asarray(streams.pitch), duration, np.asarray(streams.velocity)
        pieces = np.ones(len(duration), dtype=np.int64)
        parts: dict[int, list[int]] = {}
        for i in off.tolist():
            parts[i] = self._greedy(int(duration[i]))
            pieces[i] = len(parts[i])
        source = np.repeat(np.arange(len(duration)), pieces)
        first = np.ones(len(source), dtype=bool)
        first[1:] = source[1:] != source[:-1]
        pitch = np.where(first, np.asarray(streams.pitch)[source], REST)
        velocity = np.where(first, np.asarray(streams.velocity)[source], 0)
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

    def encode(self, streams: NoteStreams) -> dict[str, Any]:
        """Class ids for the model.

        Returns:
            `pitch`, `duration`, `velocity`, `chord`, `position` (clipped to
            MAX_POSITION - 1), `bars_remaining` (clipped to 1..MAX_BARS_REMAINING),
            `meter`, `bar_index` (clipped to MAX_BAR_INDEX - 1): `(N',)` int64 arrays,
            N' >= N after splitting; `mode`, `style`: ints.
        """
        pitch, duration, velocity = self.split(streams)
        conditions = condition_track(duration, streams)
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
            "chord": conditions["chord"].astype(np.int64),
            "position": np.clip(conditions["position"], 0, MAX_POSITION - 1).astype(np.int64),
            "bars_remaining": np.clip(conditions["bars_remaining"], 1, MAX_BARS_REMAINING).astype(np.int64),
            "meter": conditions["meter"].astype(np.int64),
            "bar_index": np.clip(conditions["bar_index"], 0, MAX_BAR_INDEX - 1).astype(np.int64),
            "mode": int(streams.mode),
            "style": int(streams.style),
        }

    def decode(self, ids: Mapping[str, np.ndarray], template: StreamsTemplate) -> NoteStreams:
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
        template_streams = template.streams_template()
        total = template_streams.total_ticks()
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
        return NoteStreams.from_events(pitch, duration, velocity, template_streams)

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
    def from_json(cls, data: dict[str, Any]) -> StreamVocab:
        """Rebuild from :meth:`to_json` output.

        Raises:
            ConfigError: not a stream vocabulary, another version, or invalid values.
        """
        if not isinstance(data, dict) or data.get("format") != STREAM_FORMAT:
            raise ConfigError(f"not a midigan stream vocabulary (expected format {STREAM_FORMAT!r})")
        if data.get("version") != STREAM_VERSION:
            raise ConfigError(f"stream vocabulary version {data.get('version')!r}; this midigan reads 1")
        try:
            return cls(
                int(data["pitch_low"]),
                int(data["pitch_high"]),
                tuple(data["durations"]),
                tuple(data["velocity_edges"]),
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
