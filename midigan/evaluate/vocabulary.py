"""Rhythm and pitch vocabulary of a set of tunes against a style's own (issue 10 point 3).

A style stays true when its pieces use the note lengths and scale degrees of its collection,
in the collection's proportions: no triplets in reels that have none, no quarter-note folk
where the songs move in eighths, the sixth and seventh degrees as often as the real tunes
use them. Per-piece means (the quarter share, pitch-class entropy) hide where the mass moved;
these compare the pooled histograms of two sets of notes.

- **duration TV**: total variation distance (half the L1 distance, 0 = the same proportions,
  1 = no note length in common) between the sets' note-length histograms (exact ticks).
- **pitch-class TV**: the same over scale degrees (pitch class counted from each tune's tonic).
- **off-vocabulary share**: the share of a set's notes whose length is rarer than
  :data:`RARE_SHARE` among the collection's notes (the style's training tunes): the lengths a
  style does not use, such as triplets leaking into a reel from another collection.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from midigan.representations.tune import Tune

RARE_SHARE = 0.001
"""A note length used by fewer than one note in a thousand of a collection is outside its vocabulary."""


def duration_shares(tunes: Sequence[Tune]) -> dict[int, float]:
    """Note length in ticks -> its share of all the notes of `tunes` (empty for no notes)."""
    counts: Counter[int] = Counter()
    for tune in tunes:
        counts.update(np.asarray(tune.duration, dtype=np.int64).tolist())
    total = sum(counts.values())
    return {length: count / total for length, count in counts.items()} if total else {}


def degree_shares(tunes: Sequence[Tune]) -> np.ndarray:
    """(12,) share of all the notes of `tunes` on each scale degree (pitch class from the tonic)."""
    counts = np.zeros(12)
    for tune in tunes:
        counts += np.bincount((np.asarray(tune.pitch) - tune.tonic) % 12, minlength=12)
    return counts / counts.sum() if counts.sum() else counts


def total_variation(p: dict[int, float], q: dict[int, float]) -> float:
    """Half the L1 distance between two discrete distributions given as value -> share."""
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def vocabulary_distances(
    reference: Sequence[Tune], tunes: Sequence[Tune], collection: dict[int, float] | None = None
) -> dict[str, float]:
    """How far `tunes`' rhythm and pitch vocabulary lies from `reference`'s (module docstring).

    Args:
        reference: the real tunes to match (a style and meter's tunes of the split).
        tunes: the set judged.
        collection: :func:`duration_shares` of the style's training tunes, for the
            off-vocabulary share (None: `reference`'s own shares).

    Returns:
        duration_tv, pitch_class_tv, off_vocabulary (nan where a set has no notes).
    """
    real, made = duration_shares(reference), duration_shares(tunes)
    if not real or not made:
        return {"duration_tv": float("nan"), "pitch_class_tv": float("nan"), "off_vocabulary": float("nan")}
    known = real if collection is None else collection
    degrees_real, degrees_made = degree_shares(reference), degree_shares(tunes)
    return {
        "duration_tv": total_variation(real, made),
        "pitch_class_tv": float(0.5 * np.abs(degrees_real - degrees_made).sum()),
        "off_vocabulary": sum(share for length, share in made.items() if known.get(length, 0.0) < RARE_SHARE),
    }
