"""Standard MIDI files in and out of :class:`~midigan.music.score.Score`.

Reading goes through symusic (a C++ parser, ~100x faster than mido): every corpus
pass reads thousands of files, so notes move from symusic's arrays to the grid in
bulk with numpy. Writing orders every event itself (note-offs before note-ons at
the same tick, so repeated notes survive; the end of track on the final barline) and
encodes notes straight to bytes; mido encodes only the few meta events.

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

Hostile files are refused before work grows with what they claim (:mod:`midigan.io.smf`
walks the bytes first): no event past `max_ticks` or past a 32-bit tick counter, at most
`max_notes` notes and :data:`~midigan.io.MAX_TRACKS` tracks, and only tempos and meters
the writer can write back. So whatever loads also saves and reloads; the writer in turn
refuses deltas and lengths MIDI cannot hold, rather than write a file no reader can read.

:func:`read_midi_arrays` stops one step earlier, at :class:`ScoreArrays`: the same reading
with every note in one numpy table, for readers that need no `Note` objects (tokenizing a
corpus: :meth:`~midigan.representations.EventTokens.from_midi`). :func:`read_midi` is
:func:`read_midi_arrays` followed by :meth:`ScoreArrays.to_score`, so both see the same file.

Scores on the grid survive ``read_midi(write_midi(score))`` exactly: notes per
track, tempos, meters, keys, chord labels, names, programs, drum flags, bar count.
"""

from __future__ import annotations

import functools
import operator
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mido
import numpy as np
from mido.midifiles.meta import meta_charset

from midigan.errors import MidiReadError, MidiWriteError, TheoryError
from midigan.io.atomic import write_atomic
from midigan.io.limits import resolve
from midigan.io.score_arrays import ScoreArrays, note_table
from midigan.io.smf import COUNTER_LIMIT, KEPT_METAS, check_header, parser_error, walk
from midigan.io.spelling import KeySpeller, tonic_for_fifths
from midigan.music.score import (
    DRUM_CHANNEL,
    TPQ,
    KeySignature,
    Meter,
    Score,
    Tempo,
    Track,
    barline_at_or_after,
)
from midigan.music.theory import parse_chord

if TYPE_CHECKING:
    import symusic

CHORD_MARKER_PREFIX = "chord:"
"""Marker text that carries a chord label: ``chord:F#m7``, ``chord:N.C.``."""

_MAX_TRAILING_QUARTERS = 256
"""An end of track further than this past the last note is taken as bogus and ignored."""

_MAX_TEMPO = 0xFFFFFF
"""The longest quarter note a set_tempo event holds, in microseconds (3.58 qpm)."""

_MAX_DELTA = 0x0FFFFFFF
"""The largest delta time MIDI's 4-byte variable-length numbers hold."""

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
def read_midi(path: str | Path, *, max_ticks: int | None = None, max_notes: int | None = None) -> Score:
    """Read a standard MIDI file (type 0, 1 or 2) into a Score on the grid.

    Warns with :class:`QuantizationWarning` when notes had to move to the grid; use
    :func:`read_midi_report` to get the figures instead.

    Args:
        path: the file.
        max_ticks: the longest piece accepted, in grid ticks (:data:`~midigan.io.smf.MAX_TICKS`,
            50,000 quarter notes, by default). A longer file is refused: its timing is
            almost surely corrupt. Raise it for a real piece that long.
        max_notes: the most notes accepted (:data:`~midigan.io.smf.MAX_NOTES` by default).
            None takes the default, or the environment's ``MIDIGAN_MAX_TICKS`` /
            ``MIDIGAN_MAX_NOTES`` (:mod:`midigan.io.limits`).

    Raises:
        MidiReadError: missing, empty, truncated, not a MIDI file, SMPTE/zero timing,
            broken timing (an event past `max_ticks` or past what a 32-bit tick counter
            holds), more than `max_notes` notes or more than :data:`~midigan.io.MAX_TRACKS` tracks.
        ConfigError: `max_ticks` or `max_notes` is not a positive integer.
    """
    score, report = read_midi_report(path, max_ticks=max_ticks, max_notes=max_notes)
    if report.moved:
        warnings.warn(report.describe(path), QuantizationWarning, stacklevel=2)
    return score


