"""Writing a Score for other programs: MIDI, MusicXML, WAV audio, piano-roll PNG.

One entry point, :func:`export`, picks the writer by extension. Every writer
produces the whole output before the rename that makes it appear, so a failure
never leaves a half-written file. Heavy libraries (music21, matplotlib) and the
fluidsynth process are touched only by the format that needs them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from midigan.errors import MidiganError, MidiWriteError
from midigan.io import MIDI_SUFFIXES

if TYPE_CHECKING:
    from midigan.music.score import Score

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


def format_of(path: str | Path) -> str | None:
    """The format name a path's extension asks for ('mid', 'musicxml', 'wav', 'png'), or None."""
    return _SUFFIX_FORMAT.get(Path(path).suffix.lower())


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


def check_ready(fmt: str) -> None:
    """Fail early, before any work, when a format cannot be written on this machine.

    Raises:
        RenderError: WAV asked for but fluidsynth or the SoundFont is missing.
    """
    if fmt == "wav":
        from midigan.io.wav import find_fluidsynth, find_soundfont

        find_fluidsynth()
        find_soundfont()


def export(score: Score, path: str | Path, fmt: str | None = None) -> Path:
    """Write `score` to `path` in `fmt` (default: by extension), atomically.

    Args:
        score: the music to write.
        path: destination file.
        fmt: 'mid', 'musicxml', 'wav' or 'png'; None reads it from the extension.

    Returns:
        The path written.

    Raises:
        MidiWriteError: unknown extension or unwritable location.
        RenderError: the WAV, PNG or MusicXML writer failed.
    """
    path = Path(path)
    fmt = fmt or format_of(path)
    if fmt is not None:
        check_suffix(path, fmt)
    if fmt == "mid":
        from midigan.io import write_atomic
        from midigan.io.midi import midi_bytes

        return write_atomic(path, lambda: midi_bytes(score))
    if fmt == "musicxml":
        from midigan.io.musicxml_file import write_musicxml

        return write_musicxml(score, path)
    if fmt == "wav":
        from midigan.io.wav import render_wav

        return render_wav(score, path)
    if fmt == "png":
        from midigan.io.png import write_pianoroll

        return write_pianoroll(score, path)
    raise MidiWriteError(f"{path}: unknown extension {path.suffix!r}; use .mid, .musicxml, .wav or .png")


def check_suffix(path: str | Path, fmt: str) -> None:
    """A file written in `fmt` must carry one of its extensions (no PNG bytes in 'x.jpg').

    Raises:
        MidiWriteError: naming the extensions `fmt` accepts.
    """
    path = Path(path)
    if format_of(path) != fmt:
        accepted = ", ".join(s for s, f in _SUFFIX_FORMAT.items() if f == fmt)
        raise MidiWriteError(f"{path}: a {fmt} file needs the extension {accepted}")


def render_file(
    source: str | Path,
    *,
    wav: str | Path | None = None,
    png: str | Path | None = None,
    musicxml: str | Path | None = None,
    soundfont: str | Path | None = None,
) -> list[Path]:
    """Render a music file to any of WAV, PNG and MusicXML; all or nothing.

    A MIDI source goes to fluidsynth as it is (controllers and all); other formats
    are read into a Score and written as MIDI first.

    Returns:
        The paths written (WAV, PNG, MusicXML order).

    Raises:
        MidiReadError: the source cannot be read.
        RenderError: fluidsynth/SoundFont missing, or a writer failed.
        MidiWriteError: an output location is not writable.
    """
    from midigan.io import load_score

    for out, fmt in ((wav, "wav"), (png, "png"), (musicxml, "musicxml")):
        if out is not None:
            check_suffix(out, fmt)
    score = load_score(source)
    if wav is not None:
        from midigan.io.wav import find_fluidsynth, find_soundfont

        find_fluidsynth()
        find_soundfont(soundfont)
    written: list[Path] = []
    try:
        if wav is not None:
            from midigan.io.wav import render_wav

            is_midi = Path(source).suffix.lower() in MIDI_SUFFIXES
            written.append(render_wav(Path(source) if is_midi else score, wav, soundfont=soundfont))
        if png is not None:
            from midigan.io.png import write_pianoroll

            written.append(write_pianoroll(score, png, title=Path(source).name))
        if musicxml is not None:
            written.append(export(score, musicxml, "musicxml"))
    except MidiganError:
        remove_quietly(written)
        raise
    return written


def remove_quietly(paths: Iterable[Path]) -> None:
    """Delete files this run wrote before a later step failed (best effort)."""
    for path in paths:
        with contextlib.suppress(OSError):
            Path(path).unlink(missing_ok=True)
