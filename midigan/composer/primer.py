"""Primers: a musician's phrase, read, moved into the requested key, and handed to the model.

:func:`read_primer` takes the melody of any file midigan reads (by the melody rule of
:mod:`midigan.music.melody`) with its meter, tempo and key (the key signature, else the best
Krumhansl-Kessler fit), whole or only its first or last few bars (:func:`take_bars`: a whole
song is too long to continue). :func:`move_primer` transposes it into the key asked for, the
shortest way, through the relative key when the modes differ. :func:`primer_streams`
turns it into the note streams the sampler teacher-forces and then copies verbatim,
without the trailing rest, so the model continues right where the last note ends.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from midigan.composer.piece import MELODY_TRACK_NAME
from midigan.errors import ConfigError, MidiganError, MidiReadError
from midigan.io import read_score
from midigan.music.harmony import detect_key
from midigan.music.melody import extract_melody
from midigan.music.score import KeySignature, Meter, Note, Score, Tempo
from midigan.representations.streams import REST, NoteStreams


def read_primer(primer: str | Path | Score, bars: int | None = None) -> Score:
    """The primer's melody as a one-track Score ("Melody"), with its first meter, tempo and key.

    Args:
        primer: a file midigan reads, or a Score.
        bars: keep only the first `bars` bars, or with a negative number the last `-bars`
            (see :func:`take_bars`); None keeps it whole.

    Raises:
        MidiReadError: unreadable file, or no pitched notes.
        ConfigError: `primer` is neither a path nor a Score; `bars` is 0, longer than the
            primer, or picks bars without a note.
    """
    if isinstance(primer, Score):
        source, name = primer, "primer"
    elif isinstance(primer, (str, Path)):
        source, name = read_score(primer), str(primer)
    else:
        raise ConfigError(f"primer must be a file path or a Score (got {type(primer).__name__})")
    try:
        track = extract_melody(source)
    except MidiganError as e:  # the melody rule found no pitched notes
        raise MidiReadError(f"{name}: no melody to continue ({e})") from e
    track.name = MELODY_TRACK_NAME
    melody = Score(
        tracks=[track],
        tempos=sorted(source.tempos, key=lambda t: t.tick)[:1] or [Tempo(0, 120.0)],
        meters=sorted(source.meters, key=lambda m: m.tick)[:1] or [Meter(0, 4, 4)],
        title=source.title,
    )
    first_key = source.key_at(0)
    if first_key is None:
        tonic, mode = detect_key(melody)  # all 24 keys
        first_key = KeySignature(0, tonic, mode)
    melody.keys = [KeySignature(0, first_key.tonic, first_key.mode, first_key.spelling)]
    return melody if bars is None else take_bars(melody, bars)


def take_bars(melody: Score, bars: int) -> Score:
    """The first `bars` bars of a one-track primer, or with `bars` negative its last `-bars`.

    Bars are counted on the primer's first meter, up to the bar of its last note. Notes
    are cut at the end of the span; notes sounding into its start from before are left
    out (the span opens with a rest there). The result starts at tick 0 and ends on the
    span's last barline.

    Raises:
        ConfigError: `bars` is 0 or longer than the primer, or the span holds no note.
    """
    starts = melody.bar_starts()
    total = len(starts) - 1
    if bars == 0 or abs(bars) > total:
        raise ConfigError(
            f"primer_bars: the primer has {total} bar(s); ask for 1 to {total} (its first bars) "
            f"or -1 to -{total} (its last bars), not {bars}"
        )
    first = 0 if bars > 0 else total + bars  # index of the first bar kept
    start, stop = starts[first], starts[first + abs(bars)]
    notes = [
        Note(n.pitch, n.onset - start, min(n.offset, stop) - n.onset, n.velocity)
        for n in melody.tracks[0].notes
        if start <= n.onset < stop
    ]
    if not notes:
        raise ConfigError(f"primer_bars: bars {first + 1}-{first + abs(bars)} of the primer hold no notes")
    cut = melody.copy()
    cut.tracks[0].notes = notes
    cut.end_tick = stop - start
    return cut


def move_primer(melody: Score, key: tuple[int, str]) -> Score:
    """A copy of the primer transposed into `key` (see :func:`transposition`)."""
    moved = melody.transpose(transposition(melody.keys[0], key))
    moved.keys = [KeySignature(0, *key)]
    return moved


def transposition(source: KeySignature, target: tuple[int, str]) -> int:
    """Semitones (-5..+6) that move a melody in `source` into `target`.

    Same mode: tonic to tonic. Different mode: through the relative key (C major ->
    A minor is 0), so every note keeps its place in the scale.
    """
    tonic, mode = target
    origin = source.tonic
    if source.mode != mode:
        origin = (origin + (9 if source.mode == "major" else 3)) % 12
    shift = (tonic - origin) % 12
    return shift - 12 if shift > 6 else shift


def primer_streams(moved: Score, style: str | None) -> NoteStreams:
    """The (moved) primer as note streams in its own key, trailing rests dropped."""
    streams = NoteStreams.from_score(moved, style=style, to_c=False)
    keep = len(streams)
    while keep > 0 and int(streams.pitch[keep - 1]) == REST:
        keep -= 1
    if keep == len(streams):
        return streams
    events = [f.name for f in fields(streams) if _per_event(getattr(streams, f.name), len(streams))]
    return replace(streams, **{name: getattr(streams, name)[:keep] for name in events})


def _per_event(value: object, count: int) -> bool:
    """An array with one entry per event (pitch, duration, onset, conditions...)."""
    return isinstance(value, np.ndarray) and value.shape[:1] == (count,)
