"""Seams: does a regenerated span join the kept bars after it like a real bar boundary?

At a barline the melody moves from its last note before the line to its first note
after it. Two numbers describe that step: the pitch interval (semitones, absolute) and
the onset gap (ticks from the last onset before the line to the first one after it,
which is long when the bar ends on a held note or a rest). :func:`boundary_steps` takes
them at every inner barline of real tunes (the reference); :func:`seam_steps` at the
closing barline of regenerated spans. :func:`seam_report` compares the two
distributions by their means, leap shares (intervals above a fifth) and total variation
distance over a few bins: 0 means the seams are distributed like real bar boundaries.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from midigan.music.score import TPQ, Note

INTERVAL_BINS = (0, 1, 3, 5, 8, 13, 128)  # unison, step, third, fourth-fifth, sixth-octave, beyond
GAP_BINS = (0, TPQ // 2 + 1, TPQ + 1, 2 * TPQ + 1, 1 << 30)  # up to an eighth, a quarter, a half, longer
LEAP = 7  # semitones: a leap is wider than a fifth


def step_at(notes: Sequence[Note], tick: int) -> tuple[int, int] | None:
    """(|interval|, onset gap) across `tick` for a monophonic melody, or None without a note each side."""
    before = [n for n in notes if n.onset < tick]
    after = [n for n in notes if n.onset >= tick]
    if not before or not after:
        return None
    last = max(before, key=lambda n: n.onset)
    first = min(after, key=lambda n: n.onset)
    return abs(first.pitch - last.pitch), first.onset - last.onset


def boundary_steps(melodies: Iterable[tuple[Sequence[Note], Sequence[int]]]) -> list[tuple[int, int]]:
    """Steps across every inner barline of each (notes, barline ticks) melody."""
    out = []
    for notes, bar_starts in melodies:
        for tick in list(bar_starts)[1:-1]:
            step = step_at(notes, tick)
            if step is not None:
                out.append(step)
    return out


def seam_steps(melodies: Iterable[tuple[Sequence[Note], int]]) -> list[tuple[int, int]]:
    """Steps across one tick (a regenerated span's closing barline) of each melody."""
    return [s for notes, tick in melodies if (s := step_at(notes, tick)) is not None]


@dataclass
class SeamStats:
    """One set of steps against the reference: sizes, means, leap share, distances (0 = alike)."""

    count: int
    mean_interval: float
    leap_share: float
    mean_gap_ticks: float
    interval_tv: float
    gap_tv: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _histogram(values: np.ndarray, bins: Sequence[int]) -> np.ndarray:
    counts, _ = np.histogram(values, bins=bins)
    return counts / max(1, counts.sum())


def seam_report(steps: Sequence[tuple[int, int]], reference: Sequence[tuple[int, int]]) -> SeamStats:
    """`steps` summarised, with total variation distances to `reference` (NaN-free: empty -> zeros)."""
    if not steps:
        return SeamStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    ours, real = np.asarray(steps, dtype=float), np.asarray(reference, dtype=float)
    tv = [
        0.5 * float(np.abs(_histogram(ours[:, i], b) - _histogram(real[:, i], b)).sum()) if len(real) else 0.0
        for i, b in ((0, INTERVAL_BINS), (1, GAP_BINS))
    ]
    return SeamStats(
        count=len(ours),
        mean_interval=float(ours[:, 0].mean()),
        leap_share=float((ours[:, 0] > LEAP).mean()),
        mean_gap_ticks=float(ours[:, 1].mean()),
        interval_tv=tv[0],
        gap_tv=tv[1],
    )


def measure_seams(
    corpus: str, limit: int = 64, candidates: Sequence[int] = (1, 8), span: int = 4, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Regenerate `span` bars in the middle of valid-split tunes and compare the closing seams.

    For each of the first `limit` valid-split tunes (the styles in turn) of at least
    `span + 4` bars, bars 3 to `2 + span` are regenerated with each number of
    `candidates` (1 = no look-ahead), leaving two or more kept bars after the span.

    Returns:
        'real' (every inner barline of those tunes), 'original' (the tunes' own steps at
        the seams' barlines) and 'candidates=K' for each K: :meth:`SeamStats.as_dict`.
    """
    from midigan.composer.edit import regenerate
    from midigan.composer.melody_view import melody_view
    from midigan.composer.piece import Piece
    from midigan.corpus.manifest import corpus_entries
    from midigan.io import read_score
    from midigan.model.checkpoint import load_model

    bundle = load_model(None)
    real, original, seams = [], [], {k: [] for k in candidates}
    used = 0
    for entry in _by_style_in_turn([e for e in corpus_entries(corpus) if e.split == "valid"]):
        if used >= limit:
            break
        score = read_score(entry.path)
        if score.bar_count < span + 4:
            continue
        used += 1
        view = melody_view(score, bundle.vocab)
        starts = view.streams.bar_starts().tolist()
        melody = view.score.tracks[view.track].notes
        real += boundary_steps([(melody, starts)])
        original += seam_steps([(melody, starts[2 + span])])
        for k in candidates:
            piece = regenerate(Piece(score), (3, 2 + span), candidates=k, seed=seed + used, model=bundle)
            assert isinstance(piece, Piece)
            seams[k] += seam_steps([(piece.score.tracks[view.track].notes, starts[2 + span])])
    report = {"real": seam_report(real, real).as_dict(), "original": seam_report(original, real).as_dict()}
    for k, steps in seams.items():
        report[f"candidates={k}"] = seam_report(steps, real).as_dict()
    return report


def _by_style_in_turn(entries: list) -> list:
    """Entries reordered so the styles take turns (the corpus sorts them style by style)."""
    groups: dict[str | None, list] = {}
    for entry in entries:
        groups.setdefault(entry.style, []).append(entry)
    out = []
    for row in itertools.zip_longest(*groups.values()):
        out += [e for e in row if e is not None]
    return out
