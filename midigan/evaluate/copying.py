"""Did the model copy? Long runs of notes shared verbatim with the training set.

A piece counts as *copied* when it holds a run of
:data:`~midigan.representations.tune.COPY_RUN` consecutive (interval, duration) pairs that
also occurs somewhere in a training piece (what a run is, and why twelve pairs:
:mod:`midigan.representations.tune`). The training set's runs are kept as a sorted array of
their hashes (:func:`~midigan.representations.tune.run_hashes`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from midigan.representations.tune import COPY_RUN, Tune, run_hashes


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
