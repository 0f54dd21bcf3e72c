"""A seeded MIDI mutator and the check every mutated file must pass (used by tests/test_fuzz.py).

Seeds are the fixtures of tests/data plus one hand-made file that holds what they lack
(running status, SysEx, every meta the reader keeps). Each mutated file is made from a
seed by one or more mutations, chosen from a `random.Random` seeded by the run's seed and
the file's index, so any failure is reproduced by its two numbers:

    python tests/midi_fuzz.py --seed 12 --start 417 --count 1 --keep /tmp/bad

The check (:func:`check_file`): the file either loads, and then saves, reloads to the
same notes and converts to PianoRoll, EventTokens and NoteStreams (the training view,
encoded by a fitted StreamVocab), or raises midigan's own error at one of these steps.
Run as a script, a worker checks a range of files under an address-space limit
(``RLIMIT_AS``) and prints one JSON line per file with its outcome and seconds, then one
with its peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).parent / "data"

# ------------------------------------------------------------------ bytes of a MIDI file
Event = tuple[int, bytes]  # (delta, the event with its own status byte)


def vlq(value: int) -> bytes:
    """A variable-length number (any size: mutations write too-long ones on purpose)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack(">I", len(body)) + body


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(tag, body) of each chunk, as far as the declared lengths allow."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "big")
        out.append((data[pos : pos + 4], data[pos + 8 : pos + 8 + size]))
        pos += 8 + size
    return out


