"""WAV previews through fluidsynth and a General MIDI SoundFont.

We do not synthesize audio ourselves: fluidsynth renders the MIDI file we write
with a GM SoundFont, so the preview sounds like what a DAW would play. On Debian
and Ubuntu both come from packages (`fluidsynth`, `fluid-soundfont-gm`); where
either is missing the error names the command that installs them.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from midigan.errors import RenderError
from midigan.io.atomic import write_atomic_file

if TYPE_CHECKING:
    from midigan.music.score import Score

INSTALL_HINT = "install it with: sudo apt-get install fluidsynth fluid-soundfont-gm"

SOUNDFONT_ENV = "MIDIGAN_SOUNDFONT"
"""Environment variable naming a .sf2 file to use instead of the system GM SoundFont."""

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # Debian/Ubuntu fluid-soundfont-gm
    "/usr/share/sounds/sf2/default-GM.sf2",  # Debian alternatives symlink
    "/usr/share/soundfonts/default.sf2",  # Fedora/Arch
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/local/share/soundfonts/default.sf2",  # Homebrew-style layouts
)
"""Where the packaged General MIDI SoundFonts live; the first readable one wins."""

SAMPLE_RATE = 44100
GAIN = 0.6  # fluidsynth's default 0.2 is very quiet for a three-part arrangement
TIMEOUT_SECONDS = 600
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def find_fluidsynth() -> str:
    """Path of the fluidsynth program.

    Raises:
        RenderError: fluidsynth is not on PATH.
    """
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise RenderError(f"WAV needs the fluidsynth program, which is not installed; {INSTALL_HINT}")
    return binary


def find_soundfont(soundfont: str | Path | None = None) -> Path:
    """The SoundFont to render with: `soundfont`, $MIDIGAN_SOUNDFONT, or the system GM one.

    Raises:
        RenderError: the given file is missing, or no General MIDI SoundFont is installed.
    """
    chosen = soundfont or os.environ.get(SOUNDFONT_ENV)
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise RenderError(f"SoundFont {path} not found; give an existing .sf2 file")
        return path
    for candidate in SOUNDFONT_CANDIDATES:
        path = Path(candidate)
        if path.is_file():
            return path
    raise RenderError(
        f"WAV needs a General MIDI SoundFont and none is installed; {INSTALL_HINT} "
        f"(or set {SOUNDFONT_ENV} to a .sf2 file)"
    )


def render_wav(
    source: Score | str | Path,
    out: str | Path,
    *,
    soundfont: str | Path | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> Path:
    """Render a Score (or an existing MIDI file) to a 16-bit stereo WAV file, atomically.

    Args:
        source: the music, or the path of a MIDI file to render as it is.
        out: the .wav file to write.
        soundfont: a .sf2 file; default $MIDIGAN_SOUNDFONT, then the system GM SoundFont.
        sample_rate: samples per second.

    Returns:
        The path written.

    Raises:
        RenderError: fluidsynth or the SoundFont is missing, or fluidsynth failed.
        MidiWriteError: the output folder is missing or not writable.
    """
    binary = find_fluidsynth()
    font = find_soundfont(soundfont)
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="midigan-wav-") as work:
        if isinstance(source, (str, Path)):
            midi_path = Path(source)
        else:
            from midigan.io.midi import midi_bytes

            midi_path = Path(work) / "in.mid"
            midi_path.write_bytes(midi_bytes(source))
        write_atomic_file(out, lambda tmp: _run_fluidsynth(binary, font, midi_path, tmp, sample_rate))
    return out


def _run_fluidsynth(binary: str, font: Path, midi_path: Path, wav_path: Path, sample_rate: int) -> None:
    """`fluidsynth -ni -F out.wav -r RATE font.sf2 in.mid`, with errors made plain.

    fluidsynth dies with us: on Linux the kernel kills it when midigan dies, even by
    SIGKILL (:func:`_dies_with_parent`); anywhere, an exception here (Ctrl-C, a timeout)
    kills it before the temp file it writes is removed.
    """
    command = [
        binary, "-ni", "-q", "-g", str(GAIN), "-r", str(sample_rate),
        "-T", "wav", "-O", "s16", "-F", str(wav_path), str(font), str(midi_path),
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False,
            preexec_fn=_dies_with_parent(),
        )  # fmt: skip
    except subprocess.TimeoutExpired as e:
        raise RenderError(f"fluidsynth took longer than {TIMEOUT_SECONDS} s rendering {midi_path}") from e
    size = wav_path.stat().st_size if wav_path.exists() else 0
    if result.returncode != 0 or size <= 44:  # 44 bytes: a WAV header with no samples
        detail = (result.stderr or result.stdout).strip().splitlines()
        reason = detail[-1] if detail else f"exit status {result.returncode}"
        raise RenderError(f"fluidsynth could not render {midi_path.name}: {reason}")


def _dies_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGKILL the child when its parent dies (prctl PDEATHSIG).

    libc is looked up here, in the parent: the hook runs between fork and exec, where
    only the already-resolved call is safe. None off Linux (or without a usable libc).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return hook
