"""Standard MIDI files in and out of :class:`~midigan.music.score.Score`.

Reading goes through symusic (a C++ parser, ~100x faster than mido): every corpus
pass reads thousands of files, so notes move from symusic's arrays to the grid in
bulk with numpy. Writing goes through mido, which gives exact control over the
order of events (note-offs before note-ons at the same tick, so repeated notes
survive; the end of track on the final barline).

What a file becomes:

* one :class:`~midigan.music.score.Track` per MIDI track and channel/program (a type-0
  file with several channels gives one track per channel); channel 10 is a drum
  track. Tracks without notes are not kept.
* times are rounded to the nearest tick of :data:`~midigan.music.score.TPQ` (a note lasts
  at least one tick); :class:`QuantizeReport` says how far notes moved, and
  :func:`read_midi` warns (:class:`QuantizationWarning`) when any did.
* tempo (rounded to 0.01 qpm), meter and key maps; chord labels from the markers
  ``chord:<symbol>`` that :func:`midi_bytes` writes; the title from track 0's name.
* `end_tick` is the barline at or after the later of the last note offset and the
  end of track 0, so trailing empty bars written by :func:`midi_bytes` come back.

Scores on the grid survive ``read_midi(write_midi(score))`` exactly: notes per
track, tempos, meters, keys, chord labels, names, programs, drum flags, bar count.
"""

from __future__ import annotations

import functools
import io as _io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mido
import numpy as np

from midigan.errors import MidiReadError, MidiWriteError, TheoryError
from midigan.io.atomic import write_atomic
from midigan.music.score import (
    DRUM_CHANNEL,
    TPQ,
    ChordLabel,
    KeySignature,
    Meter,
    Note,
    Score,
    Tempo,
    Track,
)
from midigan.music.theory import parse_chord

if TYPE_CHECKING:
    import symusic

CHORD_MARKER_PREFIX = "chord:"
"""Marker text that carries a chord label: ``chord:F#m7``, ``chord:N.C.``."""

_MAX_TRAILING_QUARTERS = 256
"""An end of track further than this past the last note is taken as bogus and ignored."""

_MELODIC_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)

# mido key names by (tonic pitch class, mode), spelled with at most six accidentals.
_MAJOR_KEYS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_KEYS = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")


class QuantizationWarning(UserWarning):
    """Notes of a MIDI file moved when rounded to the :data:`~midigan.music.score.TPQ` grid."""


@dataclass(frozen=True)
class QuantizeReport:
    """How far rounding to the grid moved the notes of one file.

    Errors are absolute, in ticks of the source file (`source_tpq` per quarter); a
    note's error is the larger of its onset and offset errors.
    """

    source_tpq: int
    notes: int = 0
    moved: int = 0
    max_error_ticks: float = 0.0
    mean_error_ticks: float = 0.0

    @property
    def max_error_quarters(self) -> float:
        """The largest move, in quarter notes."""
        return self.max_error_ticks / self.source_tpq

    def describe(self, path: str | Path) -> str:
        """One line for a warning or a log."""
        return (
            f"{path}: {self.moved} of {self.notes} notes moved to the grid of {TPQ} ticks per quarter "
            f"(max {self.max_error_quarters:.3f} quarter, "
            f"mean {self.mean_error_ticks / self.source_tpq:.4f} quarter)"
        )


# ------------------------------------------------------------------ reading
def read_midi(path: str | Path) -> Score:
    """Read a standard MIDI file (type 0, 1 or 2) into a Score on the grid.

    Warns with :class:`QuantizationWarning` when notes had to move to the grid; use
    :func:`read_midi_report` to get the figures instead.

    Raises:
        MidiReadError: missing, empty, truncated, not a MIDI file, or SMPTE/zero timing.
    """
    score, report = read_midi_report(path)
    if report.moved:
        warnings.warn(report.describe(path), QuantizationWarning, stacklevel=2)
    return score


