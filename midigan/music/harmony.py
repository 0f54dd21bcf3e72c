"""Harmony read off the notes: the key of a piece, and chord labels for the corpora.

**Key** (:func:`detect_key`): the candidate key whose Krumhansl-Kessler profile best
matches the duration-weighted pitch classes, with a bonus when the tune ends on the
tonic. It is the one key estimator: the readers use it where a source names no mode,
the primer and the evaluation (:class:`~midigan.representations.tune.Tune`) where a
melody has no key at all.

**Folk estimator** (:func:`estimate_chords`, Essen / O'Neill / Ryan's, which carry no
chord symbols). Each bar is one segment; bars of an even number of beats may split
in two halves (below). For a segment, every candidate chord (roots 0-11 x ``maj``,
``min``, ``dim``, plus the dominant seventh ``7``) gets

    score = coverage + prior

where *coverage* is the share of the segment's melody weight falling on chord tones,
a note's weight being its duration inside the segment (ticks) times a metric weight
(:data:`METRIC_WEIGHTS`: downbeat 2, other strong beats 1.5, elsewhere 1), and *prior*
favours the diatonic chords of the key (:data:`MAJOR_PRIORS` / :data:`MINOR_PRIORS`,
degrees above the tonic) and charges the four-note ``7`` chord
:data:`SEVENTH_PENALTY` so it wins only when its seventh really sounds. The best
score wins; ties go to the earlier candidate in a fixed order, so the labels are
deterministic. A bar splits into halves when the two halves' best chords differ and
their mean coverage beats the whole bar's best coverage by :data:`SPLIT_GAIN`. A
segment without notes keeps the chord before it. Consecutive equal labels merge.

**Chorale harmony** (:func:`chorale_chords`, Bach, four real voices). Each beat is
labelled from the pitch classes sounding in all voices, weighted by how long they
sound in the beat (doubled for notes sounding on the beat itself), with a template
matcher over every quality in :data:`midigan.music.theory.CHORD_QUALITIES`:

    score = matched weight - unmatched weight - MISSING_PENALTY x missing chord tones
            + BASS_BONUS if the lowest sounding note is the root + a small quality prior

(after Pardo & Birmingham's template matching). A four-note chord qualifies only
when all its tones sound on the beat itself. Passing tones lower a chord's
score only as much as they sound, so the harmony of the beat wins.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

from midigan.music import theory
from midigan.music.score import TPQ, ChordLabel, Note, Score

MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
"""Krumhansl-Kessler key profiles (probe-tone ratings), indexed from the tonic."""

FINAL_NOTE_BONUS = 0.1
"""Added to a key's profile correlation when the tune ends on its tonic (folk tunes usually do)."""

ALL_KEYS = tuple((tonic, mode) for mode in ("major", "minor") for tonic in range(12))
"""Every major then every minor key, tonics from C up: the candidates when nothing narrows them."""

METRIC_WEIGHTS = (2.0, 1.5, 1.0)
"""Weight of a note starting on the downbeat, on another strong beat, elsewhere."""

MAJOR_PRIORS: dict[tuple[int, str], float] = {
    (0, "maj"): 0.12, (7, "maj"): 0.10, (5, "maj"): 0.10, (7, "7"): 0.10,
    (9, "min"): 0.06, (2, "min"): 0.06, (4, "min"): 0.03, (2, "maj"): 0.03, (11, "dim"): 0.0,
}  # fmt: skip
MINOR_PRIORS: dict[tuple[int, str], float] = {
    (0, "min"): 0.12, (7, "maj"): 0.10, (7, "7"): 0.10, (5, "min"): 0.08, (3, "maj"): 0.06,
    (8, "maj"): 0.06, (10, "maj"): 0.06, (7, "min"): 0.03, (2, "dim"): 0.0,
}  # fmt: skip
"""Prior bonus by (degree above the tonic, quality); chords not listed get NON_DIATONIC_PRIOR."""

NON_DIATONIC_PRIOR = -0.05
SEVENTH_PENALTY = 0.08
SPLIT_GAIN = 0.15
FOLK_QUALITIES = ("maj", "min", "dim", "7")

MISSING_PENALTY = 0.12
BASS_BONUS = 0.06
QUALITY_PRIORS = {"maj": 0.03, "min": 0.03, "7": 0.02, "dim": 0.0, "dim7": 0.0, "m7": 0.0}
"""Small tie-breaking prior of chorale chord qualities; others get OTHER_QUALITY_PRIOR."""
OTHER_QUALITY_PRIOR = -0.03


