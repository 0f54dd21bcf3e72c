"""The raw bytes of a standard MIDI file, checked before a parser trusts them.

symusic (the C++ reader under :mod:`midigan.io.midi`) sums delta times in a signed 32-bit
counter and believes any length: a few maximal deltas wrap it to negative onsets, and a
tiny file with 1 tick per quarter and one 4-byte delta claims millions of bars. So every
file is walked here first, chunk by chunk and event by event (a few milliseconds for a
real file): the walk sums each track's deltas in Python integers and stops the file at
the first event past the length it may have. It also reads the first track's name and
end, which symusic drops. symusic's own messages ("MiniMidi: Invaild midi file!") are
turned into plain sentences here too.

Limits (defaults generous for real music, raisable by the reader's keyword arguments):
:data:`MAX_TICKS` for length, :data:`MAX_NOTES` for notes, :data:`MAX_TRACKS` for tracks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from midigan.errors import MidiReadError
from midigan.music.score import TPQ

MAX_TICKS = 50_000 * TPQ
"""Default longest piece, in grid ticks: 50,000 quarter notes (almost 7 hours at 120 qpm)."""

MAX_NOTES = 250_000
"""Default most notes in one file (a long orchestral MIDI file holds some 50,000)."""

MAX_TRACKS = 1024
"""Most track chunks in one file, and most parts once read (a type-1 file can hold 65,535;
midigan writes one more track than it has parts, and real files hold a few dozen)."""

COUNTER_LIMIT = 2**31 - 1
"""The largest tick symusic's signed 32-bit counter holds; longer files cannot be read exactly."""

# symusic's messages, by their start, and what each means to a user.
_PARSER_MESSAGES = (
    ("MiniMidi: Invaild midi file! File header", "not a MIDI file (no MThd header)"),
    ("MiniMidi: Invaild midi file! File size", "truncated MIDI file (shorter than its header)"),
    ("MiniMidi: Invaild midi file! The first chunk", "damaged header (the MThd chunk is not 6 bytes long)"),
    ("MiniMidi: Invaild midi format", "unknown MIDI file format (only types 0, 1 and 2 exist)"),
    ("MiniMidi: Division type", "SMPTE time division is not supported; re-export with ticks per beat"),
    ("MiniMidi: Invalid chunk length", "damaged or truncated file (a chunk is longer than the file)"),
    ("MiniMidi: Meta value", "damaged file (a meta event holds a value out of range)"),
    ("MiniMidi: Unexpected EOF in MIDI", "truncated file (it ends inside a note or controller event)"),
    ("MiniMidi: Unexpected EOF in Meta", "truncated file (it ends inside a meta event)"),
    ("MiniMidi: Unexpected EOF in SysEx", "truncated file (it ends inside a system-exclusive event)"),
    ("MiniMidi: Unexpected EOF in running", "truncated file (it ends inside a note or controller event)"),
    ("MiniMidi: Unexpected EOF while", "truncated file (it ends inside a chunk header)"),
    ("MiniMidi: Unexpected running status", "damaged track data (a data byte where an event must start)"),
    ("MiniMidi: Unknown or unsupported status", "damaged track data (an unknown event type)"),
    ("Overflow", "damaged timing (event times overflow)"),
)

_OUT_OF_RANGE = re.compile(r"Get (\w+)=(-?\d+)")


def parser_error(error: Exception, name: str) -> MidiReadError:
    """symusic's failure as midigan's error: one plain sentence naming what is wrong."""
    text = str(error).strip()
    value = _OUT_OF_RANGE.match(text)  # "Get velocity=200"
    if value:
        what, number = value.group(1).replace("_", " "), value.group(2)
        return MidiReadError(f"{name}: damaged track data (a {what} of {number}; data bytes stop at 127)")
    for start, meaning in _PARSER_MESSAGES:
        if text.startswith(start):
            return MidiReadError(f"{name}: {meaning}")
    return MidiReadError(f"{name}: damaged MIDI file (the parser could not read it)")


def check_header(data: bytes, name: str) -> int:
    """Validate the MThd chunk and return the ticks per quarter note.

    Raises:
        MidiReadError: empty, not MIDI, truncated, SMPTE or zero timing, too many tracks.
    """
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
    tracks = int.from_bytes(data[10:12], "big")
    if tracks > MAX_TRACKS:
        raise MidiReadError(f"{name}: {tracks} tracks; midigan reads files of up to {MAX_TRACKS} tracks")
    return division


