"""Velocity features: does a velocity model play melodies the way the dynamics corpus does?

The test (`midigan evaluate-dynamics`): the model plays every held-out melody of the
dynamics corpus, each passage of 128 notes (a 16-bar tune's length) at that passage's own
level, as the user gives one level a piece (the level is the user's choice, so it is given,
not judged), and the played and the real velocities are cut into the same
excerpts of :data:`EXCERPT_BARS` bars. Per excerpt, the features:

* ``mean`` and ``spread`` (standard deviation) of the velocities;
* ``histogram``: the share of notes in each of 8 velocity bands of 16;
* ``bar_change``: mean absolute change of the bar-mean velocity from bar to bar, and
  the spread of the bar means (phrase shape, not note jitter);
* ``metric``: mean velocity at each metrical strength (downbeat ... finer) minus the
  excerpt's mean (accents), 0 where the excerpt has no such onset.

Each feature is compared by the overlapped area of intra- and inter-set distances
(:func:`midigan.evaluate.distances.compare_feature`, as the melody evaluation does), and
all of them at once by a classifier two-sample test, paired (an excerpt and its played
twin always share a fold). The metric template (100 / 88 / 76, what the generator plays
today) is scored the same way as a baseline.

Also here, the numbers of issue 11 on composed pieces (:func:`compose_statistics`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from midigan.composer.dynamics import MIN_BAR_RANGE, bar_mean_range
from midigan.evaluate.distances import compare_feature
from midigan.evaluate.two_sample import two_sample_test
from midigan.model.dynamics_features import N_STRENGTH, MelodyGrid, strengths

if TYPE_CHECKING:
    from midigan.model.dynamics import DynamicsModel

EXCERPT_BARS = 8
FEATURES = ("mean", "spread", "histogram", "bar_change", "metric")
TEMPLATE = (100, 88, 76)
"""The metric template: downbeat, other strong beat, the rest (midigan.io.music21)."""


def excerpt_features(
    grid: MelodyGrid, velocity: np.ndarray, bars: int = EXCERPT_BARS
) -> list[dict[str, np.ndarray]]:
    """The features of each excerpt of `bars` bars holding at least 8 notes (module doc)."""
    velocity = np.asarray(velocity, dtype=np.float64)
    bar = grid.bar_index()
    strength = strengths(grid)
    out = []
    for first in range(0, grid.bars, bars):
        inside = (bar >= first) & (bar < first + bars)
        if inside.sum() < 8:
            continue
        v, b, s = velocity[inside], bar[inside], strength[inside]
        means = np.asarray([v[b == i].mean() for i in np.unique(b)])
        metric = np.asarray(
            [v[s == k].mean() - v.mean() if (s == k).any() else 0.0 for k in range(N_STRENGTH)]
        )
        histogram = np.bincount(np.clip((v - 1) // 16, 0, 7).astype(np.int64), minlength=8) / len(v)
        change = np.abs(np.diff(means)).mean() if len(means) > 1 else 0.0
        out.append({
            "mean": np.asarray([v.mean()]),
            "spread": np.asarray([v.std()]),
            "histogram": histogram,
            "bar_change": np.asarray([change, means.std()]),
            "metric": metric,
        })  # fmt: skip
    return out


def feature_table(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Feature name -> (n, d) array over the excerpts."""
    return {name: np.stack([r[name] for r in rows]) for name in FEATURES}


def template_velocities(grid: MelodyGrid) -> np.ndarray:
    """The metric template's velocity of every note (downbeat, strong beat, rest)."""
    strength = strengths(grid)
    return np.where(strength == 0, TEMPLATE[0], np.where(strength == 1, TEMPLATE[1], TEMPLATE[2]))


