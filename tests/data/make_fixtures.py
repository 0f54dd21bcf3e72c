"""Write the tiny MIDI fixtures in this folder, each named for the quirk it carries.

They are made with mido directly (not midigan's writer), so reading them tests our
reader against files we did not shape. Run from anywhere:

    python tests/data/make_fixtures.py

The output is deterministic; tests/test_midi_io.py checks the committed files match.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from pathlib import Path

import mido

HERE = Path(__file__).resolve().parent
Q = 480  # ticks per quarter in most fixtures


def _track(events: Iterable[tuple[int, mido.Message | mido.MetaMessage]], end: int | None = None):
    """A mido track from (absolute tick, message) pairs, kept in the given order."""
    track = mido.MidiTrack()
    now = 0
    for tick, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, (end or now) - now)))
    return track


def _on(tick: int, pitch: int, velocity: int = 80, channel: int = 0):
    return tick, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)


def _off(tick: int, pitch: int, channel: int = 0):
    return tick, mido.Message("note_off", note=pitch, velocity=0, channel=channel)


def _note(onset: int, duration: int, pitch: int, velocity: int = 80, channel: int = 0):
    return [_on(onset, pitch, velocity, channel), _off(onset + duration, pitch, channel)]


def _sorted(events):
    return sorted(events, key=lambda e: (e[0], e[1].type == "note_on"))


def _meta(tick: int, kind: str, **fields):
    return tick, mido.MetaMessage(kind, **fields)


def _file(tracks, kind: int = 1, tpq: int = Q) -> bytes:
    midi = mido.MidiFile(type=kind, ticks_per_beat=tpq)
    midi.tracks.extend(tracks)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def multitrack_programs() -> bytes:
    """Conductor 'Trio' (100 qpm, 4/4, G major) and three named parts with programs."""
    conductor = _track(
        [
            _meta(0, "track_name", name="Trio"),
            _meta(0, "time_signature", numerator=4, denominator=4),
            _meta(0, "key_signature", key="G"),
            _meta(0, "set_tempo", tempo=mido.bpm2tempo(100)),
        ],
        end=4 * Q,
    )
    parts = [
        _part(
            [(i * Q, Q, pitch + i) for i in range(4)],
            4 * Q,
            channel,
            extra=[
                _meta(0, "track_name", name=name),
                (0, mido.Message("program_change", program=program, channel=channel)),
            ],
        )
        for channel, (name, program, pitch) in enumerate(
            [("Violin", 40, 79), ("Viola", 41, 67), ("Cello", 42, 43)]
        )
    ]
    return _file([conductor, *parts])


def _part(notes: list[tuple[int, int, int]], end: int, channel: int = 0, extra=()) -> mido.MidiTrack:
    """A part from (onset, duration, pitch) in source ticks."""
    events = [e for onset, duration, pitch in notes for e in _note(onset, duration, pitch, 80, channel)]
    return _track([*extra, *_sorted(events)], end=end)


def triplets() -> bytes:
    """Eighth-note triplets (160 source ticks = 4 grid ticks) over one 2/4 bar."""
    conductor = _track([_meta(0, "time_signature", numerator=2, denominator=4)], end=2 * Q)
    notes = [(i * Q // 3, Q // 3, 60 + i) for i in range(6)]
    return _file([conductor, _part(notes, 2 * Q)])


def repeated_notes() -> bytes:
    """Four back-to-back quarter notes of one pitch; each next note-on comes BEFORE the
    note-off of the previous one at the shared tick (the order that breaks naive readers)."""
    events = [_on(0, 64)]
    for i in range(1, 4):
        events += [_on(i * Q, 64), _off(i * Q, 64)]
    events.append(_off(4 * Q, 64))
    return _file(
        [_track([_meta(0, "time_signature", numerator=4, denominator=4)], end=4 * Q), _track(events)]
    )


def meter_changes() -> bytes:
    """One 4/4 bar, two 3/4 bars, two 6/8 bars (5 bars), and a tempo change at bar 2."""
    bars = [(0, 4, 4), (4 * Q, 3, 4), (7 * Q, 3, 4), (10 * Q, 6, 8), (13 * Q, 6, 8)]
    conductor = _track(
        [
            _meta(0, "time_signature", numerator=4, denominator=4),
            _meta(0, "set_tempo", tempo=mido.bpm2tempo(120)),
            _meta(4 * Q, "time_signature", numerator=3, denominator=4),
            _meta(4 * Q, "set_tempo", tempo=mido.bpm2tempo(90)),
            _meta(10 * Q, "time_signature", numerator=6, denominator=8),
        ],
        end=16 * Q,
    )
    notes = [(start, Q // 2, 60 + i) for i, (start, _, _) in enumerate(bars)]
    return _file([conductor, _part(notes, 16 * Q)])


def drums_channel10() -> bytes:
    """A bass part on channel 1 and a kit on channel 10 (9 zero-based), in separate tracks."""
    conductor = _track([_meta(0, "set_tempo", tempo=mido.bpm2tempo(120))], end=4 * Q)
    bass = _part(
        [(0, 2 * Q, 36), (2 * Q, 2 * Q, 43)], 4 * Q, channel=0, extra=[_meta(0, "track_name", name="Bass")]
    )
    kit_notes = [(i * Q, Q // 4, 36 if i % 2 == 0 else 38) for i in range(4)]
    kit = _part(kit_notes, 4 * Q, channel=9, extra=[_meta(0, "track_name", name="Kit")])
    return _file([conductor, bass, kit])


def overlapping_same_pitch() -> bytes:
    """Two C4s overlapping: on 0, on 240, off 480, off 720 (first in, first out)."""
    events = [_on(0, 60, 100), _on(Q // 2, 60, 70), _off(Q, 60), _off(3 * Q // 2, 60)]
    return _file([_track([], end=4 * Q), _track(events, end=4 * Q)])


def velocity0_noteoff() -> bytes:
    """Note-offs written as note-on with velocity 0 (running status in most files)."""
    events = []
    for i, pitch in enumerate([60, 62, 64, 65]):
        events += [_on(i * Q, pitch, 90), _on(i * Q + Q // 2, pitch, 0)]
    return _file([_track([], end=4 * Q), _track(events, end=4 * Q)])


def pickup() -> bytes:
    """A 3/4 tune with a one-quarter upbeat, padded with a leading two-quarter rest."""
    notes = [(2 * Q, Q, 67), (3 * Q, 3 * Q, 72), (6 * Q, 3 * Q, 71)]
    conductor = _track([_meta(0, "time_signature", numerator=3, denominator=4)], end=9 * Q)
    return _file([conductor, _part(notes, 9 * Q)])


def pickup_partial_bar() -> bytes:
    """The same upbeat written as a 1/4 bar followed by 3/4 (how some editors export it)."""
    notes = [(0, Q, 67), (Q, 3 * Q, 72), (4 * Q, 3 * Q, 71)]
    conductor = _track(
        [
            _meta(0, "time_signature", numerator=1, denominator=4),
            _meta(Q, "time_signature", numerator=3, denominator=4),
        ],
        end=7 * Q,
    )
    return _file([conductor, _part(notes, 7 * Q)])


def type0_channels() -> bytes:
    """Type 0: one track with a flute (ch 1, program 73), a bass (ch 2, program 33) and drums (ch 10)."""
    events = [
        _meta(0, "track_name", name="Single Track"),
        _meta(0, "set_tempo", tempo=mido.bpm2tempo(110)),
        (0, mido.Message("program_change", program=73, channel=0)),
        (0, mido.Message("program_change", program=33, channel=1)),
    ]
    notes = [
        *_note(0, Q, 72, 90, 0),
        *_note(Q, Q, 74, 90, 0),
        *_note(0, 2 * Q, 36, 70, 1),
        *_note(0, Q // 4, 42, 100, 9),
        *_note(Q, Q // 4, 42, 100, 9),
    ]
    return _file([_track(events + _sorted(notes), end=4 * Q)], kind=0)


def off_grid() -> bytes:
    """tpq 480 with notes 7 and 13 ticks off the 12-per-quarter grid (1 grid tick = 40)."""
    notes = [(7, Q - 7, 60), (Q + 13, Q, 62), (2 * Q, Q, 64)]
    return _file([_track([], end=4 * Q), _part(notes, 4 * Q)])


def no_notes() -> bytes:
    """A valid file with a tempo and a conductor ending after two 4/4 bars, and no notes."""
    return _file([_track([_meta(0, "set_tempo", tempo=mido.bpm2tempo(80))], end=8 * Q)])


def _valid_small() -> bytes:
    return _file([_track([], end=Q), _part([(0, Q, 60)], Q)])


def truncated() -> bytes:
    """A valid file cut in the middle of its second track."""
    data = _valid_small()
    return data[: len(data) - 6]


def zero_tpq() -> bytes:
    """A header claiming zero ticks per quarter note."""
    data = bytearray(_valid_small())
    data[12:14] = b"\x00\x00"
    return bytes(data)


def smpte() -> bytes:
    """SMPTE time division (25 fps, 40 ticks per frame) instead of ticks per quarter."""
    data = bytearray(_valid_small())
    data[12:14] = bytes([0x100 - 25, 40])
    return bytes(data)


FIXTURES: dict[str, Callable[[], bytes]] = {
    "multitrack_programs.mid": multitrack_programs,
    "triplets.mid": triplets,
    "repeated_notes.mid": repeated_notes,
    "meter_changes.mid": meter_changes,
    "drums_channel10.mid": drums_channel10,
    "overlapping_same_pitch.mid": overlapping_same_pitch,
    "velocity0_noteoff.mid": velocity0_noteoff,
    "pickup.mid": pickup,
    "pickup_partial_bar.mid": pickup_partial_bar,
    "type0_channels.mid": type0_channels,
    "off_grid.mid": off_grid,
    "no_notes.mid": no_notes,
    "truncated.mid": truncated,
    "zero_tpq.mid": zero_tpq,
    "smpte.mid": smpte,
    "empty.mid": lambda: b"",
    "not_midi.mid": lambda: b"This is a text file with a .mid name, not a MIDI file.\n",
}


def main() -> None:
    for name, make in FIXTURES.items():
        (HERE / name).write_bytes(make())


if __name__ == "__main__":
    main()
