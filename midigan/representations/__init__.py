"""Three views of a :class:`~midigan.music.score.Score`, each converting from and back to it.

- :class:`PianoRoll`: dense `(tracks, steps, 128)` velocity and onset arrays.
- :class:`EventTokens`: one REMI-like token sequence with a checked grammar.
- :class:`NoteStreams`: the melody as pitch / duration / velocity events plus the
  per-event conditions the model sees; :class:`StreamVocab` gives their class ids.

Importing this package does not import torch.
"""

from __future__ import annotations

from midigan.representations.event_vocab import EventConfig, TokenVocab
from midigan.representations.events import EventTokens
from midigan.representations.pianoroll import PianoRoll
from midigan.representations.stream_vocab import StreamVocab
from midigan.representations.streams import REST, NoteStreams, condition_track

__all__ = [
    "REST",
    "EventConfig",
    "EventTokens",
    "NoteStreams",
    "PianoRoll",
    "StreamVocab",
    "TokenVocab",
    "condition_track",
]
