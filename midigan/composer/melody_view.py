"""The melody of a piece a musician already has, as the model sees it: for editing in place.

Regeneration and variations change some melody notes of an existing piece and keep every
other note of every track exactly as it was. :func:`melody_view` finds the melody track
(a Piece's "Melody", else the melody rule), its note streams moved to C on the piece's
own timeline (barlines, meter changes and chords; chords estimated from the melody where
the file has none, a key detected where it has no key signature), and their model ids.
:meth:`MelodyView.pitch_in_key` maps a generated pitch id back into the key and the
register of the original melody (the vocabulary folds a melody outside its range by
octaves, so the generated notes are moved back by the same octaves).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from midigan.errors import ConfigError, MidiganError, MidiReadError
from midigan.music.score import KeySignature, Note, Score

MELODY_TRACK_NAME = "Melody"  # the name :mod:`midigan.composer.piece` gives a composed melody


class HasScore(Protocol):
    """A :class:`~midigan.composer.piece.Piece`, as this module (which sits below it) sees one."""

    score: Score


EditSource = HasScore | Score | str | Path
"""What an edit starts from: a Piece, a Score, or a file midigan reads."""

if TYPE_CHECKING:
    from midigan.representations.stream_vocab import StreamVocab
    from midigan.representations.streams import NoteStreams


@dataclass
class MelodyView:
    """A piece's melody on its own timeline.

    Attributes:
        score: a copy of the source (every track); edits go here.
        track: index of the melody track in `score.tracks`.
        streams: the melody as note streams moved to C (the model's view).
        style: the style name (a Piece's request), or None.
        octave: semitones (a multiple of 12) from the model's register to the melody's.
    """

    score: Score
    track: int
    streams: NoteStreams
    style: str | None
    octave: int

    def pitch_in_key(self, vocab: StreamVocab, pitch_id: int) -> int:
        """A generated pitch id (not the rest) as a MIDI pitch in the melody's key and register."""
        return int(vocab.pitch_low + pitch_id - 1 - self.streams.shift + self.octave)


def source_score(source: EditSource) -> tuple[Score, str | None]:
    """The score to edit (a copy) with the style a Piece's request names.

    A Piece is recognised by its `score` (this module sits below :mod:`midigan.composer.piece`,
    which calls it).

    Raises:
        ConfigError: `source` is none of the accepted types.
        MidiReadError: the file cannot be read.
    """
    if isinstance(getattr(source, "score", None), Score):
        conditions = getattr(source, "conditions", None)
        return source.score.copy(), getattr(conditions, "style", None)  # type: ignore[union-attr]
    if isinstance(source, Score):
        return source.copy(), None
    if isinstance(source, (str, Path)):
        from midigan.io import read_score

        return read_score(source), None
    raise ConfigError(f"source must be a Piece, a Score or a file path (got {type(source).__name__})")


def melody_view(source: EditSource, vocab: StreamVocab) -> MelodyView:
    """See the module docstring.

    Raises:
        MidiReadError: unreadable file, or no pitched notes.
        ConfigError: a bad source.
    """
    from midigan.music.melody import extract_melody, melody_track_index
    from midigan.representations.streams import REST, NoteStreams

    score, style = source_score(source)
    names = [i for i, t in enumerate(score.tracks) if t.name == MELODY_TRACK_NAME and t.notes]
    try:
        index = names[0] if names else melody_track_index(score)
    except MidiganError as e:
        raise MidiReadError(f"no melody to edit ({e})") from e
    score.end_tick = score.end  # fix the length before notes move
    melody = score.copy()
    melody.tracks = [extract_melody(score, index)]
    if score.key_at(0) is None:
        from midigan.music.harmony import detect_key

        melody.keys = [KeySignature(0, *detect_key(melody))]
    if not melody.chords:
        from midigan.music.harmony import estimate_chords

        melody.chords = estimate_chords(melody, 0)
    streams = NoteStreams.from_score(melody, style=style, to_c=True, melody_track=0)
    notes = streams.pitch[streams.pitch != REST].astype(np.int64)
    folded = vocab.encode(streams)["pitch"]
    model_pitch = folded[folded > 0] + vocab.pitch_low - 1
    octave = 0
    if len(notes) and len(model_pitch):
        octave = 12 * round((float(np.median(notes)) - float(np.median(model_pitch))) / 12)
    return MelodyView(score, index, streams, style, octave)


def encode_events(
    vocab: StreamVocab, template: NoteStreams, pitch: np.ndarray, duration: np.ndarray, velocity: np.ndarray
) -> np.ndarray:
    """(M, 3) pitch, duration, velocity ids of events already moved to C (lengths split to the vocabulary)."""
    from midigan.representations.streams import NoteStreams

    if not len(pitch):
        return np.zeros((0, 3), dtype=np.int64)
    encoded = vocab.encode(NoteStreams.from_events(pitch, duration, velocity, template))
    return np.stack([encoded["pitch"], encoded["duration"], encoded["velocity"]], 1)


def id_notes(
    view: MelodyView, vocab: StreamVocab, ids: np.ndarray, from_tick: int, to_tick: int
) -> list[Note]:
    """The notes of generated ids whose onsets lie in [from_tick, to_tick), in the melody's key."""
    ticks = np.asarray(vocab.durations, dtype=np.int64)[ids[:, 1]]
    onsets = np.cumsum(ticks) - ticks
    centres = vocab.velocity_centres
    return [
        Note(view.pitch_in_key(vocab, int(p)), int(o), int(d), int(centres[v]))
        for (p, _, v), o, d in zip(ids.tolist(), onsets.tolist(), ticks.tolist(), strict=True)
        if p > 0 and from_tick <= o < to_tick
    ]