# ------------------------------------------------------------------ folk melodies
def detect_key(score: Score, candidates: Sequence[tuple[int, str]] = ALL_KEYS) -> tuple[int, str]:
    """The candidate key that best fits the score's notes.

    Fit = Pearson correlation of the duration-weighted pitch-class histogram with the
    Krumhansl-Kessler profile of the key, plus :data:`FINAL_NOTE_BONUS` when the
    lowest note sounding at the end is the key's tonic. Ties keep the earlier candidate,
    so the result is deterministic. Returns the first candidate for an empty score.
    """
    histogram = [0.0] * 12
    for _, note in score.iter_notes():
        histogram[note.pitch % 12] += note.duration
    if not any(histogram):
        return candidates[0]
    last = score.last_offset
    final_notes = [n for _, n in score.iter_notes() if n.offset == last]
    final_pc = min(final_notes, key=lambda n: n.pitch).pitch % 12 if final_notes else None
    best, best_fit = candidates[0], -math.inf
    for tonic, mode in candidates:
        profile = MAJOR_PROFILE if mode == "major" else MINOR_PROFILE
        rotated = [profile[(pc - tonic) % 12] for pc in range(12)]
        fit = _correlation(histogram, rotated) + (FINAL_NOTE_BONUS if final_pc == tonic else 0.0)
        if fit > best_fit + 1e-12:
            best, best_fit = (tonic, mode), fit
    return best


TONIC_CHORD_BONUS = 0.15
"""Added to a key's fit for each end of a progression (first, last chord) that is its tonic
triad: songs start and end at home, which a histogram of chord tones cannot see."""

_TONIC_QUALITIES = {"major": ("maj", "maj7"), "minor": ("min", "m7")}


def key_of_chords(bars: Sequence[Sequence[tuple[int | None, str]]]) -> tuple[int, str] | None:
    """The key a chord progression is in, or None when it names no chord.

    Fit = the correlation of the chord tones' pitch-class histogram (each bar's chords
    share the bar) with the key's Krumhansl-Kessler profile, plus :data:`TONIC_CHORD_BONUS`
    for a first and for a last chord that is the key's tonic triad (major chord for a
    major key, minor chord for a minor key). "C F G C" is in C, "Am F C G" in A minor.
    """
    histogram = [0.0] * 12
    named = [(root, quality) for bar in bars for root, quality in bar if root is not None]
    for bar in bars:
        real = [(root, quality) for root, quality in bar if root is not None]
        for root, quality in real:
            for pc in theory.chord_pitch_classes(root, quality):
                histogram[pc] += 1.0 / len(real)
    if not named:
        return None
    ends = (named[0], named[-1])
    best, best_fit = ALL_KEYS[0], -math.inf
    for tonic, mode in ALL_KEYS:
        profile = MAJOR_PROFILE if mode == "major" else MINOR_PROFILE
        rotated = [profile[(pc - tonic) % 12] for pc in range(12)]
        home = _TONIC_QUALITIES[mode]
        at_home = sum(root == tonic and quality in home for root, quality in ends)
        fit = _correlation(histogram, rotated) + TONIC_CHORD_BONUS * at_home
        if fit > best_fit + 1e-12:
            best, best_fit = (tonic, mode), fit
    return best


def _correlation(xs: list[float], ys: list[float]) -> float:
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    var = math.sqrt(sum((x - mean_x) ** 2 for x in xs) * sum((y - mean_y) ** 2 for y in ys))
    return cov / var if var else 0.0


def estimate_chords(score: Score, track: int = 0) -> list[ChordLabel]:
    """Per-bar (or half-bar) chord labels for the melody in `score.tracks[track]`.

    The key is ``score.keys[0]`` (C major when unknown). See the module docstring.
    Returns labels at every chord change, the first at the first bar with notes.
    """
    key = score.keys[0] if score.keys else None
    tonic, mode = (key.tonic, key.mode) if key else (0, "major")
    notes = sorted(score.tracks[track].notes, key=lambda n: n.onset) if score.tracks else []
    starts = score.bar_starts(score.end)
    labels: list[ChordLabel] = []
    current: tuple[int | None, str] | None = None
    for bar_start, bar_end in itertools.pairwise(starts):
        meter = score.meter_at(bar_start)
        for seg_start, seg_end, chord in _label_bar(notes, bar_start, bar_end, meter, tonic, mode):
            del seg_end
            if chord is None or chord == current:
                continue
            labels.append(ChordLabel(seg_start, *chord))
            current = chord
    return labels


def _label_bar(
    notes: list[Note], start: int, end: int, meter: object, tonic: int, mode: str
) -> list[tuple[int, int, tuple[int, str] | None]]:
    """Segments of one bar with their best chord (None where the segment has no notes)."""
    strong = theory.strong_beat_ticks(meter.numerator, meter.denominator, TPQ)
    whole = _weights(notes, start, end, start, strong)
    best, coverage = _best_folk_chord(whole, tonic, mode)
    if best is None:
        return [(start, end, None)]
    compound = theory.is_compound(meter.numerator, meter.denominator)
    beats = meter.numerator // 3 if compound else meter.numerator
    if beats % 2 == 0 and beats >= 2 and end - start == meter.bar_ticks and coverage < 1.0:
        middle = start + (end - start) // 2
        first, cov1 = _best_folk_chord(_weights(notes, start, middle, start, strong), tonic, mode)
        second, cov2 = _best_folk_chord(_weights(notes, middle, end, start, strong), tonic, mode)
        if first and second and first != second and (cov1 + cov2) / 2 >= coverage + SPLIT_GAIN:
            return [(start, middle, first), (middle, end, second)]
    return [(start, end, best)]


def _weights(
    notes: list[Note], seg_start: int, seg_end: int, bar_start: int, strong: tuple[int, ...]
) -> list[float]:
    """Pitch-class weights of the notes sounding in [seg_start, seg_end)."""
    weights = [0.0] * 12
    for note in notes:
        if note.onset >= seg_end:
            break
        overlap = min(note.offset, seg_end) - max(note.onset, seg_start)
        if overlap <= 0:
            continue
        position = note.onset - bar_start
        if position == 0:
            metric = METRIC_WEIGHTS[0]
        elif position in strong:
            metric = METRIC_WEIGHTS[1]
        else:
            metric = METRIC_WEIGHTS[2]
        weights[note.pitch % 12] += overlap * metric
    return weights


def _best_folk_chord(weights: list[float], tonic: int, mode: str) -> tuple[tuple[int, str] | None, float]:
    """The best (root, quality) for pitch-class `weights` and its coverage (None for silence)."""
    total = sum(weights)
    if total <= 0:
        return None, 0.0
    priors = MAJOR_PRIORS if mode == "major" else MINOR_PRIORS
    best, best_score, best_coverage = None, -1e9, 0.0
    for degree in range(12):
        root = (tonic + degree) % 12
        for quality in FOLK_QUALITIES:
            tones = theory.chord_pitch_classes(root, quality)
            coverage = sum(weights[pc] for pc in tones) / total
            score = coverage + priors.get((degree, quality), NON_DIATONIC_PRIOR)
            if quality == "7":
                score -= SEVENTH_PENALTY
            if score > best_score + 1e-9:
                best, best_score, best_coverage = (root, quality), score, coverage
    return best, best_coverage


# --------------------------------------------------------------------- chorales
def chorale_chords(score: Score, step: int = TPQ) -> list[ChordLabel]:
    """Chord labels of a multi-voice score, one per `step` ticks (a beat), merged when equal.

    Segments where nothing sounds get no label (the previous one continues).
    """
    notes = sorted((n for _, n in score.iter_notes()), key=lambda n: n.onset)
    labels: list[ChordLabel] = []
    current: tuple[int | None, str] | None = None
    end = score.end
    for seg_start in range(0, end, step):
        sounding = _sounding(notes, seg_start, seg_start + step)
        struck = {n.pitch % 12 for n in notes if n.onset <= seg_start < n.offset}
        chord = best_template_chord(sounding, struck)
        if chord is None or chord == current:
            continue
        labels.append(ChordLabel(seg_start, *chord))
        current = chord
    return labels


def _sounding(notes: Iterable[Note], start: int, end: int) -> list[tuple[int, float]]:
    """`(pitch, weight)` for every note overlapping [start, end).

    The weight is the ticks it sounds inside the span, doubled for notes sounding at
    the span's start: the beat's harmony is struck on the beat, and later notes
    inside it are more often passing or anticipating.
    """
    out = []
    for note in notes:
        if note.onset >= end:
            break
        overlap = min(note.offset, end) - max(note.onset, start)
        if overlap > 0:
            on_beat = note.onset <= start < note.offset
            out.append((note.pitch, float(overlap * (2 if on_beat else 1))))
    return out


def best_template_chord(
    sounding: list[tuple[int, float]], struck: set[int] | None = None
) -> tuple[int, str] | None:
    """The template chord best matching `(pitch, weight)` pairs, or None when empty.

    See the module docstring for the score. When `struck` (pitch classes sounding at
    the beat's start) is given, a four-note chord qualifies only if all its tones are
    struck: a seventh passing through later in the beat does not make a seventh chord.
    Ties go to the lower root, then the quality order of
    :data:`~midigan.music.theory.CHORD_QUALITIES`.
    """
    weights = [0.0] * 12
    for pitch, weight in sounding:
        weights[pitch % 12] += weight
    total = sum(weights)
    if total <= 0:
        return None
    weights = [w / total for w in weights]
    bass = min(p for p, _ in sounding) % 12
    present = {pc for pc in range(12) if weights[pc] > 0}
    best, best_score = None, -1e9
    for root in sorted(present):
        for quality in theory.CHORD_QUALITIES:
            tones = theory.chord_pitch_classes(root, quality)
            if struck is not None and len(tones) > 3 and not tones <= struck:
                continue
            matched = sum(weights[pc] for pc in tones)
            missing = len(tones - present)
            score = matched - (1.0 - matched) - MISSING_PENALTY * missing
            score += QUALITY_PRIORS.get(quality, OTHER_QUALITY_PRIOR) + (BASS_BONUS if bass == root else 0.0)
            if score > best_score + 1e-9:
                best, best_score = (root, quality), score
    return best