def read_midi_report(
    path: str | Path, *, max_ticks: int | None = None, max_notes: int | None = None
) -> tuple[Score, QuantizeReport]:
    """Like :func:`read_midi`, without a warning: returns the score and its quantization report.

    Raises:
        MidiReadError: as :func:`read_midi`.
        ConfigError: as :func:`read_midi`.
    """
    arrays, report = read_midi_arrays(path, max_ticks=max_ticks, max_notes=max_notes)
    return arrays.to_score(), report


def read_midi_arrays(
    path: str | Path, *, max_ticks: int | None = None, max_notes: int | None = None, measure: bool = True
) -> tuple[ScoreArrays, QuantizeReport]:
    """Like :func:`read_midi_report`, with the notes left in one numpy table (no `Note` objects).

    `measure=False` skips the quantization figures (a dozen array operations a track, for
    readers that drop the report): the report then counts no notes.

    Raises:
        MidiReadError: as :func:`read_midi`.
        ConfigError: as :func:`read_midi`.
    """
    if not isinstance(path, Path):  # a Path given is used as it is: Path(path) parses it again
        path = Path(path)
    try:
        with open(path, "rb", buffering=0) as file:  # unbuffered: one read, no buffer object
            data = file.readall()
    except FileNotFoundError as e:
        raise MidiReadError(f"{path}: no such file") from e
    except IsADirectoryError as e:
        raise MidiReadError(f"{path}: is a folder, not a MIDI file") from e
    except OSError as e:
        raise MidiReadError(f"{path}: cannot read ({e.strerror})") from e
    return arrays_from_midi_bytes(data, str(path), max_ticks=max_ticks, max_notes=max_notes, measure=measure)


def score_from_midi_bytes(
    data: bytes, name: str = "<bytes>", *, max_ticks: int | None = None, max_notes: int | None = None
) -> tuple[Score, QuantizeReport]:
    """Parse the bytes of a MIDI file; `name` is used in error messages.

    The bytes are walked first (:func:`midigan.io.smf.walk`), so a file whose timing
    would wrap the parser's tick counter, or that claims more than `max_ticks`, is refused
    before any work grows with its length: whatever this returns also saves, reloads and
    converts to every representation.

    Raises:
        MidiReadError: as :func:`read_midi`.
        ConfigError: as :func:`read_midi`.
    """
    arrays, report = arrays_from_midi_bytes(data, name, max_ticks=max_ticks, max_notes=max_notes)
    return arrays.to_score(), report


