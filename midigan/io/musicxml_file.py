"""MusicXML for notation programs (MuseScore, Sibelius, Finale, Dorico) through music21.

The conversion itself lives in :mod:`midigan.io.music21`; this module only makes
the write atomic and the failure plain.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from midigan.errors import MidiganError, RenderError
from midigan.io import write_atomic

if TYPE_CHECKING:
    from midigan.music.score import Score


def write_musicxml(score: Score, path: str | Path) -> Path:
    """Write `score` as uncompressed MusicXML, atomically.

    Raises:
        RenderError: music21 could not express the score as MusicXML.
        MidiWriteError: the folder is missing or not writable.
    """
    from midigan.io.music21 import write_musicxml_bytes

    def render() -> bytes:
        try:
            return write_musicxml_bytes(score)
        except MidiganError:
            raise
        except Exception as e:  # music21 raises many unrelated types; any failure here is one RenderError
            raise RenderError(f"{Path(path).name}: MusicXML export failed ({type(e).__name__}: {e})") from e

    return write_atomic(path, render)
