"""Exports: piano-roll PNG, WAV through fluidsynth, MusicXML, and `midigan render`."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import full_disk_on_write, make_score

from midigan.cli import main
from midigan.composer.arrange import arrange
from midigan.errors import RenderError
from midigan.io import parse_formats, write_score
from midigan.io import wav as wav_module
from midigan.io.atomic import new_file_mode
from midigan.io.midi import write_midi
from midigan.io.png import COLOURS, write_pianoroll
from midigan.music.score import ChordLabel, Score

HAVE_FLUIDSYNTH = shutil.which("fluidsynth") is not None
needs_fluidsynth = pytest.mark.skipif(not HAVE_FLUIDSYNTH, reason="fluidsynth not installed (CI installs it)")


@pytest.fixture
def band() -> Score:
    """Four bars of 4/4 at 120 qpm: melody plus chords and bass (8 seconds)."""
    notes = [(72 + (i % 5), i * 12, 12, 96) for i in range(16)]
    melody = make_score(notes, end_tick=4 * 48)
    return arrange(melody, [ChordLabel(i * 48, r, "maj") for i, r in enumerate((0, 5, 7, 0))])


def _png_pixels(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return imread(path)


def test_pianoroll_png_has_every_track_colour(tmp_path: Path, band: Score) -> None:
    out = write_pianoroll(band, tmp_path / "roll.png", title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = (_png_pixels(out)[..., :3] * 255).round().astype(int)
    assert pixels.shape[0] >= 400 and pixels.shape[1] >= 500
    for colour in COLOURS[:3]:  # melody, chords, bass each drawn in their colour (opacity = velocity)
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        blends = [255 * (1 - a) + rgb * a for a in np.linspace(0.45, 1.0, 12)]
        close = np.min([np.abs(pixels - b).sum(axis=-1) for b in blends], axis=0) < 20
        assert close.sum() > 1000, colour
    assert [p.name for p in tmp_path.iterdir()] == ["roll.png"]


@needs_fluidsynth
def test_wav_render_is_audible_and_as_long_as_the_piece(tmp_path: Path, band: Score) -> None:
    out = wav_module.render_wav(band, tmp_path / "band.wav")
    assert out.stat().st_mode & 0o777 == new_file_mode()
    with wave.open(str(out)) as handle:
        assert handle.getframerate() == 44100
        assert handle.getsampwidth() == 2
        frames = handle.readframes(handle.getnframes())
        seconds = handle.getnframes() / handle.getframerate()
    samples = np.frombuffer(frames, dtype=np.int16).astype(np.float64)
    assert 8.0 <= seconds <= 8.0 + 3.0  # four bars at 120 qpm, plus the release tail
    assert np.sqrt(np.mean(samples**2)) > 300  # not silence
    assert [p.name for p in tmp_path.iterdir()] == ["band.wav"]  # no temp file left


def _rms_by_second(path: Path) -> np.ndarray:
    """Root-mean-square level of each whole second of a 16-bit WAV file (channels mixed)."""
    with wave.open(str(path)) as handle:
        rate = handle.getframerate()
        samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16).astype(np.float64)
        samples = samples.reshape(-1, handle.getnchannels()).mean(axis=1)
    seconds = len(samples) // rate
    return np.sqrt((samples[: seconds * rate].reshape(seconds, rate) ** 2).mean(axis=1))


@needs_fluidsynth
def test_wav_preview_plays_a_crescendo_louder_as_it_goes(tmp_path: Path) -> None:
    """Velocities reach the sound: a melody rising from velocity 30 to 120 over 8 seconds is
    several times louder in its last two seconds than in its first two."""
    notes = [(72 + i % 5, i * 12, 12, 30 + 6 * i) for i in range(16)]
    out = wav_module.render_wav(make_score(notes, end_tick=4 * 48), tmp_path / "cresc.wav")
    level = _rms_by_second(out)[:8]
    assert level[6:8].mean() > 3 * level[0:2].mean()
    assert (np.diff(level) > 0).sum() >= 6  # it grows second by second, not in one jump


@needs_fluidsynth
def test_compose_dynamics_are_audible_in_the_wav_preview(tmp_path: Path) -> None:
    """`midigan compose --dynamics pp` and `--dynamics ff` (same seed, same notes) sound apart."""
    levels = {}
    for level in ("pp", "ff"):
        out = tmp_path / f"{level}.wav"
        args = ["compose", "--bars", "8", "--seed", "4", "--dynamics", level, "-o", str(out)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        levels[level] = float(np.sqrt(np.mean(_rms_by_second(out) ** 2)))
    assert levels["ff"] > 2 * levels["pp"]


def test_missing_fluidsynth_names_the_debian_packages(
    tmp_path: Path, band: Score, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wav_module.shutil, "which", lambda name: None)
    with pytest.raises(RenderError, match="apt-get install fluidsynth fluid-soundfont-gm"):
        write_score(band, tmp_path / "x.wav")
    assert list(tmp_path.iterdir()) == []


def test_missing_soundfont_names_the_debian_package(
    tmp_path: Path, band: Score, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wav_module, "SOUNDFONT_CANDIDATES", (str(tmp_path / "none.sf2"),))
    monkeypatch.delenv(wav_module.SOUNDFONT_ENV, raising=False)
    monkeypatch.setattr(wav_module.shutil, "which", lambda name: "/bin/true")
    with pytest.raises(RenderError, match="fluid-soundfont-gm"):
        write_score(band, tmp_path / "x.wav")
    assert list(tmp_path.iterdir()) == []


def test_musicxml_export_reads_back_with_its_parts(tmp_path: Path, band: Score) -> None:
    pytest.importorskip("music21")
    from music21 import converter

    out = write_score(band, tmp_path / "band.musicxml")
    parsed = converter.parse(str(out))
    assert len(parsed.parts) == 3
    assert len(parsed.parts[0].getElementsByClass("Measure")) == 4


def test_parse_formats_accepts_lists_and_repeats() -> None:
    assert parse_formats(["mid,png", "wav", "png", "midi", "xml"]) == ["mid", "png", "wav", "musicxml"]
    with pytest.raises(Exception, match="unknown format 'mp3'"):
        parse_formats(["mp3"])


# ------------------------------------------------------------------ CLI
def test_render_cli_writes_each_asked_output(tmp_path: Path, band: Score) -> None:
    source = write_midi(band, tmp_path / "band.mid")
    args = [
        "render",
        str(source),
        "--png",
        str(tmp_path / "b.png"),
        "--musicxml",
        str(tmp_path / "b.musicxml"),
    ]
    if HAVE_FLUIDSYNTH:
        args += ["--wav", str(tmp_path / "b.wav")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    written = [Path(line) for line in result.output.split()]
    assert all(p.stat().st_size > 1000 for p in written)
    assert len(written) == (3 if HAVE_FLUIDSYNTH else 2)


def test_render_cli_needs_an_output(tmp_path: Path, band: Score) -> None:
    source = write_midi(band, tmp_path / "band.mid")
    result = CliRunner().invoke(main, ["render", str(source)])
    assert result.exit_code != 0
    assert "--wav" in result.output and "Traceback" not in result.output


def test_render_cli_unreadable_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file at all")
    result = CliRunner().invoke(main, ["render", str(bad), "--png", str(tmp_path / "x.png")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "bad.mid" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mid"]


def test_render_cli_rolls_back_when_a_later_output_fails(
    tmp_path: Path, band: Score, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_midi(band, tmp_path / "band.mid")
    monkeypatch.setattr(wav_module, "_run_fluidsynth", _fail_render)
    monkeypatch.setattr(wav_module.shutil, "which", lambda name: "/bin/true")
    monkeypatch.setenv(wav_module.SOUNDFONT_ENV, str(source))  # any existing file passes the lookup
    args = ["render", str(source), "--wav", str(tmp_path / "b.wav"), "--png", str(tmp_path / "b.png")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["band.mid"]


def _fail_render(*args: object) -> None:
    raise RenderError("fluidsynth could not render band.mid: boom")


def test_png_bytes_are_deterministic(tmp_path: Path, band: Score) -> None:
    a = write_pianoroll(band, tmp_path / "a.png").read_bytes()
    b = write_pianoroll(band, tmp_path / "b.png").read_bytes()
    assert a == b
    assert io.BytesIO(a).getbuffer().nbytes > 10_000


WRONG_NAMES = [("--png", "roll.jpg"), ("--wav", "a.mp3"), ("--musicxml", "a.mxl")]


@pytest.mark.parametrize(("option", "name"), WRONG_NAMES)
def test_render_cli_refuses_a_wrong_extension(tmp_path: Path, band: Score, option: str, name: str) -> None:
    source = write_midi(band, tmp_path / "band.mid")
    result = CliRunner().invoke(main, ["render", str(source), option, str(tmp_path / name)])
    assert result.exit_code == 1 and "needs the extension" in result.output and name in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["band.mid"]


# ------------------------------------------------------------------ nothing lost, nothing overwritten
def _render_png_and_musicxml(source: Path, folder: Path) -> Result:
    """`midigan render SOURCE --png a.png --musicxml a.musicxml --force` into `folder`."""
    args = ["render", str(source), "--png", str(folder / "a.png"), "--musicxml", str(folder / "a.musicxml")]
    return CliRunner().invoke(main, [*args, "--force"])


def test_render_keeps_an_old_png_when_the_musicxml_write_fails(
    tmp_path: Path, band: Score, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: an existing a.png was lost when --musicxml failed (here: the disk is full)."""
    source = write_midi(band, tmp_path / "band.mid")
    (tmp_path / "a.png").write_bytes(b"OLD PNG")
    full_disk_on_write(monkeypatch, failing_call=2)
    result = _render_png_and_musicxml(source, tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        f"error: {tmp_path / 'a.musicxml'}: cannot write there (No space left on device); choose another path"
    ]
    assert (tmp_path / "a.png").read_bytes() == b"OLD PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "band.mid"]