KEPT_METAS = (0x06, 0x51, 0x58, 0x59)
"""The first track's meta events the walk keeps: marker, set tempo, time signature, key signature."""


@dataclass(frozen=True)
class Layout:
    """What the walk found, in source ticks.

    Attributes:
        title: the first track's name ('' when none).
        first_end: the first track's end-of-track tick.
        tracks: the number of MTrk chunks.
        metas: the first track's meta events of each type of :data:`KEPT_METAS`, `(tick, raw
            data bytes)` in file order, before its end of track: in a midigan file the chord
            labels and the tempo, meter and key maps, read here at no extra cost instead of
            through symusic's objects one by one. None where the first track is not meta
            events alone up to an end of track (see :func:`_walk_track`).
    """

    title: str
    first_end: int
    tracks: int
    metas: dict[int, list[tuple[int, bytes]]] | None

    @property
    def markers(self) -> list[tuple[int, bytes]] | None:
        """The first track's marker events (meta 0x06): the chord labels of a midigan file."""
        return None if self.metas is None else self.metas[0x06]


def walk(data: bytes, name: str, limit: int, tpq: int) -> Layout:
    """Check every MTrk chunk, refusing a file with an event later than `limit` source ticks.

    The first track is walked event by event (its name and end are wanted). The others
    are walked only when :func:`delta_bound` of the bytes after the first track (so not of
    the title's text) cannot prove that none reaches `limit`; the decision, and the error,
    are those of a walk of every track. A ragged last event is left for the parser to
    judge (it may accept the file).

    Raises:
        MidiReadError: an event past `limit`, or more than :data:`MAX_TRACKS` track chunks.
    """
    chunks = _track_chunks(data)
    cleared = len(chunks) < 2 or delta_bound(data[chunks[1][0] :]) <= limit
    title, first_end = "", 0
    metas: dict[int, list[tuple[int, bytes]]] = {meta: [] for meta in KEPT_METAS}
    for index, (start, stop) in enumerate(chunks):
        if index == MAX_TRACKS or (index and cleared):
            break
        track_name, end, last = _walk_track(data, start, stop, limit, metas if index == 0 else None)
        if last > limit:
            raise MidiReadError(f"{name}: {_too_long(last, limit, tpq)}")
        if index == 0:
            title, first_end = track_name, end
    if len(chunks) > MAX_TRACKS:  # after the walk, so a track too long is named first, as it comes first
        raise MidiReadError(f"{name}: more than {MAX_TRACKS} tracks, the most midigan reads")
    return Layout(title, first_end, len(chunks), metas if metas and chunks else None)


def _track_chunks(data: bytes) -> list[tuple[int, int]]:
    """`(first byte, end)` of the MTrk chunks' events, the end clipped to the file; the scan
    stops at chunk :data:`MAX_TRACKS` + 1 (one too many is enough to refuse the file)."""
    pos = 8 + int.from_bytes(data[4:8], "big")
    chunks: list[tuple[int, int]] = []
    while pos + 8 <= len(data) and len(chunks) <= MAX_TRACKS:
        size = int.from_bytes(data[pos + 4 : pos + 8], "big")
        if data[pos : pos + 4] == b"MTrk":
            chunks.append((pos + 8, min(len(data), pos + 8 + size)))
        pos += 8 + size
    return chunks


_TWO_BYTES = np.asarray([v if v < 0x80 else (v - 0x80) * 0x80 + 0x7F for v in range(256)], dtype=np.int64)
"""The largest number of at most two bytes that starts with each byte value."""


