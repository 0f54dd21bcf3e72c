"""`NoteStreams`: the model's view of one melody (class ids: :mod:`~midigan.representations.stream_vocab`).

A melody becomes a sequence of events that tile the piece from tick 0 to the last
barline with no gaps: rests are events too. Each event has three streams the model
predicts (pitch or rest, duration, velocity) and the conditions it is given (chord at
the onset, position in the bar, bars remaining, meter, bar index). The conditions are a pure
function of the durations and the piece's *timeline* — its barlines, the meter of each
bar and its chord changes — (:func:`condition_track`): the sampler mirrors that function
in torch, so a generated melody is conditioned on its own timeline exactly as a training
melody is. A generated melody takes its timeline and per-piece fields from a template:
another NoteStreams, or a request that describes one (:class:`StreamsTemplate`).

Pitches are moved so the tonic is C (`shift` semitones, -5..+6); chord ids move
with them, while `chord_labels`, `key` and :meth:`NoteStreams.to_score` stay in the
original key. Positions and bars remaining are stored raw (ticks, bars);
:meth:`~midigan.representations.stream_vocab.StreamVocab.encode` clips them to the model's id
ranges (:data:`~midigan.representations.ids.MAX_POSITION`,
:data:`~midigan.representations.ids.MAX_BARS_REMAINING`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from midigan.errors import ConfigError
from midigan.music.melody import extract_melody
from midigan.music.score import ChordLabel, KeySignature, Meter, Note, Score, Tempo, Track, bar_grid
from midigan.representations.ids import meter_id, mode_id, shift_to_c, shifted_chord_ids, style_id

REST = -1
"""Pitch value of a rest event in :class:`NoteStreams`."""


class StreamsTemplate(Protocol):
    """What fixes a melody's timeline and per-piece fields before its events are known.

    A :class:`NoteStreams` is its own template; a request
    (:class:`~midigan.representations.conditions.Conditions`) gives the melody it describes.
    """

    def streams_template(self) -> NoteStreams: ...


# ----------------------------------------------------------------- timeline
@dataclass(frozen=True)
class PieceTimeline:
    """Everything the conditions depend on besides the durations: barlines, meters, chords.

    The one per-piece timeline: the streams' own condition ids, the training cache and the
    model's batched :class:`~midigan.model.conditioning.Timeline` all read it.
    """

    bar_starts: np.ndarray  # (bars + 1,) int64 barline ticks
    bar_meter: np.ndarray  # (bars,) int64 meter id per bar
    chord_ticks: np.ndarray  # (C,) int64 label ticks, sorted
    chord_ids: np.ndarray  # (C,) int64 chord ids, roots moved by the shift

    @classmethod
    def build(
        cls, meters: list[Meter], bar_count: int, labels: list[ChordLabel], shift: int
    ) -> PieceTimeline:
        bar_starts, bar_meters = bar_grid(meters, bar_count)
        ordered = sorted(labels, key=lambda c: c.tick)
        return cls(
            np.asarray(bar_starts, dtype=np.int64),
            np.asarray([meter_id(m.numerator, m.denominator) for m in bar_meters], dtype=np.int64),
            np.asarray([c.tick for c in ordered], dtype=np.int64),
            np.asarray(shifted_chord_ids(ordered, shift), dtype=np.int64),
        )

    @classmethod
    def of(cls, template: StreamsTemplate) -> PieceTimeline:
        """The timeline of a melody, or of the melody a request describes (chords moved to C)."""
        streams = template.streams_template()
        return cls.build(streams.meters, streams.bar_count, streams.chord_labels, streams.shift)

    def condition_track(self, durations: np.ndarray) -> dict[str, np.ndarray]:
        """See :func:`condition_track`."""
        durations = np.asarray(durations, dtype=np.int64)
        onset = np.cumsum(durations) - durations
        n_bars = len(self.bar_starts) - 1
        bar = np.clip(np.searchsorted(self.bar_starts, onset, side="right") - 1, 0, max(n_bars - 1, 0))
        chord = np.zeros_like(onset)
        if len(self.chord_ids):
            label = np.searchsorted(self.chord_ticks, onset, side="right") - 1
            chord = np.where(label >= 0, self.chord_ids[np.maximum(label, 0)], 0)
        meter = self.bar_meter[bar] if n_bars else np.zeros_like(onset)
        return {
            "onset": onset.astype(np.int32),
            "position": (onset - self.bar_starts[bar]).astype(np.int16),
            "bars_remaining": np.maximum(n_bars - bar, 1).astype(np.int16),
            "chord": chord.astype(np.int16),
            "meter": np.asarray(meter, dtype=np.int16),
            "bar_index": bar.astype(np.int16),
        }


def condition_track(durations: np.ndarray, template: StreamsTemplate) -> dict[str, np.ndarray]:
    """The condition timeline a sequence of event durations implies.

    This is the reference the model's sampler mirrors in torch. Onsets are the
    running sum of durations from tick 0; each event gets the bar holding its onset
    (events past the last barline count as in the last bar), the position from
    that barline, the bars remaining including the current one (>= 1), that bar's
    meter id, the bar's index from the first barline (0-based; a pickup is stored padded
    to a whole bar, so it is bar 0), and the chord id at the onset, transposed to C (by the requested
    key's shift for a Conditions, by the streams' own `shift` for a NoteStreams).

    Args:
        durations: `(N,)` event lengths in ticks.
        template: the request (or a melody) whose timeline to follow.

    Returns:
        Arrays `onset` (int32), `position`, `bars_remaining`, `chord`, `meter`, `bar_index` (int16),
        raw, not clipped to the model's id ranges.
    """
    return PieceTimeline.of(template).condition_track(durations)


# ---------------------------------------------------------------- streams
@dataclass
class NoteStreams:
    """The model's view of one melody: events that tile [0, last barline) with no gaps.

    Attributes:
        pitch: `(N,)` int16 MIDI pitch moved by `shift`, or :data:`REST`.
        duration: `(N,)` int32 ticks, > 0.
        velocity: `(N,)` int16, 0 for rests.
        onset: `(N,)` int32 ticks (running sum of durations from 0).
        chord: `(N,)` int16 chord id at the onset (root moved by `shift`).
        position: `(N,)` int16 ticks from the barline of the bar holding the onset.
        bars_remaining: `(N,)` int16 bars left including the current one (>= 1).
        meter: `(N,)` int16 meter id at the onset.
        bar_index: `(N,)` int16 index of the bar holding the onset (0 = the first bar).
        mode, style: ids (:func:`~midigan.representations.ids.mode_id`, `style_id`).
        shift: semitones added to reach tonic C (undo with `-shift`).
        bar_count: number of bars tiled.
        meters, tempos: the piece's maps (original ticks).
        key: the key at tick 0, or None.
        chord_labels: the original (untransposed) chord labels, restored by `to_score`.
    """

    pitch: np.ndarray
    duration: np.ndarray
    velocity: np.ndarray
    onset: np.ndarray
    chord: np.ndarray
    position: np.ndarray
    bars_remaining: np.ndarray
    meter: np.ndarray
    bar_index: np.ndarray
    mode: int
    style: int
    shift: int
    bar_count: int
    meters: list[Meter] = field(default_factory=lambda: [Meter(0, 4, 4)])
    tempos: list[Tempo] = field(default_factory=lambda: [Tempo(0, 120.0)])
    key: KeySignature | None = None
    chord_labels: list[ChordLabel] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pitch)

    def total_ticks(self) -> int:
        """Length of the piece in ticks (the last barline)."""
        return int(self.bar_starts()[-1])

    def bar_starts(self) -> np.ndarray:
        """Barline ticks, `bar_count + 1` of them."""
        return np.asarray(bar_grid(self.meters, self.bar_count)[0], dtype=np.int64)

    def streams_template(self) -> NoteStreams:
        """A melody is its own template (:class:`StreamsTemplate`): its events are ignored."""
        return self

    def pitches_in_key(self) -> np.ndarray:
        """Pitches moved back to the original key (`pitch - shift`); rests stay :data:`REST`."""
        return np.where(self.pitch == REST, REST, self.pitch - self.shift).astype(np.int16)

    # ------------------------------------------------------------- building
    @classmethod
    def from_events(
        cls,
        pitch: np.ndarray,
        duration: np.ndarray,
        velocity: np.ndarray,
        template: StreamsTemplate,
    ) -> NoteStreams:
        """Streams from the three predicted streams; conditions and metadata from `template`.

        The conditions are recomputed with :func:`condition_track`. Events are taken
        as given (see :meth:`~midigan.representations.stream_vocab.StreamVocab.decode`
        for fitting them to the bars).
        """
        return cls._assemble(pitch, duration, velocity, _meta_of(template.streams_template()))

    @classmethod
    def _assemble(
        cls, pitch: np.ndarray, duration: np.ndarray, velocity: np.ndarray, meta: dict[str, Any]
    ) -> NoteStreams:
        pitch = np.asarray(pitch, dtype=np.int16)
        duration = np.asarray(duration, dtype=np.int32)
        velocity = np.where(pitch == REST, 0, np.asarray(velocity)).astype(np.int16)
        timeline = PieceTimeline.build(meta["meters"], meta["bar_count"], meta["chord_labels"], meta["shift"])
        return cls(pitch, duration, velocity, **timeline.condition_track(duration), **meta)

    @classmethod
    def from_score(
        cls, score: Score, style: str | None = None, to_c: bool = True, melody_track: int | None = None
    ) -> NoteStreams:
        """The melody of `score` as streams.

        Args:
            score: the piece.
            style: corpus collection name (see :data:`~midigan.representations.ids.STYLES`).
            to_c: move pitches and chord ids so the key at tick 0 has tonic C.
            melody_track: take this track (made monophonic) instead of the melody rule
                of :func:`midigan.music.melody.extract_melody`.

        Raises:
            TheoryError: unknown style.
            IndexError: `melody_track` out of range.
        """
        starts = score.bar_starts()
        total = starts[-1]
        key = score.key_at(0)
        shift = shift_to_c(key.tonic) if to_c and key is not None else 0
        has_pitched = any(t.notes and not t.is_drum for t in score.tracks)
        notes = extract_melody(score, melody_track).notes if has_pitched or melody_track is not None else []
        meta = {
            "mode": mode_id(key.mode) if key is not None else 0,
            "style": style_id(style),
            "shift": shift,
            "bar_count": len(starts) - 1,
            "meters": list(score.meters),
            "tempos": list(score.tempos),
            "key": key,
            "chord_labels": [c for c in score.chords if c.tick < total],
        }
        return cls._assemble(*_tile(notes, total, shift), meta)

    # ------------------------------------------------------------ decoding
    def to_score(self) -> Score:
        """One track "Melody" in the original key, with the piece's maps; ends at the last barline."""
        keep = self.pitch != REST
        back = self.pitch[keep].astype(np.int64) - self.shift
        notes = [
            Note(int(p), int(o), int(d), int(v))
            for p, o, d, v in zip(
                back.tolist(),
                self.onset[keep].tolist(),
                self.duration[keep].tolist(),
                self.velocity[keep].tolist(),
                strict=True,
            )
        ]
        return Score(
            tracks=[Track("Melody", 0, False, notes)],
            tempos=list(self.tempos),
            meters=list(self.meters),
            keys=[self.key] if self.key is not None else [],
            chords=list(self.chord_labels),
            end_tick=self.total_ticks(),
        )

    def bars_window(self, start_bar: int, n_bars: int) -> NoteStreams:
        """The events of bars `start_bar .. start_bar + n_bars - 1`, re-based to tick 0.

        A note crossing the window's end is cut there; one sounding into the window
        from before it becomes a rest (its attack is outside). Meters, tempos and
        chord labels in force at the window start move to tick 0; bars remaining
        count down to the window's end.

        Raises:
            ConfigError: the window is empty or reaches past the piece.
        """
        if n_bars < 1 or start_bar < 0 or start_bar + n_bars > self.bar_count:
            raise ConfigError(
                f"bars window {start_bar}+{n_bars} is outside the piece's {self.bar_count} bars"
            )
        starts = self.bar_starts()
        lo, hi = int(starts[start_bar]), int(starts[start_bar + n_bars])
        onset = np.cumsum(self.duration, dtype=np.int64) - self.duration
        stop = onset + self.duration
        inside = (stop > lo) & (onset < hi)
        pitch, velocity = self.pitch[inside].copy(), self.velocity[inside].copy()
        first, last = np.maximum(onset[inside], lo), np.minimum(stop[inside], hi)
        started_before = onset[inside] < lo
        pitch[started_before], velocity[started_before] = REST, 0
        template = replace(
            self,
            bar_count=n_bars,
            meters=_rebase(self.meters, lo, hi, fallback=True),
            tempos=_rebase(self.tempos, lo, hi, fallback=True),
            chord_labels=_rebase(self.chord_labels, lo, hi, fallback=False),
        )
        return NoteStreams.from_events(pitch, last - first, velocity, template)


