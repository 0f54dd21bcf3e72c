"""A music file rendered to other formats (`midigan render`): WAV, piano-roll PNG, MusicXML.

It lives in io, not in the composer, because it only reads a file and writes formats:
no model, no arrangement. All or nothing: the outputs are staged and appear together
(:func:`midigan.io.atomic.all_or_nothing`), so a failing writer leaves every file as it
was; an existing output is replaced only with `force`.
"""

from __future__ import annotations

from pathlib import Path

from midigan.io import MIDI_SUFFIXES, check_ready, check_suffix, read_score, write_score
from midigan.io.atomic import all_or_nothing, check_target


def render_file(
    source: str | Path,
    *,
    wav: str | Path | None = None,
    png: str | Path | None = None,
    musicxml: str | Path | None = None,
    soundfont: str | Path | None = None,
    force: bool = False,
) -> list[Path]:
    """Render a music file to any of WAV, PNG and MusicXML; all or nothing.

    A MIDI source goes to fluidsynth as it is (controllers and all); other formats
    are read into a Score and written as MIDI first.

    Args:
        source: the music file.
        wav, png, musicxml: where to write each format (None: not asked for).
        soundfont: a .sf2 file for the WAV.
        force: replace existing regular files at those paths.

    Returns:
        The paths written (WAV, PNG, MusicXML order).

    Raises:
        MidiReadError: the source cannot be read.
        RenderError: fluidsynth/SoundFont missing, or a writer failed.
        MidiWriteError: an output exists (without `force`), is not a regular writable
            file, or its folder is not writable.
    """
    for out, fmt in ((wav, "wav"), (png, "png"), (musicxml, "musicxml")):
        if out is not None:
            check_suffix(out, fmt)
            check_target(out, replace=force)
    score = read_score(source)
    if wav is not None:
        check_ready("wav", soundfont)
    written: list[Path] = []
    with all_or_nothing(replace=force):
        if wav is not None:
            from midigan.io.wav import render_wav

            is_midi = Path(source).suffix.lower() in MIDI_SUFFIXES
            written.append(render_wav(Path(source) if is_midi else score, wav, soundfont=soundfont))
        if png is not None:
            from midigan.io.png import write_pianoroll

            written.append(write_pianoroll(score, png, title=Path(source).name))
        if musicxml is not None:
            written.append(write_score(score, musicxml, "musicxml"))
    return written
