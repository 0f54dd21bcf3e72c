"""Live MIDI output: timing, clean note-offs on Ctrl-C, plain errors without a MIDI system."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from click.testing import CliRunner
from conftest import make_score

import midigan.io.live as live
from midigan.cli import main
from midigan.errors import LiveMidiError


class FakeClock:
    """A clock that only moves when the player sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakePort:
    """Records every message with the fake time it was sent; can raise Ctrl-C on the k-th send."""

    def __init__(self, clock: FakeClock, interrupt_at: int | None = None) -> None:
        self.clock, self.interrupt_at = clock, interrupt_at
        self.sent: list[tuple[float, object]] = []

    def send(self, message) -> None:
        if self.interrupt_at is not None and len(self.sent) == self.interrupt_at:
            self.interrupt_at = None
            raise KeyboardInterrupt
        self.sent.append((self.clock.now, message))


def _scale():
    # one quarter note a beat at 120 qpm: an onset every 0.5 s, each held 0.5 s
    return make_score([(60 + i, 12 * i, 12, 80) for i in range(8)], qpm=120.0, end_tick=96)


def _note_ons(port: FakePort) -> list[tuple[float, int]]:
    return [(t, m.note) for t, m in port.sent if m.type == "note_on" and m.velocity > 0]


def test_messages_go_out_on_time():
    clock = FakeClock()
    port = FakePort(clock)
    sent = live.play(_scale(), port, clock=clock, sleep=clock.sleep)
    ons = _note_ons(port)
    assert [n for _, n in ons] == list(range(60, 68))
    assert [t for t, _ in ons] == pytest.approx([0.5 * i for i in range(8)], abs=1e-6)
    offs = [
        (t, m.note) for t, m in port.sent if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0)
    ]
    assert offs[: len(ons)] == [(pytest.approx(0.5 * (i + 1), abs=1e-6), 60 + i) for i in range(8)]
    assert sent == len(port.sent) - 2  # the final clean-up adds sustain off and all notes off


def test_tempo_scales_the_timing():
    clock = FakeClock()
    port = FakePort(clock)
    live.play(_scale(), port, tempo=60.0, clock=clock, sleep=clock.sleep)
    assert [t for t, _ in _note_ons(port)] == pytest.approx([1.0 * i for i in range(8)], abs=1e-6)


def test_ctrl_c_releases_every_sounding_note():
    clock = FakeClock()
    chord_and_melody = make_score([(48, 0, 96, 70), (60, 0, 12, 80), (62, 12, 12, 80), (64, 24, 12, 80)])
    port = FakePort(clock, interrupt_at=6)
    with pytest.raises(KeyboardInterrupt):
        live.play(chord_and_melody, port, clock=clock, sleep=clock.sleep)
    on = set()
    for _, m in port.sent:
        if m.type == "note_on" and m.velocity:
            on.add((m.channel, m.note))
        elif m.type in ("note_on", "note_off"):
            on.discard((m.channel, m.note))
    assert on == set()  # every note that was started has been released
    tail = [(m.type, getattr(m, "control", None)) for _, m in port.sent[-2:]]
    assert tail == [("control_change", live.SUSTAIN), ("control_change", live.ALL_NOTES_OFF)]
    assert any(m.type == "note_on" and m.note == 48 and m.velocity for _, m in port.sent)  # the held bass


def test_bad_tempo_is_refused_before_anything_is_sent():
    port = FakePort(FakeClock())
    with pytest.raises(Exception, match="tempo"):
        live.play(_scale(), port, tempo=0)
    assert port.sent == []


def test_no_midi_system_is_one_plain_line(monkeypatch, tmp_path):
    monkeypatch.setattr(live.sys, "platform", "linux")
    monkeypatch.setattr(live, "ALSA_SEQUENCER", tmp_path / "no-seq")
    with pytest.raises(LiveMidiError, match="no MIDI system"):
        live.open_output("anything")
    song = tmp_path / "song.mid"
    import midigan

    midigan.save(_scale(), song)
    for args in (["play", str(song), "--port", "x"], ["play", "--list-ports"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1
        assert result.output.count("\n") == 1 and result.output.startswith("error: no MIDI system")


def test_port_names_are_matched_or_listed():
    assert live._choose("fluid", ["Midi Through:0", "FLUID Synth:0"]) == "FLUID Synth:0"
    with pytest.raises(LiveMidiError, match="ports present: 'Midi Through:0'"):
        live._choose("daw", ["Midi Through:0"])
    with pytest.raises(LiveMidiError, match="no MIDI output ports"):
        live._choose(None, [])


_HAS_ALSA = sys.platform.startswith("linux") and live.ALSA_SEQUENCER.exists()
_HAS_RTMIDI = importlib.util.find_spec("rtmidi") is not None


@pytest.mark.skipif(not _HAS_RTMIDI, reason="python-rtmidi is not installed (pip install 'midigan[live]')")
@pytest.mark.skipif(not _HAS_ALSA, reason="no ALSA sequencer (/dev/snd/seq) on this machine")
def test_a_virtual_port_plays_and_is_seen():
    import mido

    port = live.open_output("midigan-test", virtual=True)
    try:
        assert any("midigan-test" in name for name in mido.get_output_names())
        assert live.play(_scale(), port, tempo=6000.0) > 16
    finally:
        port.close()
