"""The exception family every midigan failure belongs to.

Callers (and the CLI) catch :class:`MidiganError` to turn any expected failure
into one plain line; anything else escaping is a bug in midigan.
"""

from __future__ import annotations


class MidiganError(Exception):
    """Base class: an expected failure whose message tells the user what to do."""


class MidiReadError(MidiganError):
    """A file could not be read as music (missing, empty, truncated, not MIDI...)."""


class MidiWriteError(MidiganError):
    """A score could not be written (unwritable path, unrepresentable data)."""


class TheoryError(MidiganError, ValueError):
    """An unknown key, chord symbol, meter or pitch name."""


class TokenGrammarError(MidiganError, ValueError):
    """An event-token sequence breaks the grammar; the message says where."""


class CheckpointError(MidiganError):
    """A model checkpoint is missing, corrupted, not ours, or mismatched."""


class ConfigError(MidiganError, ValueError):
    """A configuration file or value is invalid."""


class TrainingError(MidiganError):
    """Training stopped (NaN, divergence); the last good checkpoint is intact."""


class RenderError(MidiganError):
    """An export (WAV, PNG, MusicXML) could not be produced."""


class LiveMidiError(MidiganError):
    """Live MIDI output failed: no MIDI system, no such port, or python-rtmidi missing."""
