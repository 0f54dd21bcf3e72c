"""Which track carries the tune, and that tune as one monophonic line.

The model learns melodies, but MIDI files hold parts. The rule, in order:

1. **Named melody.** The first non-drum track with notes whose name holds one of the
   words *melody, lead, vocal, voice, soprano, tune* (checked in that order, case
   ignored, at the start of a word: "Lead Vocal", "Vocals", "SOPRANO 1") wins. The
   word order settles "Lead Vocal" against "Backing Vocal".
2. **Highest busy track.** Otherwise, among non-drum tracks holding at least 25% as
   many notes as the busiest non-drum track, the one with the highest mean pitch
   (the first on a tie). Melodies sit on top; the 25% floor keeps a few sustained
   high pad notes or a stray ornament track from winning.

:func:`extract_melody` then makes that track monophonic with a skyline: at each
onset the highest note (the longest, then loudest, on a tie) is kept, and a note
still sounding at the next kept onset is cut there.
"""

from __future__ import annotations

import re

from midigan.errors import MidiganError
from midigan.music.score import Note, Score, Track

MELODY_WORDS = ("melody", "lead", "vocal", "voice", "soprano", "tune")
"""Track-name words that mark the melody, strongest first."""

BUSY_FRACTION = 0.25
"""A track needs this share of the busiest track's note count to be a melody candidate."""

_WORD_PATTERNS = tuple(re.compile(rf"\b{word}", re.IGNORECASE) for word in MELODY_WORDS)


def melody_track_index(score: Score) -> int:
    """Index in `score.tracks` of the track that carries the melody (rule in the module doc).

    Raises:
        MidiganError: the score has no pitched (non-drum) notes.
    """
    pitched = [(i, t) for i, t in enumerate(score.tracks) if not t.is_drum and t.notes]
    if not pitched:
        raise MidiganError("no melody: the score has no pitched (non-drum) notes")
    for pattern in _WORD_PATTERNS:
        for index, track in pitched:
            if pattern.search(track.name):
                return index
    busiest = max(len(t.notes) for _, t in pitched)
    candidates = [(i, t) for i, t in pitched if len(t.notes) >= BUSY_FRACTION * busiest]
    best_index, _ = max(candidates, key=lambda c: (_mean_pitch(c[1]), -c[0]))
    return best_index


def melody_choice(score: Score) -> tuple[int, str]:
    """The melody track's index (:func:`melody_track_index`) and the part of the rule that chose it:
    'only track' (one pitched track), 'by name' (rule 1) or 'highest' (rule 2).

    Raises:
        MidiganError: the score has no pitched (non-drum) notes.
    """
    index = melody_track_index(score)
    if sum(1 for t in score.tracks if not t.is_drum and t.notes) == 1:
        return index, "only track"
    if any(pattern.search(score.tracks[index].name) for pattern in _WORD_PATTERNS):
        return index, "by name"
    return index, "highest"


def _mean_pitch(track: Track) -> float:
    return sum(n.pitch for n in track.notes) / len(track.notes)


def extract_melody(score: Score, track_index: int | None = None) -> Track:
    """The melody as a new monophonic track named "Melody" (the source track's program).

    Args:
        score: the piece; left unchanged.
        track_index: the track to take; None applies :func:`melody_track_index`.

    Returns:
        A track whose notes never overlap: the skyline of the chosen track.

    Raises:
        MidiganError: no pitched notes (when `track_index` is None).
        IndexError: `track_index` is out of range.
    """
    index = melody_track_index(score) if track_index is None else track_index
    source = score.tracks[index]
    return Track(name="Melody", program=source.program, is_drum=False, notes=skyline(source.notes))


def skyline(notes: list[Note]) -> list[Note]:
    """Monophonic copy of `notes`: the top note at each onset, cut at the next onset."""
    top: dict[int, Note] = {}
    for note in notes:
        best = top.get(note.onset)
        if best is None or (note.pitch, note.duration, note.velocity) > (
            best.pitch,
            best.duration,
            best.velocity,
        ):
            top[note.onset] = note
    onsets = sorted(top)
    line = []
    for here, after in zip(onsets, [*onsets[1:], None], strict=True):
        note = top[here]
        duration = note.duration if after is None else min(note.duration, after - here)
        line.append(Note(note.pitch, here, duration, note.velocity))
    return line
