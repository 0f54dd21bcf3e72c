"""How much work one input may ask for, per format, and how to allow more.

A reader's cost grows with what a file claims, so each format is measured before it is
parsed and refused past its limits: MIDI by a walk of its bytes (:mod:`midigan.io.smf`),
ABC by a scan of the tune's text (:func:`midigan.io.abc.count_abc`), MusicXML by counting
its ``<note>`` and ``<measure>`` elements (:func:`check_musicxml`). The defaults differ by
format because the parsers do: symusic reads 250,000 MIDI notes in a second, music21 takes
some 35 s for the 13,000 notes of Beethoven's Grosse Fuge and longer still for ABC, whose
reader grows faster than the tune (400 bars of eighth notes: half a minute).

Every limit is a keyword of the readers (`max_ticks=`, `max_notes=`, `max_bars=`); None
means the default, which the environment variables :data:`ENV_NAMES` replace. The
`midigan --max-notes/--max-ticks/--max-bars` options set those variables, so one option
reaches every read of every command, worker processes included, without each command
passing limits down.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Literal

from midigan.errors import ConfigError, MidiReadError
from midigan.io.smf import MAX_NOTES, MAX_TICKS

Kind = Literal["midi", "abc", "musicxml"]

DEFAULT_NOTES: dict[str, int] = {"midi": MAX_NOTES, "abc": 1_500, "musicxml": 50_000}
"""Most notes per file (ABC: per tune). The longest real tune of music21's ABC books
(O'Neill's, Ryan's, Essen, Aird's) writes 716 notes; ABC at the limit parses in some 7 s."""

DEFAULT_BARS: dict[str, int] = {"abc": 600, "musicxml": 5_000}
"""Most bars per ABC tune (the longest in music21's books: 291) or MusicXML part."""

BYTES_PER_NOTE = 4096
"""A MusicXML file may hold this many bytes per allowed note (real files: 300-1,000), so
its size is bounded before it is read or unzipped (a zip bomb is refused unopened)."""

ENV_NAMES = {
    "max_ticks": "MIDIGAN_MAX_TICKS",
    "max_notes": "MIDIGAN_MAX_NOTES",
    "max_bars": "MIDIGAN_MAX_BARS",
}
"""Environment variables that replace the defaults, for every format."""

_HOW = {"max_ticks": "--max-ticks", "max_notes": "--max-notes", "max_bars": "--max-bars"}

_DEFAULTS: dict[str, dict[str, int]] = {
    "max_ticks": {"midi": MAX_TICKS},
    "max_notes": DEFAULT_NOTES,
    "max_bars": DEFAULT_BARS,
}
"""Each limit's default per format (built once: a corpus pass resolves two limits a file)."""


def resolve(argument: str, value: int | None, kind: Kind) -> int:
    """The limit in force: `value` if given, else the environment's, else the format's default.

    Raises:
        ConfigError: `value` or the environment variable is not a positive whole number.
    """
    if value is None:
        text = os.environ.get(ENV_NAMES[argument], "").strip()
        if text:
            if not text.isdigit() or int(text) < 1:
                raise ConfigError(f"{ENV_NAMES[argument]}={text!r}: give a positive whole number")
            return int(text)
        return _DEFAULTS[argument][kind]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{argument}={value!r}: give a positive whole number")
    return value


def over_limit(what: str, count: int, argument: str, allowed: int) -> MidiReadError:
    """The refusal: one sentence naming the figure, the limit and how to raise it."""
    return MidiReadError(
        f"{what} has {count:,} {argument[4:]}, over the limit of {allowed:,}; "
        f"raise it with {argument}= or `midigan {_HOW[argument]} N`"
    )


def check_abc(text: str, *, max_bars: int | None = None, max_notes: int | None = None) -> None:
    """Refuse an ABC tune that writes more bars or notes than allowed, before music21 sees it.

    Raises:
        MidiReadError: over a limit. ConfigError: a limit is not a positive whole number.
    """
    from midigan.io.abc import count_abc

    bars_allowed, notes_allowed = resolve("max_bars", max_bars, "abc"), resolve("max_notes", max_notes, "abc")
    bars, notes = count_abc(text)
    if bars > bars_allowed:
        raise over_limit("the ABC tune", bars, "max_bars", bars_allowed)
    if notes > notes_allowed:
        raise over_limit("the ABC tune", notes, "max_notes", notes_allowed)


def check_musicxml(path: Path, *, max_bars: int | None = None, max_notes: int | None = None) -> None:
    """Refuse a MusicXML file (plain or zipped .mxl) past its size, notes or bars per part.

    Raises:
        MidiReadError: over a limit, or an .mxl that is not a zip file.
        ConfigError: a limit is not a positive whole number.
    """
    bars_allowed = resolve("max_bars", max_bars, "musicxml")
    notes_allowed = resolve("max_notes", max_notes, "musicxml")
    data = _musicxml_bytes(path, notes_allowed * BYTES_PER_NOTE)
    notes = len(re.findall(rb"<note[\s>/]", data))
    parts = max(1, len(re.findall(rb"<score-part[\s>]", data)))
    bars = len(re.findall(rb"<measure[\s>]", data)) // parts
    if notes > notes_allowed:
        raise over_limit("the MusicXML file", notes, "max_notes", notes_allowed)
    if bars > bars_allowed:
        raise over_limit("a part of the MusicXML file", bars, "max_bars", bars_allowed)


def _musicxml_bytes(path: Path, most: int) -> bytes:
    """The score document's bytes (an .mxl's root file), refused unread when over `most` bytes."""
    if not zipfile.is_zipfile(path):
        size = path.stat().st_size
        if size > most:
            raise _too_big(size, most)
        return path.read_bytes()
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            size = sum(e.file_size for e in entries)
            if size > most:
                raise _too_big(size, most)
            return archive.read(_root_file(archive, entries))
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as e:
        raise MidiReadError(f"damaged compressed MusicXML ({type(e).__name__}: {e})") from e


def _root_file(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo]) -> str:
    """The score an .mxl's META-INF/container.xml points to (else its first non-META-INF file)."""
    names = [e.filename for e in entries]
    if "META-INF/container.xml" in names:
        found = re.search(rb'full-path="([^"]+)"', archive.read("META-INF/container.xml"))
        if found and found.group(1).decode("utf-8", "replace") in names:
            return found.group(1).decode("utf-8", "replace")
    candidates = [n for n in names if not n.startswith("META-INF/") and not n.endswith("/")]
    if not candidates:
        raise MidiReadError("compressed MusicXML holds no score")
    return candidates[0]


def _too_big(size: int, most: int) -> MidiReadError:
    return MidiReadError(
        f"the MusicXML file holds {size:,} bytes, over the {most:,} that max_notes allows "
        f"({BYTES_PER_NOTE} per note); raise it with max_notes= or `midigan --max-notes N`"
    )