def delta_bound(data: bytes) -> int:
    """An upper bound on the last event tick of every track, from all bytes at once.

    A track's last tick is the sum of its delta times, and its deltas start at distinct
    bytes of its chunk; chunks do not overlap. So the sum, over every byte of the file, of
    the variable-length number that would start there bounds every track's length, however
    a reader splits the bytes into events (where no number is longer than two bytes, as in
    most files, the largest two-byte number each byte could start is summed instead: one
    table lookup). A number longer than MIDI's four bytes gives no bound (the walk then
    reads it): returns :data:`COUNTER_LIMIT` + 1. A few µs for a 1 KiB file, against ~100 µs
    for walking its events in Python.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    if len(raw) < 2 or (raw[:-1] & raw[1:]).max() < 0x80:  # no two continuation bytes in a row
        return int(_TWO_BYTES.take(raw).sum())  # so no number is longer than two bytes
    b = np.frombuffer(data + b"\0\0\0", dtype=np.uint8)  # padded: a number cut off by the end stops
    more = b >= 0x80  # a continuation: the number goes on to the next byte
    m0, m1 = more[:-3], more[1:-2]
    if (m0 & m1 & more[2:-1] & more[3:]).any():  # a number of 5+ bytes
        return COUNTER_LIMIT + 1
    size = len(data)
    wide = b.astype(np.int64)
    low = wide & 0x7F
    b0, b1, b2, b3 = (wide[i : size + i] for i in range(4))
    l0, l1, l2 = (low[i : size + i] for i in range(3))
    m2 = more[2 : size + 2]
    two = (l0 << 7) | b1
    three = (l0 << 14) | (l1 << 7) | b2
    four = (l0 << 21) | (l1 << 14) | (l2 << 7) | b3
    value = np.where(m0, np.where(m1, np.where(m2, four, three), two), b0)
    return int(value.sum())


def _too_long(tick: int, limit: int, tpq: int) -> str:
    if tick > COUNTER_LIMIT:
        return f"an event at tick {tick} is past tick {COUNTER_LIMIT}, the most a MIDI tick counter holds"
    return (
        f"an event {tick / tpq:,.0f} quarter notes in is past the length limit of {limit / tpq:,.0f} "
        "(max_ticks); the timing is likely corrupt (for a real piece that long, raise max_ticks= "
        "or `midigan --max-ticks N`)"
    )


def _walk_track(
    data: bytes, pos: int, end: int, limit: int, metas: dict[int, list[tuple[int, bytes]]] | None = None
) -> tuple[str, int, int]:
    """One track: its name, its end-of-track tick and its last other event's tick.

    Stops early once an event passes `limit` (that tick is returned as the last event).
    `metas`, when given, receives every meta event of the types it holds lists for, before
    the end of track, as `(tick, raw data bytes)` (:attr:`Layout.metas`); it is emptied
    where the track is not meta events alone, each number at most MIDI's four bytes, up to
    an end of track (another parser may split other bytes otherwise than this walk).
    The loop is the hot path of reading (about a microsecond per event): channel
    messages, nearly all of a file, take the first branch; deltas of one or two bytes
    (a conductor track's, between beats) are read inline.
    """
    name, tick, status = None, 0, 0
    kept = metas if metas is not None else {}
    try:
        while pos < end:
            delta = data[pos]
            if delta < 0x80:  # most deltas fit one byte
                pos += 1
            elif data[pos + 1] < 0x80:  # the rest mostly two
                delta = (delta & 0x7F) << 7 | data[pos + 1]
                pos += 2
            else:
                delta, after = _read_vlq(data, pos)
                if after - pos > 4:
                    kept.clear()
                pos = after
            kind = data[pos]
            if kind < 0xF0:  # a channel message, with its status byte or running status
                if kept:
                    kept.clear()
                tick += delta
                if kind & 0x80:
                    status = kind
                    pos += 1
                pos += 1 if status & 0xE0 == 0xC0 else 2  # program change, channel pressure: 1 byte
            elif kind == 0xFF:
                meta, length = data[pos + 1], data[pos + 2]
                if meta == 0x2F:
                    return name or "", tick + delta, tick
                tick += delta
                if length < 0x80:
                    pos += 3
                else:
                    length, after = _read_vlq(data, pos + 2)
                    if after - pos > 6:
                        kept.clear()
                    pos = after
                bucket = kept.get(meta)
                if bucket is not None:
                    if pos + length <= end:  # a ragged one: left out
                        bucket.append((tick, data[pos : pos + length]))
                elif meta == 0x03 and name is None:
                    name = data[pos : pos + length].decode("utf-8", errors="replace")
                pos += length
            else:  # system exclusive (0xF0, 0xF7) or a byte the parser will judge
                kept.clear()
                tick += delta
                length, pos = _read_vlq(data, pos + 1)
                pos += length
            if delta > 0x7F and tick > limit:
                break
    except IndexError:
        pass  # a ragged last event: the parser decides whether the file is readable
    kept.clear()  # no end of track
    return name or "", tick, tick


def _read_vlq(data: bytes, pos: int) -> tuple[int, int]:
    """A variable-length number at `pos` and the position after it.

    MIDI allows 4 bytes; a longer run is read whole (it only makes the number larger, so
    the length check errs on the safe side), its value capped so the walk stays linear.
    """
    value = 0
    while True:
        byte = data[pos]
        pos += 1
        if value < 1 << 40:
            value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos
