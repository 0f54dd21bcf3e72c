"""Accompaniment: a chord track and a bass track under a melody, from its chord labels.

The model writes a melody; a musician opening the MIDI file in a DAW expects a
band. :func:`arrange` adds two General MIDI parts played from the chord labels with
plain patterns that suit the meter, so the harmony is audible and easy to replace:

========  ================================================  =========================
meter     chords (program 0, Acoustic Grand Piano)          bass (program 32, Acoustic Bass)
========  ================================================  =========================
4/4       block chords on beats 1 and 3                     root on 1, fifth on 3
3/4       "oom-pah-pah": chords on beats 2 and 3            root on 1
2/4, 2/2  chord on beat 2                                   root on 1
6/8 etc.  one chord per dotted-quarter pulse                root, fifth, root... per pulse
others    one chord per group of two beats (a final three)  root, fifth... per group
========  ================================================  =========================

Piano for the chords because every GM synth and every DAW's default instrument
renders it well and it sits apart from a flute or violin melody; acoustic bass
because it suits folk, fiddle tunes and chorales alike. Chords are close-position
voicings with their lowest note between E3 and D#4 (around middle C), kept under the
melody where an inversion allows, each choosing
the inversion nearest the previous one so the voices move little; the bass stays
between G1 and D3. Both play softer than the melody, and nothing sounds past the
last barline. A hit that spans a chord change is split at the change.

Pieces without chord labels get chords estimated from the melody
(:func:`estimate_chords_from_melody`), so accompaniment always exists.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from midigan.music.harmony import estimate_chords
from midigan.music.melody import melody_track_index
from midigan.music.score import ChordLabel, Meter, Note, Score, Track
from midigan.music.theory import CHORD_QUALITIES, is_compound

CHORD_PROGRAM = 0
"""General MIDI program of the chord track: Acoustic Grand Piano."""

BASS_PROGRAM = 32
"""General MIDI program of the bass track: Acoustic Bass."""

CHORD_LOW = 52
"""Usual lowest bottom note of a chord voicing (E3); the bottom stays below 64 (E4)."""

CHORD_FLOOR = 51
"""Under a low melody the voicing window moves down, but only to Eb3: just above the bass."""

BASS_LOW = 36
"""Lowest bass root (C2); roots fill one octave up from here."""

BASS_HIGH = 50
"""Highest bass note (D3): a fifth that would climb higher is played an octave down."""

CHORD_VELOCITY_DROP = 22
BASS_VELOCITY_DROP = 14
DOWNBEAT_ACCENT = 6


@dataclass(frozen=True)
class Hit:
    """One pattern event inside a bar: where it starts, how long, which part plays it.

    `part` is "chord" or "bass"; `degree` is "root" or "fifth" for the bass.
    """

    position: int
    duration: int
    part: str
    degree: str = "root"


def bar_pattern(meter: Meter) -> tuple[Hit, ...]:
    """The accompaniment hits of one bar in `meter` (see the module table).

    Args:
        meter: the bar's time signature.

    Returns:
        Hits ordered by position; they never extend past the bar.
    """
    num, den = meter.numerator, meter.denominator
    beat = max(1, meter.bar_ticks // num)
    if is_compound(num, den) or (num % 3 == 0 and num > 3):  # 6/8, 9/8, 12/8, also 6/4: dotted pulses
        groups = [3] * (num // 3)
    elif num == 2:  # root on 1, chord on 2
        return (Hit(0, beat, "bass"), Hit(beat, beat, "chord"))
    elif num == 3:  # oom-pah-pah
        return (Hit(0, beat, "bass"), Hit(beat, beat, "chord"), Hit(2 * beat, beat, "chord"))
    elif num == 1:
        groups = [1]
    else:
        groups = [2] * (num // 2 - (num % 2)) + ([3] if num % 2 else [])
    hits: list[Hit] = []
    position = 0
    for index, size in enumerate(groups):
        length = size * beat
        hits.append(Hit(position, length, "chord"))
        hits.append(Hit(position, length, "bass", "root" if index % 2 == 0 else "fifth"))
        position += length
    return tuple(hits)


def arrange(
    score: Score,
    chords: Sequence[ChordLabel] | None = None,
    *,
    chord_program: int = CHORD_PROGRAM,
    bass_program: int = BASS_PROGRAM,
    follow_dynamics: bool = False,
) -> Score:
    """A copy of `score` with a "Chords" and a "Bass" track played from chord labels.

    Args:
        score: the melody (usually one track "Melody"); its meter map sets the
            patterns bar by bar and its end (a barline) bounds every added note.
        chords: chord labels to play; None takes `score.chords`, and when those are
            empty too, one chord per bar is estimated from the melody.
        chord_program: General MIDI program of the chord track.
        bass_program: General MIDI program of the bass track.
        follow_dynamics: play each bar at the melody's level in that bar (its mean
            velocity; a bar without melody notes keeps the bar before's), so the band
            swells and falls with a melody that has dynamics; False = the melody's mean
            velocity throughout (a template melody has no phrase dynamics to follow).

    Returns:
        A new Score: the original tracks, then Chords, then Bass; `chords` holds the
        labels played and `end_tick` the original end.
    """
    out = _copy(score)
    end = score.end
    labels = sorted(chords if chords is not None else score.chords, key=lambda c: c.tick)
    if not labels:
        labels = estimate_chords_from_melody(score)
    out.chords = list(labels)
    out.end_tick = end
    melody_velocity = _mean_velocity(score)
    chord_track = Track("Chords", program=chord_program)
    bass_track = Track("Bass", program=bass_program)
    voicing: tuple[int, ...] = ()
    low, ceiling = chord_window(score)
    starts = score.bar_starts(end)
    levels = _bar_levels(score, starts, melody_velocity) if follow_dynamics else None
    for bar, (bar_start, bar_end) in enumerate(pairwise(starts)):
        meter = score.meter_at(bar_start)
        if levels is not None:
            melody_velocity = levels[bar]
        for hit in bar_pattern(meter):
            hit_start = bar_start + hit.position
            hit_end = min(hit_start + hit.duration, bar_end, end)
            for seg_start, seg_end, label in _split_at_changes(labels, hit_start, hit_end):
                if label is None or label.root is None:
                    continue
                accent = DOWNBEAT_ACCENT if seg_start == bar_start else 0
                if hit.part == "chord":
                    voicing = voice_chord(label.root, label.quality, voicing, low, ceiling)
                    velocity = _clamp(melody_velocity - CHORD_VELOCITY_DROP + accent)
                    chord_track.notes += [Note(p, seg_start, seg_end - seg_start, velocity) for p in voicing]
                else:
                    degree = hit.degree if seg_start == hit_start else "root"  # a change restarts on the root
                    velocity = _clamp(melody_velocity - BASS_VELOCITY_DROP + accent)
                    pitch = bass_pitch(label.root, label.quality, degree)
                    bass_track.notes.append(Note(pitch, seg_start, seg_end - seg_start, velocity))
    for track in (chord_track, bass_track):
        track.sort()
        out.tracks.append(track)
    return out


def chord_window(score: Score) -> tuple[int, int | None]:
    """Where the chord voicings go: (lowest bottom note, ceiling) for this melody.

    The ceiling is the melody's 10th-percentile pitch, so chords sit under all but its
    lowest notes; the window's bottom moves from E3 down to Eb3 (never into the bass,
    which stops at D3) when the melody sits low.
    """
    pitches = sorted(n.pitch for t in score.tracks if not t.is_drum for n in t.notes)
    if not pitches:
        return CHORD_LOW, None
    ceiling = pitches[len(pitches) // 10]
    return max(CHORD_FLOOR, min(CHORD_LOW, ceiling - 20)), ceiling


def estimate_chords_from_melody(score: Score) -> list[ChordLabel]:
    """Chord labels (a bar or half bar each) guessed from the melody track.

    The corpus estimator (:func:`midigan.music.harmony.estimate_chords`) labels the
    melody found by the melody rule; the first label is moved to tick 0 so the
    accompaniment starts with the piece even after silent opening bars.
    """
    if not any(t.notes and not t.is_drum for t in score.tracks):
        return []
    labels = estimate_chords(score, melody_track_index(score))
    if labels and labels[0].tick > 0:
        labels[0] = ChordLabel(0, labels[0].root, labels[0].quality)
    return labels


def voice_chord(
    root: int,
    quality: str,
    previous: Sequence[int] = (),
    low: int = CHORD_LOW,
    ceiling: int | None = None,
) -> tuple[int, ...]:
    """A close-position voicing of the chord, bottom note in [low, low + 12), near `previous`.

    Every inversion whose bottom note lies in the window is a candidate; those whose
    top stays below `ceiling` are preferred (so the chords sit under the melody);
    among them the one moving least from `previous` (sum of distances of sorted
    voices, or distance of means when the sizes differ) wins; without a previous
    chord, the one centred nearest D4 (62).

    Args:
        root: root pitch class 0-11.
        quality: a name from :data:`midigan.music.theory.CHORD_QUALITIES`.
        previous: the last voicing played, as MIDI pitches.
        low: lowest allowed bottom note (default E3).
        ceiling: voicings reaching this pitch are avoided when another fits.

    Returns:
        MIDI pitches, ascending.
    """
    pcs = [(root + i) % 12 for i in CHORD_QUALITIES[quality]]
    candidates = []
    for inversion in range(len(pcs)):
        order = pcs[inversion:] + pcs[:inversion]
        bottom = low + (order[0] - low) % 12
        pitches = [bottom]
        for pc in order[1:]:
            pitches.append(pitches[-1] + (pc - pitches[-1]) % 12 or 12)
        candidates.append(tuple(pitches))

    def cost(voicing: tuple[int, ...]) -> float:
        if previous and len(previous) == len(voicing):
            return float(sum(abs(a - b) for a, b in zip(sorted(previous), voicing, strict=True)))
        centre = sum(previous) / len(previous) if previous else 62.0
        return abs(sum(voicing) / len(voicing) - centre)

    under = [v for v in candidates if ceiling is None or v[-1] < ceiling]
    return min(under or candidates, key=lambda v: (cost(v), v))


def bass_pitch(root: int, quality: str, degree: str = "root") -> int:
    """The bass note for a chord: its root in [C2, B2], or the chord's fifth next to it.

    The fifth goes above the root, or below it when above would pass D3 (so the bass
    never climbs into the chords' register).
    """
    low = BASS_LOW + (root - BASS_LOW) % 12
    if degree == "fifth":
        fifth = low + CHORD_QUALITIES[quality][2]  # third interval listed = the fifth (or its stand-in)
        return fifth if fifth <= BASS_HIGH else fifth - 12
    return low


def _split_at_changes(
    labels: Sequence[ChordLabel], start: int, end: int
) -> list[tuple[int, int, ChordLabel | None]]:
    """Pieces of [start, end) cut at every chord change, each with the label in force."""
    cuts = [start] + [c.tick for c in labels if start < c.tick < end] + [end]
    pieces = []
    for a, b in pairwise(cuts):
        if b > a:
            current = None
            for label in labels:
                if label.tick > a:
                    break
                current = label
            pieces.append((a, b, current))
    return pieces


def _copy(score: Score) -> Score:
    """A copy sharing nothing mutable: new tracks and notes; the maps hold frozen objects.

    Several times faster than `Score.copy` (a deepcopy), which matters for batches.
    """
    tracks = [
        Track(t.name, t.program, t.is_drum, [Note(n.pitch, n.onset, n.duration, n.velocity) for n in t.notes])
        for t in score.tracks
    ]
    return replace(
        score,
        tracks=tracks,
        tempos=list(score.tempos),
        meters=list(score.meters),
        keys=list(score.keys),
        chords=list(score.chords),
    )


def _bar_levels(score: Score, starts: list[int], fallback: int) -> list[int]:
    """The melody's mean velocity in each bar (the bar before's where it has no notes)."""
    sums = [0] * max(len(starts) - 1, 0)
    counts = [0] * len(sums)
    melody = score.tracks[melody_track_index(score)] if any(t.notes for t in score.tracks) else None
    for note in melody.notes if melody is not None else []:
        bar = max(0, min(len(sums) - 1, bisect_right(starts, note.onset) - 1))
        sums[bar] += note.velocity
        counts[bar] += 1
    levels, level = [], fallback
    for total, count in zip(sums, counts, strict=True):
        level = round(total / count) if count else level
        levels.append(level)
    return levels


def _mean_velocity(score: Score) -> int:
    velocities = [n.velocity for _, n in score.iter_notes()]
    return round(sum(velocities) / len(velocities)) if velocities else 80


def _clamp(velocity: int) -> int:
    return max(25, min(110, velocity))
