"""Every file format in and out of :class:`~midigan.music.score.Score`, chosen by extension.

One dispatcher: :func:`read_score` reads MIDI (:mod:`midigan.io.midi`), ABC and MusicXML
(through music21, :mod:`midigan.io.music21`); :func:`write_score` writes MIDI, MusicXML
(:mod:`midigan.io.musicxml`), WAV (:mod:`midigan.io.wav`) and piano-roll PNG
(:mod:`midigan.io.png`). The format modules are imported only when their format is asked
for, so reading MIDI never pays for music21 or matplotlib. Every writer produces the whole
output before the rename that makes it appear (:mod:`midigan.io.atomic`).

`midigan.load` and `midigan.save` are :func:`read_score` and :func:`write_score`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from midigan.errors import MidiReadError, MidiWriteError
from midigan.io.atomic import check_target

if TYPE_CHECKING:
    from midigan.music.score import Score

MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")
MUSICXML_SUFFIXES = (".musicxml", ".xml", ".mxl")
ABC_SUFFIXES = (".abc",)

FORMATS: dict[str, str] = {"mid": ".mid", "musicxml": ".musicxml", "wav": ".wav", "png": ".png"}
"""Output formats by name, with the suffix each is written under by default."""

_SUFFIX_FORMAT: dict[str, str] = {
    **{s: "mid" for s in MIDI_SUFFIXES},
    ".musicxml": "musicxml",
    ".xml": "musicxml",  # .mxl (zipped) is not written: notation programs read plain MusicXML too
    ".wav": "wav",
    ".png": "png",
}
_ALIASES = {"midi": "mid", "xml": "musicxml"}


def read_score(
    path: str | Path,
    *,
    max_ticks: int | None = None,
    max_notes: int | None = None,
    max_bars: int | None = None,
) -> Score:
    """Read a MIDI (type 0 or 1), ABC or MusicXML file into a Score, by its extension.

    Each format is measured before it is parsed and refused past its limits: `max_ticks`
    (grid ticks; MIDI) and `max_notes` (see :func:`midigan.io.midi.read_midi`), `max_bars`
    (ABC tune or MusicXML part). None takes the format's default, generous for real music,
    or the environment's ``MIDIGAN_MAX_*`` (:mod:`midigan.io.limits`).

    Raises:
        MidiReadError: missing, empty, unreadable, of an unknown format, or past a limit.
        ConfigError: a limit is not a positive whole number.
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

        return read_music21_file(path, max_bars=max_bars, max_notes=max_notes)
    from midigan.io.midi import read_midi

    return read_midi(path, max_ticks=max_ticks, max_notes=max_notes)


def write_score(score: Score, path: str | Path, fmt: str | None = None) -> Path:
    """Write `score` to `path` in `fmt` (default: by extension; no extension means .mid), atomically.

    Args:
        score: the music to write.
        path: destination file.
        fmt: 'mid', 'musicxml', 'wav' or 'png'; None reads it from the extension.

    Returns:
        The path written.

    An existing regular file at `path` is replaced (as `open(path, "w")` would); a folder,
    symlink, device or read-only file never is.

    Raises:
        MidiWriteError: unknown extension, unwritable location, or a target that is not
            a regular writable file.
        RenderError: the WAV, PNG or MusicXML writer failed.
    """
    path = Path(path)
    if fmt is None:
        path, fmt = _format_by_suffix(path)
    check_suffix(path, fmt)
    if fmt == "mid":
        from midigan.io.midi import write_midi

        return write_midi(score, path)
    if fmt == "musicxml":
        from midigan.io.musicxml import write_musicxml

        return write_musicxml(score, path)
    if fmt == "wav":
        from midigan.io.wav import render_wav

        return render_wav(score, path)
    from midigan.io.png import write_pianoroll

    return write_pianoroll(score, path)


def _format_by_suffix(path: Path) -> tuple[Path, str]:
    """The path to write and the format its extension names; a bare name gets .mid.

    A bare name that is a device, pipe or link (`/dev/null`) is refused, not turned into
    `/dev/null.mid`: the caller meant that very thing, which midigan does not write.
    """
    suffix = path.suffix.lower()
    if suffix == "":
        if os.path.lexists(path) and not (path.is_dir() or path.is_file()):
            check_target(path)
        return path.with_suffix(".mid"), "mid"
    if suffix == ".mxl":
        raise MidiWriteError(f"{path}: compressed MusicXML (.mxl) is read, not written; use .musicxml")
    fmt = format_of(path)
    if fmt is None:
        raise MidiWriteError(f"{path}: unknown extension {suffix!r}; use .mid, .musicxml, .wav or .png")
    return path, fmt


def format_of(path: str | Path) -> str | None:
    """The format name a path's extension asks for ('mid', 'musicxml', 'wav', 'png'), or None."""
    return _SUFFIX_FORMAT.get(Path(path).suffix.lower())


def check_suffix(path: str | Path, fmt: str) -> None:
    """A file written in `fmt` must carry one of its extensions (no PNG bytes in 'x.jpg').

    Raises:
        MidiWriteError: naming the extensions `fmt` accepts.
    """
    path = Path(path)
    if format_of(path) != fmt:
        accepted = ", ".join(s for s, f in _SUFFIX_FORMAT.items() if f == fmt)
        raise MidiWriteError(f"{path}: a {fmt} file needs the extension {accepted}")


def parse_formats(values: Iterable[str]) -> list[str]:
    """Format names from user text: 'mid,png' and repeated values, de-duplicated in order.

    Raises:
        MidiWriteError: an unknown format name.
    """
    out: list[str] = []
    for value in values:
        for raw in value.split(","):
            name = raw.strip().lower().lstrip(".")
            if not name:
                continue
            name = _ALIASES.get(name, name)
            if name not in FORMATS:
                known = ", ".join(FORMATS)
                raise MidiWriteError(f"unknown format {raw.strip()!r}: choose from {known}")
            if name not in out:
                out.append(name)
    return out


def check_ready(fmt: str, soundfont: str | Path | None = None) -> None:
    """Fail early, before any work, when a format cannot be written on this machine.

    Raises:
        RenderError: WAV asked for but fluidsynth or the SoundFont is missing.
    """
    if fmt == "wav":
        from midigan.io.wav import find_fluidsynth, find_soundfont

        find_fluidsynth()
        find_soundfont(soundfont)
