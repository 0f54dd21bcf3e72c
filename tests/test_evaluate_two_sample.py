"""Classifier two-sample test: chance on one distribution, near 1 on separable sets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from midigan.evaluate.two_sample import (
    fit_logistic,
    predict_knn,
    predict_logistic,
    stratified_folds,
    two_sample_accuracy,
)


def test_logistic_regression_learns_a_separable_rule() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    w = fit_logistic(x, y, l2=1e-4, steps=2000)
    assert (predict_logistic(w, x) == y).mean() > 0.97
    assert w[0] > 0 and w[1] > 0 and w[0] > w[1]


def test_knn_predicts_the_nearest_label() -> None:
    x = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    y = np.array([0, 0, 0, 1, 1, 1])
    assert predict_knn(x, y, np.array([[0.05], [5.05]]), k=3).tolist() == [0, 1]


def test_folds_are_stratified() -> None:
    y = np.array([0] * 10 + [1] * 10)
    fold = stratified_folds(y, 5, np.random.default_rng(0))
    for k in range(5):
        assert (y[fold == k] == 0).sum() == 2 and (y[fold == k] == 1).sum() == 2


@pytest.mark.parametrize("classifier", ["logistic", "knn"])
def test_one_distribution_is_indistinguishable(classifier: str) -> None:
    rng = np.random.default_rng(1)
    real, generated = rng.normal(size=(300, 10)), rng.normal(size=(300, 10))
    assert two_sample_accuracy(real, generated, classifier=classifier) == pytest.approx(0.5, abs=0.08)


def test_the_same_set_twice_is_indistinguishable() -> None:
    real = np.random.default_rng(2).normal(size=(200, 8))
    assert two_sample_accuracy(real, real.copy()) == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize("classifier", ["logistic", "knn"])
def test_clearly_different_sets_are_told_apart(classifier: str) -> None:
    rng = np.random.default_rng(3)
    real, generated = rng.normal(0, 1, (200, 10)), rng.normal(2, 1, (200, 10))
    assert two_sample_accuracy(real, generated, classifier=classifier) > 0.95


def test_a_difference_in_one_feature_is_found() -> None:
    rng = np.random.default_rng(4)
    real, generated = rng.normal(size=(300, 20)), rng.normal(size=(300, 20))
    generated[:, 7] += 1.5  # one feature shifted by 1.5 sd: a linear rule gets ~77% right
    assert 0.7 < two_sample_accuracy(real, generated) < 0.85


def test_too_few_pieces_gives_nan_and_bad_input_raises() -> None:
    assert math.isnan(two_sample_accuracy(np.zeros((4, 2)), np.zeros((10, 2))))
    with pytest.raises(ValueError, match="classifier"):
        two_sample_accuracy(np.zeros((10, 2)), np.zeros((10, 2)), classifier="svm")
    with pytest.raises(ValueError, match="differ"):
        two_sample_accuracy(np.zeros((10, 2)), np.zeros((10, 3)))


def test_constant_features_do_not_break_standardization() -> None:
    real = np.hstack([np.ones((50, 1)), np.random.default_rng(5).normal(size=(50, 2))])
    assert np.isfinite(two_sample_accuracy(real, real[::-1].copy()))


def test_paired_folds_keep_twins_together() -> None:
    from midigan.evaluate.two_sample import paired_folds

    fold = paired_folds(12, 5, np.random.default_rng(0))
    assert fold[:12].tolist() == fold[12:].tolist()
    assert sorted(np.bincount(fold[:12]).tolist()) == [2, 2, 2, 3, 3]


def test_unpaired_folds_on_one_set_twice_fall_below_chance() -> None:
    real = np.random.default_rng(2).normal(size=(200, 8))
    assert two_sample_accuracy(real, real.copy(), paired=False) < 0.45  # why pairing is the default