def compare(
    real: list[dict[str, np.ndarray]], played: list[dict[str, np.ndarray]], seed: int = 0
) -> dict[str, Any]:
    """Overlapped areas per feature, their mean, and the paired two-sample tests."""
    a, b = feature_table(real), feature_table(played)
    rng = np.random.default_rng(seed)
    areas = {name: compare_feature(a[name], b[name], rng).overlapped_area for name in FEATURES}
    x_real = np.hstack([a[name] for name in FEATURES])
    x_played = np.hstack([b[name] for name in FEATURES])
    tests = {
        c: two_sample_test(x_real, x_played, classifier=c, seed=seed).to_json()
        for c in ("logistic", "forest")
    }
    return {"oa": areas, "mean_oa": float(np.mean(list(areas.values()))), "two_sample": tests,
            "mean_velocity": float(b["mean"].mean()), "spread": float(b["spread"].mean())}  # fmt: skip


def evaluate_dynamics(
    corpus: str | Path,
    model: DynamicsModel,
    *,
    split: str = "test",
    seed: int = 0,
    window: int = 128,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Played against real velocities on the corpus's `split` (module doc).

    Returns:
        {'pieces', 'excerpts', 'real': {mean_velocity, spread}, 'model': comparison,
        'template': comparison}.

    Raises:
        ConfigError: not a corpus, or no melody with varying velocities in it.
    """
    from midigan.model.dynamics import sample_velocities
    from midigan.train.dynamics import window_levels

    grids = _held_out(corpus, split)
    real, played, template = [], [], []
    for i, grid in enumerate(grids):
        levels = window_levels(grid.velocity, window)
        (velocity,) = sample_velocities(model, [grid], [levels], [seed + i])
        rows = excerpt_features(grid, grid.velocity)
        real += rows
        played += excerpt_features(grid, velocity)
        template += excerpt_features(grid, template_velocities(grid))
        if progress is not None:
            progress(f"{i + 1}/{len(grids)} pieces, {len(real)} excerpts")
    table = feature_table(real)
    return {
        "split": split,
        "pieces": len(grids),
        "excerpts": len(real),
        "real": {"mean_velocity": float(table["mean"].mean()), "spread": float(table["spread"].mean())},
        "model": compare(real, played, seed),
        "template": compare(real, template, seed),
    }


def _held_out(corpus: str | Path, split: str) -> list[MelodyGrid]:
    """The melodies of one split (files that do not read or play flat are left out)."""
    from midigan.errors import ConfigError
    from midigan.train.dynamics import read_grids

    by_split, _ = read_grids(corpus)
    if not by_split.get(split):
        raise ConfigError(f"{corpus}: no {split} pieces with varying velocities")
    return by_split[split]


def compose_statistics(pieces: list[Any]) -> dict[str, float]:
    """Issue 11's numbers on composed Pieces (their melody tracks).

    Returns:
        distinct_velocities (over all pieces), bar_mean_range (mean over pieces of the
        max - min of the bar-mean velocity; its least, and the share of pieces where it is at
        least :data:`~midigan.composer.dynamics.MIN_BAR_RANGE`), metric_share (mean over pieces
        of the share of the melody's velocity variance explained by metrical strength: eta squared).
    """
    distinct: set[int] = set()
    ranges, shares = [], []
    for piece in pieces:
        grid = MelodyGrid.from_score(piece.score, 0)
        velocity = grid.velocity.astype(np.float64)
        if not len(velocity):
            continue
        distinct |= set(grid.velocity.tolist())
        bar = grid.bar_index()
        ranges.append(bar_mean_range(velocity, bar))
        strength = strengths(grid)
        total = float(((velocity - velocity.mean()) ** 2).sum())
        between = sum(float((strength == k).sum()) * (velocity[strength == k].mean() - velocity.mean()) ** 2
                      for k in np.unique(strength))  # fmt: skip
        shares.append(between / total if total > 0 else 1.0)
    moving = sum(r >= MIN_BAR_RANGE for r in ranges) / len(ranges) if ranges else float("nan")
    return {
        "pieces": len(ranges),
        "distinct_velocities": len(distinct),
        "bar_mean_range": float(np.mean(ranges)) if ranges else float("nan"),
        "bar_mean_range_min": float(np.min(ranges)) if ranges else float("nan"),
        "bar_mean_range_share": moving,
        "metric_share": float(np.mean(shares)) if shares else float("nan"),
    }
