"""midigan: symbolic music generation with a conditional LSTM-GAN.

The top level is lazy: `import midigan` is cheap and torch is imported only when a
model is touched.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Score": "midigan.music.score",
    "Track": "midigan.music.score",
    "Note": "midigan.music.score",
    "Tempo": "midigan.music.score",
    "Meter": "midigan.music.score",
    "KeySignature": "midigan.music.score",
    "ChordLabel": "midigan.music.score",
    "TPQ": "midigan.music.score",
    "load": "midigan.io",
    "save": "midigan.io",
    "PianoRoll": "midigan.representations.pianoroll",
    "EventTokens": "midigan.representations.events",
    "NoteStreams": "midigan.representations.streams",
    "MidiganError": "midigan.errors",
    "compose": "midigan.composer",  # module named as a noun: a module `compose` would shadow the function
    "load_model": "midigan.composer",
    "Piece": "midigan.composer.piece",
    "regenerate": "midigan.composer.edit",
    "vary": "midigan.composer.edit",
    "interpolate": "midigan.composer.interpolation",
}

_RENAMED: dict[str, str] = {"load": "read_score", "save": "write_score"}
"""Top-level names, short as users type them, for io functions whose verbs say what they convert."""

__all__ = [*sorted(_EXPORTS), "__version__"]


def __dir__() -> list[str]:
    """What `dir(midigan)` and tab completion show: the lazy public names too."""
    return sorted({*__all__, *globals()})


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), _RENAMED.get(name, name))
    raise AttributeError(f"module 'midigan' has no attribute {name!r}")
