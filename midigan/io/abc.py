"""ABC text before music21 reads it: splitting multi-tune files and repairing what
music21's ABC reader gets wrong (see :func:`clean_abc`)."""

from __future__ import annotations

import re

_ANNOTATION_RE = re.compile(r'"[<>^_@][^"\n]*"')
"""ABC annotations ("^text", "_text", "<", ">", "@x,y text"): never chord symbols, and music21
silently drops the note after a bare ``">"``."""


def clean_abc(text: str) -> str:
    """Prepare ABC text for music21's reader.

    * Strip annotations music21 mishandles (a ``">"`` accent drops its note): in body
      lines every quoted annotation starting with ``< > ^ _ @`` is removed; chord
      symbols (``"G7"``) stay; header lines (``X:``, ``T:`` ...) are kept verbatim.
    * Turn the invisible barline ``[|]`` into a plain one: music21 drops the note
      before ``:[|]`` (Ryan's Mammoth writes it at many section ends).
    * Open the repeated sections that only close (:func:`close_open_repeats`).
    * Declare ``%abc-2.1`` when the text names no version: music21 otherwise reads it
      as ABC 1.3 and does not carry an accidental through the rest of its bar
      (``_B2B2`` would be B flat then B natural), which every ABC tool since has done.
    """
    lines = [] if "%abc-" in text else ["%abc-2.1"]
    for line in text.splitlines():
        if not re.match(r"^[A-Za-z]:", line):
            line = _ANNOTATION_RE.sub("", line).replace("[|]", "|")
        lines.append(line)
    cleaned = "\n".join(lines) + "\n"
    key_line = re.search(r"^K:.*$", cleaned, flags=re.MULTILINE)
    if key_line is None:
        return cleaned
    return cleaned[: key_line.end()] + close_open_repeats(cleaned[key_line.end() :])


_REPEAT_RE = re.compile(r"::|:\|+:|\[?\|+:|:\|+\]?")


def close_open_repeats(body: str) -> str:
    """Give every repeated section after the first its missing start-repeat.

    In ABC a ``:|`` with no ``|:`` before it repeats from the previous end-repeat
    (O'Neill's jigs write ``A :| B :| C :|``); music21 goes back to the tune's start
    each time, so the expansion grows exponentially. The earlier ``:|`` (with any bar
    lines after it) becomes ``::``, which ends one section and starts the next.
    """
    opened, last_end, rewrites = False, None, []
    for match in _REPEAT_RE.finditer(body):
        token = match.group()
        if token.endswith(":") and not token.startswith(":"):  # |:
            opened = True
        elif token.startswith(":") and not token.endswith(":"):  # :|
            if not opened and last_end is not None and not last_end.group().endswith("]"):
                rewrites.append(last_end)
            opened, last_end = False, match
        else:  # :: or :|: ends one section and starts the next
            opened, last_end = True, None
    for match in reversed(rewrites):
        tail = re.match(r"\s*\|+(?![:\]])", body[match.end() :])
        end = match.end() + (tail.end() if tail else 0)
        body = body[: match.start()] + "::" + body[end:]
    return body


def split_abc_tunes(text: str) -> list[str]:
    """Split a multi-tune ABC file into one text per ``X:`` tune (file header dropped)."""
    return [chunk for chunk in re.split(r"\n(?=X:)", "\n" + text) if chunk.lstrip().startswith("X:")]


_FIELD_LINE_RE = re.compile(r"^[A-Za-z+]:")
_NOT_MUSIC_RE = re.compile(r'"[^"\n]*"|![^!\n]*!|\[[A-Za-z]:[^\]\n]*\]|%.*')
_BARLINE_RE = re.compile(r"::|[|\]]+")
_NOTE_RE = re.compile(r"[A-Ga-g]")


def count_abc(text: str) -> tuple[int, int]:
    """Bars and notes one ABC tune writes, by a scan of its text (no parse): ``(bars, notes)``.

    music21's ABC reader takes time that grows faster than the tune (400 bars of eighth
    notes: half a minute), so a tune is measured before it is parsed. The figures are
    upper bounds of what music21 will make of it: every barline token counts as a bar
    (``|``, ``||``, ``:|``, ``::``...), and every note letter of the body (after the
    ``K:`` line, outside fields, comments, quoted chord symbols and ``!decorations!``)
    counts as a note; repeats are not expanded (that is bounded after the parse).
    """
    key = re.search(r"^K:.*$", text, flags=re.MULTILINE)
    body = text[key.end() :] if key else text
    bars = notes = 0
    for line in body.splitlines():
        if _FIELD_LINE_RE.match(line):
            continue
        music = _NOT_MUSIC_RE.sub(" ", line)
        bars += len(_BARLINE_RE.findall(music))
        notes += len(_NOTE_RE.findall(music))
    return bars, notes
