"""Classifier two-sample test: can a small classifier tell generated pieces from real ones?

Each piece becomes a standardized vector of its features; a classifier is trained to
separate the two sets and scored on held-out folds (stratified k-fold cross-validation).
Balanced accuracy near 0.5 means the sets are indistinguishable *to this classifier on
these features*; near 1 means every piece gives itself away (Lopez-Paz & Oquab 2017,
"Revisiting classifier two-sample tests").

Three classifiers: L2-regularized logistic regression trained by full-batch gradient
descent (the default: low variance on a few hundred pieces, and its weights say which
features give the game away), k-nearest neighbours, and a random forest (scikit-learn;
nonlinear, insensitive to feature scale, and the test that found the user path's pieces
easy to tell from real ones where the logistic one did not: issue 10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSIFIERS = ("logistic", "knn", "forest")

FOREST_TREES = 100
"""Trees of the random forest: its vote is stable to a few hundredths at a second a test."""


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale both by the training rows' mean and standard deviation (constant columns: 1)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 500) -> np.ndarray:
    """Weights (d + 1,) minimizing mean log-loss + ``l2/2 · |w|²`` (bias not penalized).

    Full-batch gradient descent with step ``1/L`` (L bounds the loss curvature), so it
    converges without tuning a learning rate.
    """
    design = np.hstack([x, np.ones((len(x), 1))])  # (n, d+1)
    curvature = 0.25 * np.linalg.eigvalsh(design.T @ design / len(x)).max() + l2
    step = 1.0 / curvature
    w = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -30.0, 30.0)))
        w -= step * (design.T @ (p - y) / len(x) + penalty * w)
    return w


def predict_logistic(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """0/1 labels from :func:`fit_logistic` weights."""
    return (x @ w[:-1] + w[-1] > 0).astype(np.int64)


def predict_knn(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, k: int = 5) -> np.ndarray:
    """Majority label of the `k` nearest training rows (Euclidean); ties go to label 1."""
    k = min(k, len(x_train))
    squared = (x_test**2).sum(1)[:, None] + (x_train**2).sum(1)[None, :] - 2.0 * x_test @ x_train.T
    nearest = np.argpartition(squared, k - 1, axis=1)[:, :k]
    return (y_train[nearest].mean(axis=1) >= 0.5).astype(np.int64)


def predict_forest(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int = 0) -> np.ndarray:
    """0/1 labels from a random forest with classes weighted to balance (sets may differ in size)."""
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(
        n_estimators=FOREST_TREES, min_samples_leaf=2, class_weight="balanced", random_state=seed, n_jobs=1
    )
    forest.fit(x_train, y_train)
    return forest.predict(x_test).astype(np.int64)


def stratified_folds(y: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold index per row, each class dealt round-robin over the folds after shuffling."""
    assignment = np.empty(len(y), dtype=np.int64)
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        assignment[rows] = np.arange(rows.size) % folds
    return assignment