def read_vlq(body: bytes, pos: int) -> tuple[int, int]:
    """The variable-length number at `pos`, and the position after it."""
    value = 0
    while True:
        byte = body[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos


def events_of(body: bytes) -> list[Event]:
    """A well-formed track body as events, running status written out (seeds only)."""
    events, pos, status = [], 0, 0
    while pos < len(body):
        delta, pos = read_vlq(body, pos)
        kind = body[pos]
        if kind in (0xFF, 0xF0, 0xF7):  # meta (type byte, then length) or sysex (length)
            length, after = read_vlq(body, pos + (2 if kind == 0xFF else 1))
            events.append((delta, body[pos : after + length]))
            pos = after + length
        else:
            if kind & 0x80:
                status, pos = kind, pos + 1
            size = 1 if status & 0xE0 == 0xC0 else 2
            events.append((delta, bytes([status]) + body[pos : pos + size]))
            pos += size
    return events


def track_bytes(events: list[Event], running: bool = True) -> bytes:
    """Serialize events; `running` drops repeated channel status bytes (running status)."""
    out, last = bytearray(), None
    for delta, event in events:
        out += vlq(delta)
        if running and event and event[0] < 0xF0 and event[0] == last:
            out += event[1:]
        else:
            out += event
        last = event[0] if event and event[0] < 0xF0 else (last if running else None)
    return bytes(out)


def midi_file(fmt: int, division: int, tracks: list[list[Event]], ntracks: int | None = None) -> bytes:
    header = struct.pack(">HHH", fmt, len(tracks) if ntracks is None else ntracks, division)
    return chunk(b"MThd", header) + b"".join(chunk(b"MTrk", track_bytes(t)) for t in tracks)


def _rich_seed() -> bytes:
    """Running status, SysEx, tempo, meter, key, chord markers, names: what fixtures lack."""
    conductor = [
        (0, b"\xff\x03\x05Title"),
        (0, b"\xff\x58\x04\x03\x02\x18\x08"),
        (0, b"\xff\x59\x02\xfe\x01"),
        (0, b"\xff\x51\x03\x07\xa1\x20"),
        (0, b"\xff\x06\x0bchord:Dm7b5"),
        (960, b"\xff\x06\x07chord:G7"),
        (480, b"\xff\x51\x03\x05\x00\x00"),
        (960, b"\xff\x2f\x00"),
    ]
    part = [(0, b"\xff\x03\x04Lead"), (0, b"\xc1\x28"), (0, b"\xf0\x05\x7e\x7f\x09\x01\xf7")]
    for pitch in (62, 65, 69, 72, 71, 67):
        part += [(0, bytes([0x91, pitch, 90])), (240, bytes([0x91, pitch, 0]))]
    part += [(0, b"\xe1\x00\x50"), (10, b"\xb1\x40\x7f"), (470, b"\xff\x2f\x00")]
    drums = [(0, b"\x99\x24\x64"), (120, b"\x89\x24\x00"), (0, b"\x99\x26\x64"), (120, b"\x89\x26\x00")]
    return midi_file(1, 480, [conductor, part, [*drums, (0, b"\xff\x2f\x00")]])


def seeds() -> list[bytes]:
    """Every fixture of tests/data that is a MIDI file at all, and the rich seed."""
    found = [p.read_bytes() for p in sorted(DATA.glob("*.mid"))]
    return [d for d in found if d[:4] == b"MThd"] + [_rich_seed()]


# ------------------------------------------------------------------ mutations
def _flip_bits(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    """Cut at a chunk boundary, inside a chunk header, or a few bytes either side."""
    bounds, pos = [0, 14], 14
    for _, body in chunks(data)[1:]:
        bounds += [pos + 4, pos + 8, pos + 8 + len(body)]
        pos += 8 + len(body)
    cut = rng.choice(bounds) + rng.choice((-2, -1, 0, 0, 1, 3))
    return data[: max(0, min(cut, len(data) - 1))]


def _corrupt_length(data: bytes, rng: random.Random) -> bytes:
    starts, pos = [], 0
    while pos + 8 <= len(data):
        starts.append(pos)
        pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "big")
    at = rng.choice(starts)
    size = int.from_bytes(data[at + 4 : at + 8], "big")
    new = rng.choice((0, 1, 5, 7, size - 1, size + 1, size + 100, 0x7FFFFFFF, 0xFFFFFFFF))
    return data[: at + 4] + struct.pack(">I", new % 2**32) + data[at + 8 :]


def _header(data: bytes, rng: random.Random) -> bytes:
    """SMPTE and odd divisions, format 2 and unknown formats, a wrong track count."""
    fmt, ntracks, division = struct.unpack(">HHH", data[8:14])
    choice = rng.randrange(4)
    if choice == 0:
        division = rng.choice((0xE728, 0xE250, 0xE719, 0x8000, 0xFFFF))  # SMPTE (-25, -30 fps...)
    elif choice == 1:
        division = rng.choice((1, 2, 3, 5, 7, 0x7FFF, 96, 1000))
    elif choice == 2:
        fmt = rng.choice((2, 2, 3, 0xFFFF, 0))
    else:
        ntracks = rng.choice((0, 1, ntracks + 1, 255, 0xFFFF))
    return data[:8] + struct.pack(">HHH", fmt, ntracks, division) + data[14:]


_EXTREME_METAS = (
    b"\xff\x51\x03\xff\xff\xff",  # the slowest tempo MIDI holds
    b"\xff\x51\x03\x00\x00\x00",  # tempo zero
    b"\xff\x51\x03\x00\x00\x01",  # the fastest
    b"\xff\x51\x00",  # tempo without bytes
    b"\xff\x51\x05\x01\x02\x03\x04\x05",
    b"\xff\x58\x04\x00\x02\x18\x08",  # 0/4
    b"\xff\x58\x04\xff\xff\x18\x08",  # 255 / 2**255
    b"\xff\x58\x04\x07\x07\x18\x08",  # 7/128
    b"\xff\x58\x04\x01\x06\x18\x08",  # 1/64: a bar under one grid tick
    b"\xff\x58\x04\x0d\x05\x18\x08",  # 13/32
    b"\xff\x58\x02\x04\x02",
    b"\xff\x59\x02\x80\x00",  # -128 sharps
    b"\xff\x59\x02\x07\x05",  # tonality 5
    b"\xff\x59\x02\xf9\x01",
    b"\xff\x06\x09chord:H#9",
    b"\xff\x06\x06chord:",
    b"\xff\x03\x04\xff\xfe\x80\xc3",  # a name that is not UTF-8
    b"\xff\x2f\x00",  # an early end of track
    b"\xff\x7f\x8f\xff\xff\x7f",  # a huge declared length
    b"\xf0\x8f\xff\xff\x7f",
)


Edit = Callable[[list[Event], random.Random], None]


def _edit_events(data: bytes, rng: random.Random, edit: Edit) -> bytes:
    """Apply `edit` to one track's events and write the file back with true lengths."""
    parts = chunks(data)
    tracks = [i for i, (tag, _) in enumerate(parts) if tag == b"MTrk"]
    if not tracks or len(data) < 14:
        return _flip_bits(data, rng)
    index = rng.choice(tracks)
    try:
        events = events_of(parts[index][1])
    except IndexError:
        return _flip_bits(data, rng)
    edit(events, rng)
    body = track_bytes(events, running=rng.random() < 0.7)
    rebuilt = [(tag, body if i == index else b) for i, (tag, b) in enumerate(parts)]
    return data[:14] + b"".join(chunk(tag, b) for tag, b in rebuilt[1:])


def _huge_delta(events: list[Event], rng: random.Random) -> None:
    for _ in range(rng.choice((1, 1, 2, 8, 17))):
        at = rng.randrange(len(events) + 1)
        delta = rng.choice((0x0FFFFFFF, 0x0FFFFFFF, 0x1FFFFF, 0x3FFF, 2**31, 2**35, rng.randrange(2**28)))
        if at < len(events):
            events[at] = (delta, events[at][1])
        else:
            events.append((delta, b"\x90\x3c\x40"))


def _extreme_meta(events: list[Event], rng: random.Random) -> None:
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(events) + 1)
        events.insert(at, (rng.choice((0, 0, 7, 480)), rng.choice(_EXTREME_METAS)))


