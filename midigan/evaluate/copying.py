"""Did the model copy? Long runs of notes shared verbatim with the training set.

A piece counts as *copied* when it holds a run of :data:`COPY_RUN` consecutive
(interval, duration) pairs — ``COPY_RUN + 1`` notes — that also occurs somewhere in a
training piece. Intervals (not pitches) make the test blind to transposition; durations
are exact ticks. Twelve pairs is about three bars of a reel or four of a slow air: long
enough that two folk tunes rarely share it by chance, short enough to catch a model that
strings memorised phrases together. Rests are skipped (the run is over sounding notes).

The training set's runs are kept as a sorted array of 64-bit polynomial hashes, so an
index of a million runs costs 8 MB and a lookup is a binary search.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from midigan.evaluate.features import Tune

COPY_RUN = 12
"""Consecutive (interval, duration) pairs that make a copy."""

_BASE = np.uint64(1_000_003)


def pair_codes(tune: Tune) -> np.ndarray:
    """(N-1,) one integer per consecutive note pair: interval and the second note's duration."""
    interval = np.diff(tune.pitch).astype(np.int64) + 128  # 1..255
    duration = np.minimum(tune.duration[1:].astype(np.int64), 2**20 - 1)
    return (interval << np.int64(20)) | duration


def run_hashes(tune: Tune, run: int = COPY_RUN) -> np.ndarray:
    """(K,) uint64 hashes of every window of `run` consecutive pairs (empty when too short)."""
    codes = pair_codes(tune).astype(np.uint64)
    if codes.size < run:
        return np.zeros(0, dtype=np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(codes, run)  # (K, run)
    powers = _BASE ** np.arange(run, dtype=np.uint64)  # wraps modulo 2**64 by design
    with np.errstate(over="ignore"):
        return (windows * powers).sum(axis=1, dtype=np.uint64) ^ np.uint64(run)


class CopyIndex:
    """Every run of `run` (interval, duration) pairs in a set of training tunes."""

    def __init__(self, tunes: Iterable[Tune], run: int = COPY_RUN) -> None:
        if run < 1:
            raise ValueError(f"copy run must be at least 1 pair, got {run}")
        self.run = run
        parts = [run_hashes(t, run) for t in tunes]
        self.hashes = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)

    def __len__(self) -> int:
        return int(self.hashes.size)

    def shared_runs(self, tune: Tune) -> int:
        """How many of the tune's runs also occur in the training set."""
        queries = run_hashes(tune, self.run)
        if not self.hashes.size:
            return 0
        position = np.minimum(np.searchsorted(self.hashes, queries), self.hashes.size - 1)
        return int((self.hashes[position] == queries).sum())

    def is_copied(self, tune: Tune) -> bool:
        """True if any run of the tune occurs in the training set."""
        return self.shared_runs(tune) > 0


def copied_rate(tunes: list[Tune], index: CopyIndex) -> float:
    """Share of `tunes` holding at least one training run, in [0, 1]; nan for no tunes."""
    if not tunes:
        return float("nan")
    return float(np.mean([index.is_copied(t) for t in tunes]))