def test_render_checks_every_output_before_writing_any(tmp_path: Path, band: Score) -> None:
    source = write_midi(band, tmp_path / "band.mid")
    (tmp_path / "a.png").write_bytes(b"OLD PNG")
    (tmp_path / "a.musicxml").mkdir()
    result = _render_png_and_musicxml(source, tmp_path)
    assert result.exit_code == 1 and "a.musicxml: is a folder" in result.output
    assert (tmp_path / "a.png").read_bytes() == b"OLD PNG"


def test_render_replaces_an_existing_output_only_with_force(tmp_path: Path, band: Score) -> None:
    source = write_midi(band, tmp_path / "band.mid")
    out = tmp_path / "a.png"
    out.write_bytes(b"OLD PNG")
    refused = CliRunner().invoke(main, ["render", str(source), "--png", str(out)])
    assert refused.exit_code == 1
    assert (
        refused.output.strip()
        == f"error: {out}: already exists; add --force to replace it, or choose another path"
    )
    assert out.read_bytes() == b"OLD PNG"
    forced = CliRunner().invoke(main, ["render", str(source), "--png", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_render_never_replaces_a_symlink(tmp_path: Path, band: Score) -> None:
    source = write_midi(band, tmp_path / "band.mid")
    (tmp_path / "real.png").write_bytes(b"OLD PNG")
    (tmp_path / "a.png").symlink_to(tmp_path / "real.png")
    result = CliRunner().invoke(main, ["render", str(source), "--png", str(tmp_path / "a.png"), "--force"])
    assert result.exit_code == 1 and "is a symbolic link" in result.output
    assert (tmp_path / "a.png").is_symlink() and (tmp_path / "real.png").read_bytes() == b"OLD PNG"


# ------------------------------------------------------------------ a killed render --wav
def _start_render_wav(tmp_path: Path, band: Score) -> tuple[subprocess.Popen, int, Path]:
    """`midigan render --wav` in its own process, with a fake fluidsynth that only sleeps.

    Returns the midigan process, the pid of its (fake) fluidsynth, and the output folder.
    """
    source = write_midi(band, tmp_path / "band.mid")
    bin_dir, out_dir, pid_file = tmp_path / "bin", tmp_path / "out", tmp_path / "fluidsynth.pid"
    bin_dir.mkdir()
    out_dir.mkdir()
    fake = bin_dir / "fluidsynth"
    fake.write_text(
        f'#!/bin/sh\necho $$ > "{pid_file}.part" && mv "{pid_file}.part" "{pid_file}"\nexec sleep 120\n'
    )
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        wav_module.SOUNDFONT_ENV: str(source),
    }
    command = [sys.executable, "-c", "from midigan.cli import main; main()", "render", str(source)]
    proc = subprocess.Popen(
        [*command, "--wav", str(out_dir / "a.wav")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "fluidsynth never started"
        time.sleep(0.05)
    return proc, int(pid_file.read_text()), out_dir


def _gone(pid: int, within_s: float = 10.0) -> bool:
    """The process ended (a zombie nobody reaps counts as ended)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux-only")
def test_sigkill_of_render_wav_ends_fluidsynth(tmp_path: Path, band: Score) -> None:
    proc, fluidsynth_pid, _ = _start_render_wav(tmp_path, band)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert _gone(fluidsynth_pid), "fluidsynth outlived a killed midigan"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(fluidsynth_pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_sigterm_of_render_wav_ends_fluidsynth_and_removes_its_temp_file(tmp_path: Path, band: Score) -> None:
    proc, fluidsynth_pid, out_dir = _start_render_wav(tmp_path, band)
    try:
        staged = [p.name for p in out_dir.iterdir()]
        assert len(staged) == 1 and staged[0].startswith(".a.wav."), staged  # the temp fluidsynth fills
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130 and b"interrupted" in stderr and b"Traceback" not in stderr
        assert _gone(fluidsynth_pid), "fluidsynth outlived a terminated midigan"
        assert list(out_dir.iterdir()) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(fluidsynth_pid, signal.SIGKILL)
