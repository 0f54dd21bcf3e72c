"""Comparing two sets of pieces feature by feature, after Yang & Lerch (2018).

For one feature, the *intra-set* distances are those between every pair of reference
(real) pieces, the *inter-set* distances those between every generated piece and every
reference piece. If the generated set is drawn from the same distribution as the
reference, both distance distributions coincide. Each is smoothed with a Gaussian
kernel density estimate (implemented here in numpy; Scott's bandwidth, as scipy's
``gaussian_kde`` uses) and compared by

- the **overlapped area** ``OA = ∫ min(p_intra, p_inter)`` (1 = identical, 0 = disjoint), and
- the **KL divergence** ``KL(p_intra ‖ p_inter)`` in nats (0 = identical).

Scalar features use absolute differences; histograms and transition matrices the
Euclidean distance between the flattened vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID_POINTS = 512
"""Points of the shared grid both densities are evaluated on."""

MAX_DISTANCES = 20_000
"""Distance samples kept per distribution (a seeded random subset beyond that): the KDE
of 125,000 intra-set pairs of 500 pieces is no better than that of 20,000."""

_DENSITY_FLOOR = 1e-10


@dataclass(frozen=True)
class FeatureComparison:
    """How one feature's inter-set distances compare with the intra-set ones."""

    overlapped_area: float
    kl_divergence: float
    intra_mean: float
    inter_mean: float


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) Euclidean distances between the rows of `a` (n, d) and `b` (m, d)."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    if a.shape[1] == 1:  # scalars: exact, where the expansion below leaves rounding noise
        return np.abs(a - b.T)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def intra_set_distances(x: np.ndarray) -> np.ndarray:
    """Distances between all unordered pairs of distinct rows of `x` (empty for < 2 rows)."""
    matrix = pairwise_distances(x, x)
    return matrix[np.triu_indices(len(x), k=1)]


def inter_set_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distances between every row of `x` and every row of `y`, flattened."""
    return pairwise_distances(x, y).reshape(-1)


def scott_bandwidth(samples: np.ndarray) -> float:
    """Scott's rule ``std · n^(-1/5)``; a small floor keeps a constant sample usable."""
    samples = np.asarray(samples, dtype=np.float64)
    spread = float(samples.std()) if samples.size > 1 else 0.0
    scale = max(abs(float(samples.mean())), 1.0) if samples.size else 1.0
    return max(spread * samples.size ** (-0.2), 1e-3 * scale)


def gaussian_kde(samples: np.ndarray, grid: np.ndarray, bandwidth: float | None = None) -> np.ndarray:
    """Gaussian kernel density of `samples` evaluated at `grid`; integrates to 1 over the real line.

    Returns zeros when `samples` is empty.
    """
    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    grid = np.asarray(grid, dtype=np.float64)
    if samples.size == 0:
        return np.zeros_like(grid)
    h = scott_bandwidth(samples) if bandwidth is None else bandwidth
    density = np.zeros_like(grid)
    for start in range(0, samples.size, 4096):  # chunks bound the (grid x chunk) temporary
        chunk = samples[start : start + 4096]
        z = (grid[:, None] - chunk[None, :]) / h
        density += np.exp(-0.5 * z * z).sum(1)
    return density / (samples.size * h * np.sqrt(2.0 * np.pi))


def _integrate(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoid rule (numpy's own is named differently across numpy 1 and 2)."""
    return float(((y[1:] + y[:-1]) * np.diff(x)).sum() / 2.0)


def _shared_densities(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both KDEs on one grid wide enough to hold three bandwidths past either sample."""
    ha, hb = scott_bandwidth(a), scott_bandwidth(b)
    low = min(a.min() - 3 * ha, b.min() - 3 * hb)
    high = max(a.max() + 3 * ha, b.max() + 3 * hb)
    grid = np.linspace(low, high, GRID_POINTS)
    return grid, gaussian_kde(a, grid, ha), gaussian_kde(b, grid, hb)


def overlapped_area(a: np.ndarray, b: np.ndarray) -> float:
    """Area under the minimum of the two samples' KDEs, in [0, 1]; nan if either is empty."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        return float("nan")
    grid, pa, pb = _shared_densities(a, b)
    return float(min(_integrate(np.minimum(pa, pb), grid), 1.0))


def kl_divergence(a: np.ndarray, b: np.ndarray) -> float:
    """KL(p_a ‖ p_b) of the two samples' KDEs, in nats, >= 0; nan if either is empty.

    Densities are floored at 1e-10 so a region `b` never reaches gives a large but
    finite value instead of infinity.
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        return float("nan")
    grid, pa, pb = _shared_densities(a, b)
    pa, pb = np.maximum(pa, _DENSITY_FLOOR), np.maximum(pb, _DENSITY_FLOOR)
    pa, pb = pa / _integrate(pa, grid), pb / _integrate(pb, grid)
    return float(max(_integrate(pa * np.log(pa / pb), grid), 0.0))


def _subsample(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if values.size <= MAX_DISTANCES:
        return values
    return rng.choice(values, size=MAX_DISTANCES, replace=False)


def compare_feature(
    reference: np.ndarray, candidate: np.ndarray, rng: np.random.Generator | None = None
) -> FeatureComparison:
    """Intra-set (reference pairs) against inter-set (candidate x reference) distances.

    Args:
        reference: (n, d) feature values of the real pieces (n >= 2).
        candidate: (m, d) feature values of the pieces under test (m >= 1).
        rng: draws the subsets when there are more than :data:`MAX_DISTANCES` distances.

    Returns:
        The comparison; every field is nan when a set is too small to give distances.
    """
    rng = rng or np.random.default_rng(0)
    intra = _subsample(intra_set_distances(reference), rng)
    inter = _subsample(inter_set_distances(candidate, reference), rng)
    if intra.size == 0 or inter.size == 0:
        nan = float("nan")
        return FeatureComparison(nan, nan, nan, nan)
    return FeatureComparison(
        overlapped_area=overlapped_area(intra, inter),
        kl_divergence=kl_divergence(intra, inter),
        intra_mean=float(intra.mean()),
        inter_mean=float(inter.mean()),
    )


def compare_feature_tables(
    reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], seed: int = 0
) -> dict[str, FeatureComparison]:
    """:func:`compare_feature` for every feature the two tables share, in reference order."""
    rng = np.random.default_rng(seed)
    return {name: compare_feature(reference[name], candidate[name], rng) for name in reference}