def _running_status_oddity(events: list[Event], rng: random.Random) -> None:
    """A data byte with no status before it, a stray status byte, a status stripped mid-run."""
    at = rng.randrange(len(events) + 1)
    odd = rng.choice(
        (b"\x3c\x40", b"\x80", b"\xf1\x01", b"\xf4", b"\xf8", b"\xfe", b"\x90\x3c", b"\xc0", b"\x90\x80\x80")
    )
    events.insert(at, (rng.randrange(3), odd))
    if rng.random() < 0.5 and events:
        i = rng.randrange(len(events))
        delta, event = events[i]
        if event and event[0] < 0xF0:
            events[i] = (delta, event[1:])  # stripped: reads as running status of whatever came before


def _many_notes(events: list[Event], rng: random.Random) -> None:
    """Long runs of notes, overlapping and zero-length, at a stretched time."""
    pitch = rng.randrange(128)
    for _ in range(rng.choice((10, 200, 2000))):
        note_on = bytes([0x90 | rng.randrange(16), pitch, rng.randrange(128)])
        events.insert(0, (rng.choice((0, 0, 1, 100)), note_on))


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three mutations of `data`, chosen by `rng`."""
    simple = (_flip_bits, _truncate, _corrupt_length, _header)
    edits = (_huge_delta, _extreme_meta, _running_status_oddity, _many_notes)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if len(data) < 14:  # what is left of a header takes bit flips only
            data = _flip_bits(data, rng) if data else data
        elif rng.random() < 0.45:
            data = rng.choice(simple)(data, rng)
        else:
            edit = rng.choice(edits)
            data = _edit_events(data, rng, edit)
    return data


def mutated_file(seed: int, index: int, bases: list[bytes]) -> bytes:
    rng = random.Random(f"{seed}:{index}")
    return mutate(rng.choice(bases), rng)


# ------------------------------------------------------------------ the check
def check_file(data: bytes) -> str:
    """'loaded' or 'refused: <step>'; a foreign exception or a broken promise propagates."""
    from midigan.errors import MidiganError
    from midigan.io.midi import midi_bytes, score_from_midi_bytes
    from midigan.representations import EventTokens, NoteStreams, PianoRoll, StreamVocab

    try:
        score, _ = score_from_midi_bytes(data, "fuzz.mid")
    except MidiganError as e:
        assert "\n" not in str(e) and "MiniMidi" not in str(e), str(e)
        return "refused: load"
    saved = midi_bytes(score)  # whatever loads saves: a MidiWriteError here is a failure
    back, _ = score_from_midi_bytes(saved, "saved.mid")
    assert [len(t.notes) for t in back.tracks] == [len(t.notes) for t in score.tracks], "notes lost on save"
    assert back.end == score.end, "the end moved on save"
    for field in ("tempos", "meters", "keys", "chords"):  # the writer drops labels past the last bar
        end = score.end + (field == "meters")  # a meter on the final barline is kept
        kept = [c for c in getattr(score, field) if c.tick == 0 or c.tick < end]
        assert getattr(back, field) == kept, f"{field} changed on save"
    PianoRoll.from_score(score)
    step = "tokens"
    try:
        EventTokens.from_score(score)
        step = "streams"
        streams = NoteStreams.from_score(score, to_c=True)
        if (streams.pitch >= 0).any():
            StreamVocab.fit([streams]).encode(streams)
    except MidiganError:
        return f"refused: {step}"
    return "loaded"


def _limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--memory-mb", type=int, default=3072)
    parser.add_argument("--keep", type=Path, help="write each file checked here, for a look at a failure")
    args = parser.parse_args()
    import midigan.io.midi
    import midigan.representations  # noqa: F401  (imported before the limit: their memory is not a file's)

    _limit_memory(args.memory_mb)
    warnings.simplefilter("ignore")
    bases = seeds()
    for index in range(args.start, args.start + args.count):
        data = mutated_file(args.seed, index, bases)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / f"{args.seed}-{index}.mid").write_bytes(data)
        started = time.perf_counter()
        try:
            outcome = check_file(data)
        except Exception as e:  # the whole point: report anything that escapes, MemoryError included
            outcome = f"FAILED: {type(e).__name__}: {str(e)[:300]}"
        line = {"index": index, "outcome": outcome, "seconds": round(time.perf_counter() - started, 4)}
        print(json.dumps(line), flush=True)
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    print(json.dumps({"peak_mb": round(peak_mb, 1)}), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