def read_midi_report(path: str | Path) -> tuple[Score, QuantizeReport]:
    """Like :func:`read_midi`, without a warning: returns the score and its quantization report.

    Raises:
        MidiReadError: missing, empty, truncated, not a MIDI file, or SMPTE/zero timing.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise MidiReadError(f"{path}: no such file") from e
    except IsADirectoryError as e:
        raise MidiReadError(f"{path}: is a folder, not a MIDI file") from e
    except OSError as e:
        raise MidiReadError(f"{path}: cannot read ({e.strerror})") from e
    return score_from_midi_bytes(data, str(path))


def score_from_midi_bytes(data: bytes, name: str = "<bytes>") -> tuple[Score, QuantizeReport]:
    """Parse the bytes of a MIDI file; `name` is used in error messages.

    Raises:
        MidiReadError: empty, truncated, not a MIDI file, or SMPTE/zero timing.
    """
    import symusic  # imported here: 0.1 s that writing MIDI (the compose path) never needs

    tpq = _check_header(data, name)
    try:
        source = symusic.Score.from_midi(data)
    except (RuntimeError, ValueError) as e:
        raise MidiReadError(f"{name}: corrupt or truncated MIDI file ({_first_line(e)})") from e
    title, eot_source = _scan_first_track(data)
    report = _Accumulator(tpq)
    score = Score(title=title)
    converted = [_convert_track(t, tpq, report) for t in source.tracks if t.note_num()]
    score.tracks = [track for track, _ in converted]
    score.tempos = _convert_tempos(source.tempos.numpy(), tpq)
    score.meters = _convert_meters(source.time_signatures.numpy(), tpq)
    score.keys = _convert_keys(source.key_signatures.numpy(), tpq)
    score.chords = _convert_chords(source.markers, tpq, name)
    last_offset = max((offset for _, offset in converted), default=0)
    score.end_tick = _end_tick(score, last_offset, _tick_to_grid(eot_source, tpq))
    return score, report.result()


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _check_header(data: bytes, name: str) -> int:
    """Validate the MThd chunk and return the ticks per quarter note."""
    if not data:
        raise MidiReadError(f"{name}: file is empty")
    if data[:4] != b"MThd":
        raise MidiReadError(f"{name}: not a MIDI file (no MThd header)")
    if len(data) < 14:
        raise MidiReadError(f"{name}: truncated MIDI file ({len(data)} bytes)")
    division = int.from_bytes(data[12:14], "big")
    if division & 0x8000:
        raise MidiReadError(f"{name}: SMPTE time division is not supported; re-export with ticks per beat")
    if division == 0:
        raise MidiReadError(f"{name}: zero ticks per quarter note; the file's timing is broken")
    return division


def _scan_first_track(data: bytes) -> tuple[str, int]:
    """Name and end-of-track tick (source ticks) of the first MTrk chunk.

    symusic drops tracks without notes, so the conductor track's name (our title)
    and its end of track (our final barline) are read here. Only that chunk is
    walked; a conductor track holds a handful of events.
    """
    pos = 8 + int.from_bytes(data[4:8], "big")
    while pos + 8 <= len(data) and data[pos : pos + 4] != b"MTrk":
        pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "big")
    if pos + 8 > len(data):
        return "", 0
    end = min(len(data), pos + 8 + int.from_bytes(data[pos + 4 : pos + 8], "big"))
    pos += 8
    name, tick, status = None, 0, 0
    try:
        while pos < end:
            if data[pos] < 0x80:  # most deltas fit one byte
                tick += data[pos]
                pos += 1
            else:
                delta, pos = _read_vlq(data, pos)
                tick += delta
            kind = data[pos]
            if kind == 0xFF:
                meta, length = data[pos + 1], data[pos + 2]
                if length < 0x80:
                    pos += 3
                else:
                    length, pos = _read_vlq(data, pos + 2)
                if meta == 0x03 and name is None:
                    name = data[pos : pos + length].decode("utf-8", errors="replace")
                elif meta == 0x2F:
                    break
                pos += length
            elif kind in (0xF0, 0xF7):
                length, pos = _read_vlq(data, pos + 1)
                pos += length
            else:
                if kind & 0x80:
                    status = kind
                    pos += 1
                pos += 1 if status & 0xE0 == 0xC0 else 2  # program change, channel pressure: 1 byte
    except IndexError:
        pass  # a ragged last event: symusic accepted the file, keep what we have
    return name or "", tick


def _read_vlq(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos


def _tick_to_grid(tick: int, tpq: int) -> int:
    """One source tick -> grid tick, rounded like :func:`_to_grid` (plain ints: maps are short)."""
    return (2 * TPQ * tick + tpq) // (2 * tpq)


@functools.lru_cache(maxsize=1024)
def _parse_chord(symbol: str) -> tuple[int | None, str]:
    """:func:`parse_chord`, cached: a corpus uses a few dozen symbols thousands of times."""
    return parse_chord(symbol)


def _to_grid(ticks: np.ndarray, tpq: int) -> np.ndarray:
    """Source ticks -> grid ticks, rounded to the nearest (halves up), as int64."""
    ticks = ticks.astype(np.int64)
    if tpq == TPQ:
        return ticks
    return (2 * TPQ * ticks + tpq) // (2 * tpq)


class _Accumulator:
    """Running quantization figures over the tracks of one file."""

    def __init__(self, tpq: int) -> None:
        self.tpq, self.notes, self.moved, self.max_error, self.total_error = tpq, 0, 0, 0.0, 0.0

    def add(self, errors: np.ndarray) -> None:
        """`errors`: per-note error in units of 1/TPQ source ticks (integers)."""
        self.notes += len(errors)
        moved = errors[errors > 0]
        if len(moved):
            self.moved += len(moved)
            self.max_error = max(self.max_error, float(moved.max()) / TPQ)
            self.total_error += float(moved.sum()) / TPQ

    def result(self) -> QuantizeReport:
        mean = self.total_error / self.notes if self.notes else 0.0
        return QuantizeReport(self.tpq, self.notes, self.moved, self.max_error, mean)


def _convert_track(track: symusic.core.TrackTick, tpq: int, report: _Accumulator) -> tuple[Track, int]:
    """The track on the grid, and its last note offset."""
    arrays = track.notes.numpy()
    start = arrays["time"].astype(np.int64)
    stop = start + arrays["duration"]
    onset = _to_grid(start, tpq)
    duration = np.maximum(_to_grid(stop, tpq) - onset, 1)
    # Errors in source ticks times TPQ, so they stay integers.
    onset_error = np.abs(onset * tpq - start * TPQ)
    offset_error = np.abs((onset + duration) * tpq - stop * TPQ)
    report.add(np.maximum(onset_error, offset_error))
    pitch = arrays["pitch"].astype(np.int64)
    velocity = arrays["velocity"].astype(np.int64)
    order = np.lexsort((velocity, duration, pitch, onset))  # Track.sort's canonical order
    notes = list(
        map(
            Note,
            pitch[order].tolist(),
            onset[order].tolist(),
            duration[order].tolist(),
            velocity[order].tolist(),
        )
    )
    converted = Track(name=track.name, program=int(track.program), is_drum=bool(track.is_drum), notes=notes)
    return converted, int((onset + duration).max())


def _last_per_tick(ticks: list[int], items: list) -> list:
    """Keep the last of several items quantized to the same tick."""
    kept: dict[int, object] = {}
    for tick, item in zip(ticks, items, strict=True):
        kept[tick] = item
    return list(kept.values())


def _convert_tempos(arrays: dict[str, np.ndarray], tpq: int) -> list[Tempo]:
    ticks = [_tick_to_grid(t, tpq) for t in arrays["time"].tolist()]
    tempos = [
        Tempo(t, round(60_000_000 / m, 2))
        for t, m in zip(ticks, arrays["mspq"].tolist(), strict=True)
        if m > 0
    ]
    tempos = _last_per_tick([t.tick for t in tempos], tempos)
    if not tempos or tempos[0].tick > 0:
        tempos.insert(0, Tempo(0, 120.0))  # the MIDI default until the first set_tempo
    return tempos


def _convert_meters(arrays: dict[str, np.ndarray], tpq: int) -> list[Meter]:
    ticks = [_tick_to_grid(t, tpq) for t in arrays["time"].tolist()]
    meters = [
        Meter(t, n, d)
        for t, n, d in zip(ticks, arrays["numerator"].tolist(), arrays["denominator"].tolist(), strict=True)
        if n > 0 and d > 0 and TPQ * 4 * n // d > 0
    ]
    meters = _last_per_tick([m.tick for m in meters], meters)
    if not meters or meters[0].tick > 0:
        meters.insert(0, Meter(0, 4, 4))  # the MIDI default
    return meters


def _convert_keys(arrays: dict[str, np.ndarray], tpq: int) -> list[KeySignature]:
    ticks = [_tick_to_grid(t, tpq) for t in arrays["time"].tolist()]
    keys = [
        KeySignature(t, (7 * sharps + (9 if minor else 0)) % 12, "minor" if minor else "major")
        for t, sharps, minor in zip(ticks, arrays["key"].tolist(), arrays["tonality"].tolist(), strict=True)
        if -7 <= sharps <= 7
    ]
    return _last_per_tick([k.tick for k in keys], keys)


def _convert_chords(markers: symusic.core.TextMetaTickList, tpq: int, name: str) -> list[ChordLabel]:
    found = [(m.time, m.text[len(CHORD_MARKER_PREFIX) :]) for m in markers if m.text.startswith("chord:")]
    if not found:
        return []
    ticks = [_tick_to_grid(t, tpq) for t, _ in found]
    labels, bad = [], []
    for tick, (_, symbol) in zip(ticks, found, strict=True):
        try:
            labels.append(ChordLabel(tick, *_parse_chord(symbol)))
        except TheoryError:
            bad.append(symbol)
    if bad:
        warnings.warn(f"{name}: ignored unknown chord markers {bad[:5]}", stacklevel=4)
    labels.sort(key=lambda c: c.tick)
    return _last_per_tick([c.tick for c in labels], labels)


def _end_tick(score: Score, last: int, eot: int) -> int | None:
    if eot > last + _MAX_TRAILING_QUARTERS * TPQ:
        eot = 0
    until = max(last, eot)
    return score.bar_starts(until)[-1] if until > 0 else None


# ------------------------------------------------------------------ writing
def write_midi(score: Score, path: str | Path, tpq_out: int = 480) -> Path:
    """Write `score` as a type-1 MIDI file at `path`, atomically; returns the path.

    Raises:
        MidiWriteError: the score holds data MIDI cannot carry, or the path is unwritable
            (a missing folder, no permission); an earlier file at `path` is left untouched.
    """
    return write_atomic(path, lambda: midi_bytes(score, tpq_out))


def midi_bytes(score: Score, tpq_out: int = 480) -> bytes:
    """The bytes of a type-1 MIDI file holding `score`, ready for a DAW.

    Track 0 is the conductor: title as track name, tempo, time and key signatures,
    chord labels as ``chord:<symbol>`` markers. Then one track per part: name, program
    change, notes on its own channel (drums on channel 10), each track ending on the
    final barline. Nothing follows the last bar.

    Raises:
        MidiWriteError: `tpq_out` is not a multiple of TPQ, or a pitch, velocity,
            program, tempo, meter or timing MIDI cannot represent.
    """
    if tpq_out <= 0 or tpq_out % TPQ or tpq_out > 0x7FFF:
        raise MidiWriteError(f"tpq_out={tpq_out}: use a positive multiple of {TPQ} below 32768")
    scale = tpq_out // TPQ
    end = max(score.end, score.last_offset)
    midi = mido.MidiFile(type=1, ticks_per_beat=tpq_out, charset="utf-8")
    midi.tracks.append(_conductor_track(score, end, scale))
    melodic = iter(_MELODIC_CHANNELS * (1 + len(score.tracks) // len(_MELODIC_CHANNELS)))
    for index, track in enumerate(score.tracks):
        channel = DRUM_CHANNEL if track.is_drum else next(melodic)
        midi.tracks.append(_part_track(track, index, channel, end, scale))
    buffer = _io.BytesIO()
    try:
        midi.save(file=buffer)
    except (ValueError, TypeError) as e:
        raise MidiWriteError(f"cannot encode the score as MIDI: {_first_line(e)}") from e
    return buffer.getvalue()


def _conductor_track(score: Score, end: int, scale: int) -> mido.MidiTrack:
    events: list[tuple[int, int, mido.MetaMessage]] = []
    if score.title:
        events.append((0, 0, mido.MetaMessage("track_name", name=score.title)))
    for meter in score.meters:
        events.append((meter.tick, 1, _time_signature(meter)))
    for key in score.keys:
        name = (_MINOR_KEYS if key.mode == "minor" else _MAJOR_KEYS)[key.tonic % 12]
        events.append((key.tick, 2, mido.MetaMessage("key_signature", key=name)))
    for tempo in score.tempos:
        if not 3.6 <= tempo.qpm <= 60_000_000:
            raise MidiWriteError(f"tempo {tempo.qpm} qpm at tick {tempo.tick}: MIDI holds 3.6 to 60e6 qpm")
        events.append((tempo.tick, 3, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo.qpm))))
    for chord in score.chords:
        text = CHORD_MARKER_PREFIX + chord.symbol
        events.append((chord.tick, 4, mido.MetaMessage("marker", text=text)))
    # Labels after the final barline would sit past the last bar: drop them.
    kept = [e for e in events if e[0] == 0 or e[0] < end]
    if any(e[0] < 0 for e in kept):
        raise MidiWriteError("a tempo, meter, key or chord label has a negative tick")
    return _to_track(kept, end, scale)


def _time_signature(meter: Meter) -> mido.MetaMessage:
    n, d = meter.numerator, meter.denominator
    if not 1 <= n <= 255 or d < 1 or d & (d - 1) or d > 128:
        raise MidiWriteError(f"meter {n}/{d} at tick {meter.tick}: MIDI needs a power-of-two denominator")
    compound = d == 8 and n % 3 == 0 and n > 3
    clocks = 96 // d * (3 if compound else 1) if d <= 32 else 1  # MIDI clocks per metronome click
    return mido.MetaMessage(
        "time_signature", numerator=n, denominator=d, clocks_per_click=clocks, notated_32nd_notes_per_beat=8
    )


def _part_track(track: Track, index: int, channel: int, end: int, scale: int) -> mido.MidiTrack:
    if not 0 <= track.program <= 127:
        raise MidiWriteError(f"track {index} ({track.name!r}): program {track.program} is not 0-127")
    events: list[tuple[int, int, object]] = []
    if track.name:
        events.append((0, 0, mido.MetaMessage("track_name", name=track.name)))
    events.append((0, 1, mido.Message("program_change", channel=channel, program=track.program)))
    # Same-pitch notes starting together go shortest first: readers pair note-offs first in, first out.
    for note in sorted(track.notes, key=lambda n: (n.onset, n.pitch, n.duration)):
        if not (
            0 <= note.pitch <= 127 and 1 <= note.velocity <= 127 and note.onset >= 0 and note.duration >= 1
        ):
            raise MidiWriteError(
                f"track {index} ({track.name!r}): note {note} cannot be written "
                "(pitch 0-127, velocity 1-127, onset >= 0, duration >= 1)"
            )
        # note-offs (2) sort before note-ons (3) at the same tick: back-to-back repeats survive.
        events.append((note.offset, 2, ("note_off", note.pitch, 0)))
        events.append((note.onset, 3, ("note_on", note.pitch, note.velocity)))
    return _to_track(events, end, scale, channel)


def _to_track(
    events: list[tuple[int, int, object]], end: int, scale: int, channel: int = 0
) -> mido.MidiTrack:
    """Absolute (tick, priority, message) events -> a delta-timed track ending at `end`.

    A message is a mido message, or a `(type, note, velocity)` tuple for notes on
    `channel` (built here, once, with its delta time: mido validates each message).
    """
    events.sort(key=lambda e: (e[0], e[1]))  # stable: equal keys keep insertion order
    track = mido.MidiTrack()
    now = 0
    for tick, _, message in events:
        delta = (tick - now) * scale
        if isinstance(message, tuple):
            kind, pitch, velocity = message
            track.append(mido.Message(kind, channel=channel, note=pitch, velocity=velocity, time=delta))
        else:
            track.append(message.copy(time=delta))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=(max(end, now) - now) * scale))
    return track
