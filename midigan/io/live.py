"""Live output: play a Score into a MIDI output port (a DAW, a synth, a virtual cable).

The messages are those of the Standard MIDI File midigan writes (:func:`midigan.io.midi.midi_bytes`),
so what is heard live is what `save` would have written, timed in seconds by the file's
own tempo map (optionally moved to another tempo). Ports come from mido's python-rtmidi
backend (the optional dependency `midigan[live]`: ALSA on Linux, CoreMIDI on macOS, WinMM
on Windows); on Linux and macOS midigan can open a *virtual* port other programs connect
to. However playing stops (the end, an exception, Ctrl-C), every note still sounding gets
its note-off and every channel used gets "all notes off" and "sustain off", so no synth is
left droning.

The clock and the sleep are parameters, so tests play a piece in no time into a fake port.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from midigan.errors import ConfigError, LiveMidiError
from midigan.music.score import Score, Tempo

if TYPE_CHECKING:
    import mido

ALSA_SEQUENCER = Path("/dev/snd/seq")
ALL_NOTES_OFF, SUSTAIN = 123, 64
VIRTUAL_PORT_NAME = "midigan"


class OutputPort(Protocol):
    """What :func:`play` needs of a port (a `mido` output port has it)."""

    def send(self, message: mido.Message) -> None: ...


def timed_messages(score: Score, tempo: float | None = None) -> list[tuple[float, mido.Message]]:
    """The piece's channel messages with their times in seconds from the start.

    Args:
        score: the piece.
        tempo: play at this many quarter notes per minute (the whole tempo map scaled so
            its first tempo becomes this); None = as written.

    Raises:
        ConfigError: a tempo that is not a positive number.
    """
    import mido

    from midigan.io.midi import midi_bytes

    if tempo is not None:
        if not isinstance(tempo, (int, float)) or not 0 < tempo <= 1000:
            raise ConfigError(f"tempo must be a number of quarter notes per minute, 1-1000 (got {tempo!r})")
        score = score.copy()
        first = sorted(score.tempos, key=lambda t: t.tick)[0].qpm if score.tempos else 120.0
        score.tempos = [Tempo(t.tick, t.qpm * tempo / first) for t in score.tempos] or [Tempo(0, tempo)]
    midi = mido.MidiFile(file=io.BytesIO(midi_bytes(score)))
    out, now = [], 0.0
    for message in midi:  # mido merges the tracks and gives each delta in seconds
        now += message.time
        if not message.is_meta and message.type != "sysex":
            out.append((now, message.copy(time=0)))
    return out


def play(
    score: Score,
    port: OutputPort,
    tempo: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send the piece to `port` in real time; returns the number of messages sent.

    Ctrl-C (KeyboardInterrupt) or any failure stops it cleanly: the notes sounding are
    released and every channel used is silenced before the exception goes on.

    Raises:
        ConfigError: a bad tempo.
        KeyboardInterrupt: re-raised after the clean-up.
    """
    messages = timed_messages(score, tempo)
    sounding: set[tuple[int, int]] = set()
    channels: set[int] = set()
    start = clock()
    sent = 0
    try:
        for at, message in messages:
            wait = at - (clock() - start)
            if wait > 0:
                sleep(wait)
            port.send(message)
            sent += 1
            _track(message, sounding, channels)
    finally:
        silence(port, sounding, channels)
    return sent


def _track(message: mido.Message, sounding: set[tuple[int, int]], channels: set[int]) -> None:
    """Keep count of the notes sounding and the channels touched."""
    if not hasattr(message, "channel"):
        return
    channels.add(message.channel)
    if message.type == "note_on" and message.velocity > 0:
        sounding.add((message.channel, message.note))
    elif message.type in ("note_on", "note_off"):
        sounding.discard((message.channel, message.note))


def silence(port: OutputPort, sounding: set[tuple[int, int]], channels: set[int]) -> None:
    """Note-off for every sounding note, then sustain off and all notes off on every channel."""
    import mido

    for channel, note in sorted(sounding):
        port.send(mido.Message("note_off", channel=channel, note=note, velocity=0))
    sounding.clear()
    for channel in sorted(channels):
        port.send(mido.Message("control_change", channel=channel, control=SUSTAIN, value=0))
        port.send(mido.Message("control_change", channel=channel, control=ALL_NOTES_OFF, value=0))


def _backend() -> Any:
    """mido's python-rtmidi backend, or a plain error saying what is missing."""
    import mido

    if sys.platform.startswith("linux") and not ALSA_SEQUENCER.exists():
        raise LiveMidiError(
            f"no MIDI system: the ALSA sequencer ({ALSA_SEQUENCER}) is not present "
            "(load the snd-seq kernel module, or play on a machine with sound)"
        )
    try:
        return mido.Backend("mido.backends.rtmidi", load=True)
    except ImportError as e:
        raise LiveMidiError("live MIDI output needs python-rtmidi: pip install 'midigan[live]'") from e


def output_names() -> list[str]:
    """Names of the MIDI output ports present.

    Raises:
        LiveMidiError: no MIDI system, or python-rtmidi missing.
    """
    backend = _backend()
    try:
        return list(backend.get_output_names())
    except OSError as e:  # rtmidi's SystemError / RtMidiError
        raise LiveMidiError(f"no MIDI system: {_first_line(e)}") from e


def open_output(name: str | None = None, virtual: bool = False) -> Any:
    """Open a MIDI output port: `name` (exact, or the only port whose name contains it),
    or with `virtual` a new port of that name (default "midigan") other programs connect to.

    Raises:
        LiveMidiError: no MIDI system, no such port (the message lists those present), or
            virtual ports unsupported on this platform (Windows).
    """
    backend = _backend()
    try:
        if virtual:
            if sys.platform.startswith("win"):
                raise LiveMidiError(
                    "virtual MIDI ports are not supported on Windows; name a port with --port"
                )
            return backend.open_output(name or VIRTUAL_PORT_NAME, virtual=True)
        names = list(backend.get_output_names())
        chosen = _choose(name, names)
        return backend.open_output(chosen)
    except OSError as e:
        raise LiveMidiError(f"cannot open MIDI output {name or '(default)'}: {_first_line(e)}") from e


def _choose(name: str | None, names: list[str]) -> str:
    if not names:
        raise LiveMidiError("no MIDI output ports: start a synth or a DAW, or use a virtual port (--virtual)")
    if name is None:
        return names[0]
    if name in names:
        return name
    matches = [n for n in names if name.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(repr(n) for n in names)
    what = "several ports match" if matches else "no MIDI output port"
    raise LiveMidiError(f"{what} {name!r}; ports present: {listed}")


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
