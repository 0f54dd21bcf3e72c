"""File formats in and out of :class:`~midigan.music.score.Score`, chosen by extension.

MIDI goes through :mod:`midigan.io.midi`; ABC and MusicXML through music21
(:mod:`midigan.io.music21`), imported only when such a file is asked for.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from midigan.errors import MidiReadError, MidiWriteError

if TYPE_CHECKING:
    from midigan.music.score import Score

MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")
MUSICXML_SUFFIXES = (".musicxml", ".xml", ".mxl")
ABC_SUFFIXES = (".abc",)


def load_score(path: str | Path) -> Score:
    """Read `path` into a Score by its extension.

    Raises:
        MidiReadError: missing, empty, unreadable or of an unknown format.
    """
    path = Path(path)
    if not path.exists():
        raise MidiReadError(f"{path}: no such file")
    if path.is_dir():
        raise MidiReadError(f"{path}: is a folder, not a music file")
    if path.stat().st_size == 0:
        raise MidiReadError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    if suffix in MUSICXML_SUFFIXES or suffix in ABC_SUFFIXES:
        from midigan.io.music21 import read_music21_file

        return read_music21_file(path)
    from midigan.io.midi import read_midi

    return read_midi(path)


def save_score(score: Score, path: str | Path) -> Path:
    """Write `score` to `path` (MIDI or MusicXML by extension), atomically.

    Raises:
        MidiWriteError: unknown extension or unwritable location.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mxl":
        raise MidiWriteError(f"{path}: compressed MusicXML (.mxl) is read, not written; use .musicxml")
    if suffix in MUSICXML_SUFFIXES:
        from midigan.io.music21 import write_musicxml_bytes

        return write_atomic(path, lambda: write_musicxml_bytes(score))
    if suffix in MIDI_SUFFIXES or suffix == "":
        from midigan.io.midi import midi_bytes

        path = path.with_suffix(".mid") if suffix == "" else path
        return write_atomic(path, lambda: midi_bytes(score))
    raise MidiWriteError(f"{path}: unknown extension {suffix!r}; use .mid or .musicxml")


def write_atomic(path: str | Path, make_bytes: Callable[[], bytes]) -> Path:
    """Write the bytes `make_bytes()` returns to `path` through a temp file + rename.

    The bytes are produced before anything touches the disk, and the rename is
    atomic, so a failure leaves any earlier file at `path` untouched.

    Raises:
        MidiWriteError: the folder is missing or not writable.
    """
    path = Path(path)
    data = make_bytes()
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise MidiWriteError(f"{path}: folder {folder} does not exist; create it or choose another path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise MidiWriteError(f"{path}: cannot write there ({e.strerror}); choose another path") from e
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, new_file_mode())  # mkstemp makes 0600; the user expects what open() gives
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise MidiWriteError(f"{path}: cannot write there ({e.strerror}); choose another path") from e
    return path


def new_file_mode() -> int:
    """Permission bits a plain `open(path, "w")` would give a new file: 0o666 less the umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask
