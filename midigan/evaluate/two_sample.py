"""Classifier two-sample test: can a small classifier tell generated pieces from real ones?

Each piece becomes a standardized vector of its features; a classifier is trained to
separate the two sets and scored on held-out folds (stratified k-fold cross-validation).
Balanced accuracy near 0.5 means the sets are indistinguishable *to this classifier on
these features*; near 1 means every piece gives itself away (Lopez-Paz & Oquab 2017,
"Revisiting classifier two-sample tests").

Two classifiers, both plain numpy: L2-regularized logistic regression trained by full-batch
gradient descent (the default: low variance on a few hundred pieces, and its weights say
which features give the game away) and k-nearest neighbours (catches differences that no
single direction in feature space separates).
"""

from __future__ import annotations

import numpy as np

CLASSIFIERS = ("logistic", "knn")


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
        classifier: 'logistic' or 'knn'.
        seed: shuffles the folds.
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
    if classifier not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {classifier!r}: use one of {', '.join(CLASSIFIERS)}")
    real, generated = np.asarray(real, dtype=np.float64), np.asarray(generated, dtype=np.float64)
    if len(real) < folds or len(generated) < folds:
        return float("nan")
    if real.shape[1] != generated.shape[1]:
        raise ValueError(f"feature vectors differ in length: {real.shape[1]} and {generated.shape[1]}")
    x = np.vstack([real, generated])
    y = np.concatenate([np.zeros(len(real), np.int64), np.ones(len(generated), np.int64)])
    rng = np.random.default_rng(seed)
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
        else:
            predicted[test] = predict_knn(x_train, y[~test], x_test)
    recall = [float((predicted[y == label] == label).mean()) for label in (0, 1)]
    return float(np.mean(recall))