def paired_folds(pairs: int, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold per row of `[real; generated]` where real row i and generated row i share a fold."""
    half = np.empty(pairs, dtype=np.int64)
    half[rng.permutation(pairs)] = np.arange(pairs) % folds
    return np.concatenate([half, half])


@dataclass(frozen=True)
class TwoSampleResult:
    """A two-sample test's balanced accuracy with a rough 95% interval.

    Attributes:
        accuracy: mean of the two classes' held-out recall (0.5: indistinguishable).
        low, high: accuracy -/+ 1.96 standard errors, the recalls taken as independent
            binomial proportions (rough: the folds share training rows), clipped to [0, 1].
        n_real, n_generated: rows in each set.
    """

    accuracy: float
    low: float
    high: float
    n_real: int
    n_generated: int

    def to_json(self) -> dict[str, float | int]:
        return {
            "accuracy": self.accuracy,
            "low": self.low,
            "high": self.high,
            "n_real": self.n_real,
            "n_generated": self.n_generated,
        }


def two_sample_test(
    real: np.ndarray,
    generated: np.ndarray,
    folds: int = 5,
    classifier: str = "logistic",
    seed: int = 0,
    paired: bool = True,
    balance: bool = False,
    max_draws: int = 4,
) -> TwoSampleResult:
    """:func:`two_sample_accuracy` with its rough interval.

    Args:
        real, generated, folds, classifier, seed, paired: as :func:`two_sample_accuracy`.
        balance: when the sets differ in size, cut the larger into disjoint draws the size
            of the smaller and test each draw against the whole smaller set (at most
            `max_draws` draws; the recalls are pooled). A forest trained on 11 real tunes
            and 200 generated ones otherwise learns to say "generated" every time and
            scores a meaningless 0.5.
        max_draws: most balanced draws tested.

    Raises:
        ValueError: unknown classifier, or feature vectors of different lengths.
    """
    if classifier not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {classifier!r}: use one of {', '.join(CLASSIFIERS)}")
    real, generated = np.asarray(real, dtype=np.float64), np.asarray(generated, dtype=np.float64)
    n_real, n_generated = len(real), len(generated)
    if n_real < folds or n_generated < folds:
        nan = float("nan")
        return TwoSampleResult(nan, nan, nan, n_real, n_generated)
    if real.shape[1] != generated.shape[1]:
        raise ValueError(f"feature vectors differ in length: {real.shape[1]} and {generated.shape[1]}")
    rng = np.random.default_rng(seed)
    if not balance or n_real == n_generated:
        hits = _held_out_hits(real, generated, folds, classifier, seed, paired, rng)
        return _result(hits, (n_real, n_generated), (n_real, n_generated))
    small, large = (0, 1) if n_real < n_generated else (1, 0)
    sets = (real, generated)
    size = len(sets[small])
    order = rng.permutation(len(sets[large]))
    draws = [order[i : i + size] for i in range(0, len(order) - size + 1, size)][:max_draws]
    small_hits = large_hits = 0.0
    for draw in draws:
        pair = [sets[0], sets[1]]
        pair[large] = sets[large][draw]
        hits = _held_out_hits(pair[0], pair[1], folds, classifier, seed, False, rng)
        small_hits += hits[small] / len(draws)
        large_hits += hits[large]
    pooled = [0.0, 0.0]
    pooled[small], pooled[large] = small_hits, large_hits
    used = [0, 0]
    used[small], used[large] = size, size * len(draws)
    return _result((pooled[0], pooled[1]), (used[0], used[1]), (n_real, n_generated))


def _held_out_hits(
    real: np.ndarray,
    generated: np.ndarray,
    folds: int,
    classifier: str,
    seed: int,
    paired: bool,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Held-out rows of each set the classifier labels correctly (real, generated)."""
    x = np.vstack([real, generated])
    y = np.concatenate([np.zeros(len(real), np.int64), np.ones(len(generated), np.int64)])
    if paired and len(real) == len(generated):
        fold = paired_folds(len(real), folds, rng)
    else:
        fold = stratified_folds(y, folds, rng)
    predicted = np.empty_like(y)
    for k in range(folds):
        test = fold == k
        x_train, x_test = standardize(x[~test], x[test])
        if classifier == "logistic":
            predicted[test] = predict_logistic(fit_logistic(x_train, y[~test]), x_test)
        elif classifier == "knn":
            predicted[test] = predict_knn(x_train, y[~test], x_test)
        else:
            predicted[test] = predict_forest(x_train, y[~test], x_test, seed=seed + k)
    correct = predicted == y
    return float(correct[y == 0].sum()), float(correct[y == 1].sum())


def _result(hits: tuple[float, float], used: tuple[int, int], sizes: tuple[int, int]) -> TwoSampleResult:
    """Balanced accuracy of the pooled hits, with an Agresti-Coull interval on each recall.

    The +2/+4 shrinkage keeps the interval honest where a recall is 0 or 1 (a plain
    binomial interval would have zero width there).
    """
    recall = [h / n for h, n in zip(hits, used, strict=True)]
    accuracy = float(np.mean(recall))
    shrunk = [((h + 2) / (n + 4), n + 4) for h, n in zip(hits, used, strict=True)]
    se = 0.5 * float(np.sqrt(sum(p * (1 - p) / n for p, n in shrunk)))
    low, high = max(0.0, accuracy - 1.96 * se), min(1.0, accuracy + 1.96 * se)
    return TwoSampleResult(accuracy, low, high, sizes[0], sizes[1])


def two_sample_accuracy(
    real: np.ndarray,
    generated: np.ndarray,
    folds: int = 5,
    classifier: str = "logistic",
    seed: int = 0,
    paired: bool = True,
) -> float:
    """Cross-validated balanced accuracy of telling `generated` rows from `real` rows.

    Args:
        real: (n, d) feature vectors of real pieces.
        generated: (m, d) feature vectors of generated pieces.
        folds: number of cross-validation folds.
        classifier: 'logistic', 'knn' or 'forest'.
        seed: shuffles the folds (and seeds the forest).
        paired: when both sets have the same size, row i of each is a pair (a generated
            piece and the real piece whose conditions it was written under) and the
            two always land in the same fold, so a piece is never judged by a
            classifier that was trained on its twin. Two copies of one set then score
            exactly 0.5, where unpaired folds score below chance.

    Returns:
        Mean of the two classes' held-out recall: 0.5 for indistinguishable sets, 1.0
        for perfectly separable ones; nan when a set has fewer rows than `folds`.

    Raises:
        ValueError: unknown classifier, or feature vectors of different lengths.
    """
    return two_sample_test(real, generated, folds, classifier, seed, paired).accuracy