def _meta_of(template: NoteStreams) -> dict[str, Any]:
    """The per-piece fields of a NoteStreams, for another melody to take."""
    return {
        "mode": template.mode,
        "style": template.style,
        "shift": template.shift,
        "bar_count": template.bar_count,
        "meters": list(template.meters),
        "tempos": list(template.tempos),
        "key": template.key,
        "chord_labels": list(template.chord_labels),
    }


def _tile(notes: list[Note], total: int, shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pitch, duration, velocity events tiling [0, total): rests fill every gap."""
    pitch: list[int] = []
    duration: list[int] = []
    velocity: list[int] = []
    cursor = 0
    ordered = sorted(notes, key=lambda n: n.onset)
    for note, after in zip(ordered, [*ordered[1:], None][: len(ordered)], strict=True):
        if note.onset < cursor or note.onset >= total:
            continue
        stop = min(note.offset, total, after.onset if after is not None else total)
        if stop <= note.onset:
            continue
        if note.onset > cursor:
            pitch.append(REST), duration.append(note.onset - cursor), velocity.append(0)
        pitch.append(note.pitch + shift), duration.append(stop - note.onset), velocity.append(note.velocity)
        cursor = stop
    if cursor < total:
        pitch.append(REST), duration.append(total - cursor), velocity.append(0)
    return np.asarray(pitch), np.asarray(duration), np.asarray(velocity)


def _rebase(changes: list, lo: int, hi: int, fallback: bool) -> list:
    """Map entries to a window [lo, hi): the one in force at `lo` moves to 0, later ones shift.

    With `fallback`, a map whose first entry comes after `lo` still rules from 0
    (as the first meter or tempo does in a Score).
    """
    ordered = sorted(changes, key=lambda c: c.tick)
    in_force = [c for c in ordered if c.tick <= lo][-1:] or (ordered[:1] if fallback else [])
    inside = [c for c in ordered if lo < c.tick < hi]
    return [replace(c, tick=max(c.tick - lo, 0)) for c in in_force + inside]


__all__ = ["REST", "NoteStreams", "PieceTimeline", "StreamsTemplate", "condition_track"]
