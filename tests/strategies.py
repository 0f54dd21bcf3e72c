"""Hypothesis strategies for scores on the TPQ grid, shared by the representation tests."""

from __future__ import annotations

from hypothesis import strategies as st

from midigan.music.score import ChordLabel, KeySignature, Meter, Note, Score, Tempo, Track
from midigan.music.theory import CHORD_QUALITIES

METERS = [(4, 4), (3, 4), (2, 4), (6, 8), (5, 8), (2, 2), (12, 8), (7, 8)]
NAMES = ["Piano", "Bass", "Lead Vocal", "Strings", "", "Drums"]


def canonical(score: Score) -> tuple:
    """Everything a round trip must keep, in comparable order."""
    score = score.copy()
    score.sort()
    tracks = [
        (t.name, t.program, t.is_drum, [(n.pitch, n.onset, n.duration, n.velocity) for n in t.notes])
        for t in score.tracks
    ]
    return tracks, score.tempos, score.meters, score.keys, score.chords, score.end, score.bar_count


def _without_same_pitch_overlaps(notes: list[Note]) -> list[Note]:
    kept: list[Note] = []
    busy_until: dict[int, int] = {}
    for note in sorted(notes, key=lambda n: (n.onset, n.pitch)):
        if note.onset >= busy_until.get(note.pitch, 0):
            kept.append(note)
            busy_until[note.pitch] = note.offset
    return kept


@st.composite
def bar_meters(draw: st.DrawFn, max_bars: int = 6) -> tuple[list[Meter], int]:
    """A meter map with changes on barlines, and the total length in ticks."""
    chosen = draw(st.lists(st.sampled_from(METERS), min_size=1, max_size=max_bars))
    meters: list[Meter] = []
    tick = 0
    for numerator, denominator in chosen:
        if not meters or (meters[-1].numerator, meters[-1].denominator) != (numerator, denominator):
            meters.append(Meter(tick, numerator, denominator))
        tick += Meter(0, numerator, denominator).bar_ticks
    return meters, tick


def _ticks(draw: st.DrawFn, total: int, max_size: int) -> list[int]:
    return sorted(set(draw(st.lists(st.integers(1, total - 1), max_size=max_size)))) if total > 1 else []


@st.composite
def scores(draw: st.DrawFn, max_tracks: int = 3, max_notes: int = 24, max_bars: int = 6) -> Score:
    """Multi-track scores (drums included) with tempo, meter, key and chord maps.

    Notes lie inside the piece and never overlap another note of the same pitch in
    their track, so every representation can be exact on them.
    """
    meters, total = draw(bar_meters(max_bars))
    tracks = []
    for _ in range(draw(st.integers(1, max_tracks))):
        is_drum = draw(st.booleans())
        pitches = st.integers(35, 81) if is_drum else st.integers(0, 127)
        raw = draw(
            st.lists(
                st.tuples(pitches, st.integers(0, total - 1), st.integers(1, 48), st.integers(1, 127)),
                max_size=max_notes,
            )
        )
        notes = [Note(p, on, min(d, total - on), v) for p, on, d, v in raw]
        tracks.append(
            Track(
                draw(st.sampled_from(NAMES)),
                draw(st.integers(0, 127)),
                is_drum,
                _without_same_pitch_overlaps(notes),
            )
        )
    qpm = st.integers(30, 300).map(float)
    tempos = [Tempo(0, draw(qpm))] + [Tempo(t, draw(qpm)) for t in _ticks(draw, total, 2)]
    modes = st.sampled_from(["major", "minor"])
    keys = [KeySignature(t, draw(st.integers(0, 11)), draw(modes)) for t in [0, *_ticks(draw, total, 1)]]
    if draw(st.booleans()):
        keys = []
    roots = st.one_of(st.none(), st.integers(0, 11))
    chords = []
    for tick in _ticks(draw, total, 6):
        root = draw(roots)
        chords.append(
            ChordLabel(tick, root, "maj" if root is None else draw(st.sampled_from(list(CHORD_QUALITIES))))
        )
    return Score(tracks, tempos, meters, keys, chords, end_tick=total)


@st.composite
def melodies(draw: st.DrawFn, max_bars: int = 6) -> Score:
    """One monophonic track tiling its bars with notes and rests, plus maps, a key and chords."""
    meters, total = draw(bar_meters(max_bars))
    notes = []
    tick = 0
    while tick < total:
        length = min(draw(st.sampled_from([1, 2, 3, 4, 6, 8, 9, 12, 18, 24, 36, 48])), total - tick)
        if draw(st.integers(0, 3)):
            notes.append(Note(draw(st.integers(40, 90)), tick, length, draw(st.integers(1, 127))))
        tick += length
    key = [KeySignature(0, draw(st.integers(0, 11)), draw(st.sampled_from(["major", "minor"])))]
    roots = st.one_of(st.none(), st.integers(0, 11))
    chords = []
    for chord_tick in [0, *_ticks(draw, total, 4)]:
        root = draw(roots)
        chords.append(
            ChordLabel(
                chord_tick, root, "maj" if root is None else draw(st.sampled_from(["maj", "min", "7"]))
            )
        )
    tempos = [Tempo(0, float(draw(st.integers(40, 200))))]
    keys = key if draw(st.booleans()) else []
    return Score([Track("Tune", 0, False, notes)], tempos, meters, keys, chords, end_tick=total)