def arrays_from_midi_bytes(
    data: bytes,
    name: str = "<bytes>",
    *,
    max_ticks: int | None = None,
    max_notes: int | None = None,
    measure: bool = True,
) -> tuple[ScoreArrays, QuantizeReport]:
    """:func:`score_from_midi_bytes` with the notes left in arrays (:class:`ScoreArrays`);
    `measure` as in :func:`read_midi_arrays`.

    Raises:
        MidiReadError: as :func:`read_midi`.
        ConfigError: as :func:`read_midi`.
    """
    import symusic  # imported here: 0.1 s that writing MIDI (the compose path) never needs

    max_ticks, max_notes = resolve("max_ticks", max_ticks, "midi"), resolve("max_notes", max_notes, "midi")
    tpq = check_header(data, name)
    limit = min(COUNTER_LIMIT, max_ticks * tpq // TPQ)  # in source ticks
    layout = walk(data, name, limit, tpq)
    try:
        source = symusic.Score.from_midi(data)
    except (RuntimeError, ValueError, OverflowError, IndexError) as e:
        raise parser_error(e, name) from e
    kept = [t for t in source.tracks if t.note_num()]
    report = _Accumulator(tpq)
    notes = note_table(kept, name, tpq, limit, max_notes, report.add if measure else None)
    tempos, meters, keys = _maps(layout.metas, source, tpq)
    last_offset = int((notes[0] + notes[3]).max()) if notes.shape[1] else 0
    arrays = ScoreArrays(
        names=[t.name for t in kept],
        programs=[t.program for t in kept],  # ints from symusic's uint8 and bool fields
        drums=[t.is_drum for t in kept],
        notes=notes,
        tempos=tempos,
        meters=meters,
        keys=keys,
        chords=_chord_labels(layout.markers, source.markers, tpq, name),
        end_tick=_end_tick(meters, last_offset, _tick_to_grid(layout.first_end, tpq)),
        title=layout.title,
    )
    return arrays, report.result()


# The first track's tempo, meter and key events, as the walk read them (smf.Layout.metas), stand
# for symusic's lists where the two must agree: as many events (so none elsewhere, none the walk
# missed), each of the standard length (symusic reads a shorter one past its end), distinct ticks
# (symusic's sort need not keep the file order of events at one tick). Elsewhere symusic's list
# is read, one attribute at a time. A test compares both readings on fixtures and fuzzed files.
_UNWALKED: dict[int, None] = dict.fromkeys(KEPT_METAS)
"""Layout.metas where the walk could not read the first track's meta events for symusic's."""

_Walked = Sequence[tuple[int, bytes]] | None
"""The walk's events of one kind, `(tick, raw data bytes)`; None where it has none to offer."""


def _maps(
    metas: dict[int, list[tuple[int, bytes]]] | None, source: symusic.core.ScoreTick, tpq: int
) -> tuple[list[Tempo], list[Meter], list[KeySignature]]:
    """The tempo, meter and key maps of a file, each a list of its own.

    A corpus repeats the same few conductor events thousands of times, so where the file
    holds a few of each, the walk's events and symusic's counts are looked up in a cache of
    converted maps (the objects are frozen: files may share them).
    """
    metas = metas or _UNWALKED
    lists = (source.tempos, source.time_signatures, source.key_signatures)
    walked = (metas[0x51], metas[0x58], metas[0x59])
    counts = tuple(map(len, lists))
    if all(events is not None and len(events) <= 8 for events in walked):
        found = _remembered_maps(tpq, *map(tuple, walked), *counts)
    else:
        found = _walked_maps(tpq, *walked, *counts)
    tempos, meters, keys = found
    if tempos is None:
        tempos = _convert_tempos(_rows(lists[0], "time", "mspq"), tpq)
    if meters is None:
        meters = _convert_meters(_rows(lists[1], "time", "numerator", "denominator"), tpq)
    if keys is None:
        keys = _convert_keys(_rows(lists[2], "time", "key", "tonality"), tpq)
    return list(tempos), list(meters), list(keys)


def _walked_maps(
    tpq: int, tempos: _Walked, meters: _Walked, keys: _Walked, *counts: int
) -> tuple[Sequence[Tempo] | None, Sequence[Meter] | None, Sequence[KeySignature] | None]:
    """The maps of the walk's events, given how many events of each kind symusic holds: None
    for a kind whose walked events do not stand for symusic's (symusic's list is read then)."""
    tempo_count, meter_count, key_count = counts
    found: list[Sequence | None] = [None, None, None]
    if _walked(tempos, 3, tempo_count):
        found[0] = tuple(_convert_tempos(tuple((t, int.from_bytes(raw, "big")) for t, raw in tempos), tpq))
    if _walked(meters, 4, meter_count) and all(raw[1] <= 7 for _, raw in meters):  # symusic: 2**d in a byte
        found[1] = tuple(_convert_meters(tuple((t, raw[0], 1 << raw[1]) for t, raw in meters), tpq))
    if _walked(keys, 2, key_count):  # sharps signed, as symusic reads them
        found[2] = tuple(
            _convert_keys(tuple((t, raw[0] - (raw[0] & 0x80) * 2, raw[1]) for t, raw in keys), tpq)
        )
    return found[0], found[1], found[2]


_remembered_maps = functools.lru_cache(maxsize=1024)(_walked_maps)
""":func:`_walked_maps` remembered, for files with a few events of each kind."""


def _walked(walked: _Walked, size: int, count: int) -> bool:
    """Whether the walk's events of one kind, each `size` bytes of data, stand for symusic's
    `count` events."""
    if walked is None or len(walked) != count:
        return False
    ticks = [tick for tick, _ in walked]
    return all(len(raw) == size for _, raw in walked) and all(map(operator.lt, ticks, ticks[1:]))


def _rows(events: object, *fields: str) -> tuple[tuple[int, ...], ...]:
    """A symusic event list (tempos, meters, keys) as one tuple of `fields` per event: read one
    attribute at a time for a few events (a file holds one or two; ``numpy()`` costs more),
    through ``numpy()`` for many."""
    if len(events) > 16:
        arrays = events.numpy()
        return tuple(zip(*(arrays[field].tolist() for field in fields), strict=True))
    return tuple(map(operator.attrgetter(*fields), events))


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _tick_to_grid(tick: int, tpq: int) -> int:
    """One source tick -> grid tick, rounded to the nearest, halves up, as the note table's ticks."""
    return (2 * TPQ * tick + tpq) // (2 * tpq)


@functools.lru_cache(maxsize=1024)
def _parse_chord(symbol: str) -> tuple[int | None, str]:
    """:func:`parse_chord`, cached: a corpus uses a few dozen symbols thousands of times."""
    return parse_chord(symbol)


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


def _last_per_tick(ticks: list[int], items: list) -> list:
    """Keep the last of several items quantized to the same tick."""
    if len(set(ticks)) == len(ticks):  # the usual case: nothing to merge
        return list(items)
    kept: dict[int, object] = {}
    for tick, item in zip(ticks, items, strict=True):
        kept[tick] = item
    return list(kept.values())


_Rows = tuple[tuple[int, ...], ...]


def _convert_tempos(rows: _Rows, tpq: int) -> list[Tempo]:
    tempos = [Tempo(_tick_to_grid(t, tpq), round(60_000_000 / m, 2)) for t, m in rows if 0 < m <= _MAX_TEMPO]
    tempos = _last_per_tick([t.tick for t in tempos], tempos)
    if not tempos or tempos[0].tick > 0:
        tempos.insert(0, Tempo(0, 120.0))  # the MIDI default until the first set_tempo
    return tempos


def _convert_meters(rows: _Rows, tpq: int) -> list[Meter]:
    meters = [
        Meter(_tick_to_grid(t, tpq), n, d)
        for t, n, d in rows
        if _writable_meter(n, d) and TPQ * 4 * n // d > 0
    ]
    meters = _last_per_tick([m.tick for m in meters], meters)
    if not meters or meters[0].tick > 0:
        meters.insert(0, Meter(0, 4, 4))  # the MIDI default
    return meters


def _writable_meter(numerator: int, denominator: int) -> bool:
    """A meter :func:`midi_bytes` can write back (others are dropped at load, like a zero one)."""
    d = denominator
    return 1 <= numerator <= 255 and 1 <= d <= 128 and not d & (d - 1)


def _convert_keys(rows: _Rows, tpq: int) -> list[KeySignature]:
    keys = [
        KeySignature(
            _tick_to_grid(t, tpq),
            (7 * sharps + (9 if minor else 0)) % 12,
            "minor" if minor else "major",
            spelling=tonic_for_fifths(sharps, "minor" if minor else "major"),  # 6 flats: Gb, not F#
        )
        for t, sharps, minor in rows
        if -7 <= sharps <= 7
    ]
    return _last_per_tick([k.tick for k in keys], keys)


def _chord_labels(
    walked: list[tuple[int, bytes]] | None, markers: symusic.core.TextMetaTickList, tpq: int, name: str
) -> list[tuple[int, int | None, str]]:
    """:attr:`ScoreArrays.chords` from the walk's first-track markers (:func:`_walked_chords`) or,
    where those cannot stand for symusic's, from :func:`_chord_markers`."""
    if walked is not None and len(markers) == len(walked):
        labels = _walked_chords(walked, tpq)
        if labels is not None:
            return labels
    return _convert_chords(_chord_markers(markers, walked), tpq, name)


_UNREAD = object()
"""What :func:`_marker_chord` returns for a marker it leaves to the full reading."""

_MARKER_CHORDS: dict[bytes, tuple[int | None, str] | None] = {}
"""A marker's raw text -> its chord label's `(root, quality)`, or None for a marker that is no
chord label: a corpus repeats a few dozen markers thousands of times."""


def _walked_chords(walked: list[tuple[int, bytes]], tpq: int) -> list[tuple[int, int | None, str]] | None:
    """:func:`_convert_chords` of :func:`_chord_markers` where every chord marker is known and
    UTF-8 and no two share a tick (else None): one cached look-up a marker.

    The walk's markers come in file order, so their ticks rise: the grid ticks need no sort,
    and of several labels on one grid tick the last replaces the one before.
    """
    labels: list[tuple[int, int | None, str]] = []
    last = -1
    for tick, raw in walked:
        chord = _MARKER_CHORDS.get(raw, _UNREAD)
        if chord is _UNREAD:
            chord = _marker_chord(raw)
            if chord is _UNREAD:
                return None
        if chord is None:
            continue
        if tick == last:  # two chord markers at one tick: symusic's order decides
            return None
        last = tick
        grid = (2 * TPQ * tick + tpq) // (2 * tpq)  # _tick_to_grid
        if labels and labels[-1][0] == grid:
            labels[-1] = (grid, *chord)
        else:
            labels.append((grid, *chord))
    return labels


def _marker_chord(raw: bytes) -> object:
    """The chord label of one marker's raw text: `(root, quality)`, None for a marker that is
    no chord label, :data:`_UNREAD` for text that is not UTF-8 or an unknown symbol (left to
    :func:`_convert_chords`, which warns). Short texts are remembered."""
    if raw.startswith(CHORD_MARKER_PREFIX.encode()):
        try:
            chord: tuple[int | None, str] | None = _parse_chord(raw[len(CHORD_MARKER_PREFIX) :].decode())
        except (UnicodeDecodeError, TheoryError):
            return _UNREAD
    else:
        chord = None
    if len(raw) <= 64:
        if len(_MARKER_CHORDS) >= 4096:
            _MARKER_CHORDS.clear()
        _MARKER_CHORDS[raw] = chord
    return chord


def _chord_markers(
    markers: symusic.core.TextMetaTickList, walked: list[tuple[int, bytes]] | None
) -> list[tuple[int, str]]:
    """`(source tick, symbol)` of the ``chord:`` markers, in symusic's order.

    A midigan file holds its chord markers in the first track, which the walk has read
    already (:attr:`midigan.io.smf.Layout.markers`): they are taken from there, with no
    symusic object per marker. symusic's own list is read instead where the walk's may not
    be what it holds: markers in other tracks (the counts differ), several chord markers
    at one tick (symusic's sort does not keep their file order) or text that is not UTF-8.
    """
    prefix, raw_prefix = len(CHORD_MARKER_PREFIX), CHORD_MARKER_PREFIX.encode()
    if walked is not None and len(markers) == len(walked):
        chords = [(tick, raw) for tick, raw in walked if raw.startswith(raw_prefix)]
        if len({tick for tick, _ in chords}) == len(chords):
            try:
                return [(tick, raw[prefix:].decode()) for tick, raw in chords]
            except UnicodeDecodeError:
                pass
    found = []
    for marker in markers:  # one attribute read per marker crosses into symusic
        text = marker.text
        if text.startswith(CHORD_MARKER_PREFIX):
            found.append((marker.time, text[prefix:]))
    return found


def _convert_chords(found: list[tuple[int, str]], tpq: int, name: str) -> list[tuple[int, int | None, str]]:
    """`(grid tick, root, quality)` per chord label (:attr:`ScoreArrays.chords`), the last of several
    at one tick kept; unknown symbols are dropped with a warning."""
    if not found:
        return []
    labels, bad = [], []
    for time, symbol in found:
        try:
            labels.append(((2 * TPQ * time + tpq) // (2 * tpq), *_parse_chord(symbol)))  # _tick_to_grid
        except TheoryError:
            bad.append(symbol)
    if bad:
        warnings.warn(f"{name}: ignored unknown chord markers {bad[:5]}", stacklevel=5)
    ticks = [c[0] for c in labels]
    if not all(map(operator.le, ticks, ticks[1:])):
        labels.sort(key=operator.itemgetter(0))
        ticks = [c[0] for c in labels]
    return _last_per_tick(ticks, labels)


def _end_tick(meters: list[Meter], last: int, eot: int) -> int | None:
    if eot > last + _MAX_TRAILING_QUARTERS * TPQ:
        eot = 0
    until = max(last, eot)
    return barline_at_or_after(meters, until) if until > 0 else None


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
    _check_writable_size(score, end * scale, tpq_out)
    melodic = iter(_MELODIC_CHANNELS * (1 + len(score.tracks) // len(_MELODIC_CHANNELS)))
    try:
        with meta_charset("utf-8"):  # text metas in UTF-8, as mido.MidiFile(charset="utf-8") writes them
            chunks = [_conductor_track(score, end, scale)]
            for index, track in enumerate(score.tracks):
                channel = DRUM_CHANNEL if track.is_drum else next(melodic)
                chunks.append(_part_track(track, index, channel, end, scale))
        header = struct.pack(">hhh", 1, len(chunks), tpq_out)  # signed, as mido writes it
    except (ValueError, TypeError, struct.error) as e:
        raise MidiWriteError(f"cannot encode the score as MIDI: {_first_line(e)}") from e
    return b"".join([b"MThd", struct.pack(">L", len(header)), header, *chunks])


def _check_writable_size(score: Score, end_ticks: int, tpq_out: int) -> None:
    """Refuse what no reader could read back: too many tracks, or longer than a 32-bit tick counter.

    Raises:
        MidiWriteError: naming the limit.
    """
    if len(score.tracks) + 1 > 0xFFFF:
        raise MidiWriteError(f"{len(score.tracks)} tracks: a MIDI file holds at most 65,534 parts")
    if end_ticks > COUNTER_LIMIT:
        raise MidiWriteError(
            f"the score ends at tick {end_ticks} of {tpq_out} per quarter, past tick {COUNTER_LIMIT} "
            "that MIDI readers count to; write with a smaller tpq_out or a shorter score"
        )


def _key_name(key: KeySignature) -> str:
    """The key as the file names it: the user's spelling where it is a real key signature (Gb major
    has 6 flats, C# major 7 sharps), else the usual one of the pitch class."""
    if key.spelling is not None:
        speller = KeySpeller.of(key)
        if -7 <= speller.fifths <= 7:
            return speller.name
    return (_MINOR_KEYS if key.mode == "minor" else _MAJOR_KEYS)[key.tonic % 12]


def _conductor_track(score: Score, end: int, scale: int) -> bytes:
    events: list[tuple[int, int, mido.MetaMessage]] = []
    if score.title:
        events.append((0, 0, mido.MetaMessage("track_name", name=score.title)))
    for meter in score.meters:
        events.append((meter.tick, 1, _time_signature(meter)))
    for key in score.keys:
        events.append((key.tick, 2, mido.MetaMessage("key_signature", key=_key_name(key))))
    for tempo in score.tempos:
        events.append((tempo.tick, 3, mido.MetaMessage("set_tempo", tempo=_microseconds(tempo))))
    for chord in score.chords:
        text = CHORD_MARKER_PREFIX + chord.symbol
        events.append((chord.tick, 4, mido.MetaMessage("marker", text=text)))
    # Labels after the final barline would sit past the last bar: drop them. A meter change
    # on the final barline stays: it may be what puts a barline there (3/4 ending a 4/4 bar early).
    kept = [e for e in events if e[0] == 0 or e[0] < end or (e[0] == end and e[1] == 1)]
    if any(e[0] < 0 for e in kept):
        raise MidiWriteError("a tempo, meter, key or chord label has a negative tick")
    return _to_track(kept, end, scale)


def _microseconds(tempo: Tempo) -> int:
    """A tempo as set_tempo's microseconds per quarter (1 to 0xFFFFFF: 3.58 to 60e6 qpm)."""
    if not 0 < tempo.qpm < float("inf"):
        raise MidiWriteError(f"tempo {tempo.qpm} qpm at tick {tempo.tick}: MIDI holds 3.58 to 60e6 qpm")
    value = mido.bpm2tempo(tempo.qpm)
    if not 1 <= value <= _MAX_TEMPO:
        raise MidiWriteError(f"tempo {tempo.qpm} qpm at tick {tempo.tick}: MIDI holds 3.58 to 60e6 qpm")
    return value


def _time_signature(meter: Meter) -> mido.MetaMessage:
    n, d = meter.numerator, meter.denominator
    if not 1 <= n <= 255 or d < 1 or d & (d - 1) or d > 128:
        raise MidiWriteError(f"meter {n}/{d} at tick {meter.tick}: MIDI needs a power-of-two denominator")
    compound = d == 8 and n % 3 == 0 and n > 3
    clocks = 96 // d * (3 if compound else 1) if d <= 32 else 1  # MIDI clocks per metronome click
    return mido.MetaMessage(
        "time_signature", numerator=n, denominator=d, clocks_per_click=clocks, notated_32nd_notes_per_beat=8
    )


def _part_track(track: Track, index: int, channel: int, end: int, scale: int) -> bytes:
    if not 0 <= track.program <= 127:
        raise MidiWriteError(f"track {index} ({track.name!r}): program {track.program} is not 0-127")
    events: list[tuple[int, int, object]] = []
    if track.name:
        events.append((0, 0, mido.MetaMessage("track_name", name=track.name)))
    events.append((0, 1, mido.Message("program_change", channel=channel, program=track.program)))
    note_off, note_on = 0x80 | channel, 0x90 | channel
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
        events.append((note.offset, 2, (note_off, note.pitch, 0)))
        events.append((note.onset, 3, (note_on, note.pitch, note.velocity)))
    return _to_track(events, end, scale)


def _to_track(events: list[tuple[int, int, object]], end: int, scale: int) -> bytes:
    """Absolute (tick, priority, message) events -> the MTrk chunk of a delta-timed track ending at `end`.

    A message is a mido message, or a `(status, note, velocity)` tuple for a note. The
    bytes are those mido's writer makes (running status for channel messages, reset by
    every meta), but notes go straight to bytes: building and checking a mido message per
    note took most of the ~10 s a 250,000-note save used to take. Notes are checked by
    the caller; a value that is not an int still fails here (TypeError), as in mido.
    """
    events.sort(key=lambda e: (e[0], e[1]))  # stable: equal keys keep insertion order
    data = bytearray()
    running, now = None, 0
    for tick, _, message in events:
        delta = (tick - now) * scale
        if delta > _MAX_DELTA:
            raise MidiWriteError(_gap_message(now, tick, scale))
        data += _vlq(delta)
        if isinstance(message, tuple):
            status, pitch, velocity = message
            if status != running:
                data.append(status)
                running = status
            data.append(pitch)
            data.append(velocity)
        elif message.is_meta:
            data += bytes(message.bytes())  # mido gives a list of ints
            running = None
        else:
            encoded = message.bytes()
            data += bytes(encoded[1:] if encoded[0] == running else encoded)
            running = encoded[0]
        now = tick
    if (max(end, now) - now) * scale > _MAX_DELTA:
        raise MidiWriteError(_gap_message(now, end, scale))
    data += _vlq((max(end, now) - now) * scale) + b"\xff\x2f\x00"  # end of track
    return b"MTrk" + struct.pack(">L", len(data)) + bytes(data)


def _vlq(value: int) -> bytes:
    """A MIDI variable-length number (a delta time): 7 bits a byte, high bit on all but the last."""
    if value < 0x80:
        return bytes((value,))
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _gap_message(start: int, stop: int, scale: int) -> str:
    """Why a silence is refused rather than split: MIDI has no event to carry time alone.

    Splitting would mean inventing events (empty text metas) that readers show or keep;
    a gap this long (over 77 hours at 120 qpm and 480 ticks per quarter) is broken timing.
    """
    return (
        f"a gap of {stop - start} ticks from tick {start} is longer than one MIDI delta time "
        f"holds ({_MAX_DELTA} ticks, here {_MAX_DELTA // scale} of the grid); "
        "write with a smaller tpq_out or close the gap"
    )
