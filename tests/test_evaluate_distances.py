"""Set comparison: Gaussian KDE, overlapped area and KL divergence of distance distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from midigan.evaluate.distances import (
    compare_feature,
    compare_feature_tables,
    gaussian_kde,
    inter_set_distances,
    intra_set_distances,
    kl_divergence,
    overlapped_area,
    pairwise_distances,
    scott_bandwidth,
)


def test_pairwise_distances_scalars_and_vectors() -> None:
    np.testing.assert_allclose(
        pairwise_distances(np.array([[0.0], [3.0]]), np.array([[1.0]])), [[1.0], [2.0]]
    )
    np.testing.assert_allclose(pairwise_distances(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])), [[5.0]])


def test_intra_and_inter_set_distances() -> None:
    x = np.array([[0.0], [1.0], [3.0]])
    assert sorted(intra_set_distances(x).tolist()) == [1.0, 2.0, 3.0]
    assert sorted(inter_set_distances(np.array([[1.0]]), x).tolist()) == [0.0, 1.0, 2.0]
    assert intra_set_distances(x[:1]).size == 0


def test_kde_matches_the_normal_density_and_integrates_to_one() -> None:
    grid = np.linspace(-8, 8, 2001)
    density = gaussian_kde(np.array([0.0]), grid, bandwidth=1.0)
    assert density[1000] == pytest.approx(1 / math.sqrt(2 * math.pi))
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-6)
    assert not gaussian_kde(np.array([]), grid).any()


def test_scott_bandwidth() -> None:
    samples = np.random.default_rng(0).normal(size=1000)
    assert scott_bandwidth(samples) == pytest.approx(samples.std() * 1000 ** (-0.2))
    assert scott_bandwidth(np.full(10, 5.0)) > 0  # constant samples stay usable


def test_overlap_of_one_sample_with_itself_is_one() -> None:
    a = np.random.default_rng(1).normal(size=500)
    assert overlapped_area(a, a) == pytest.approx(1.0, abs=1e-3)
    assert kl_divergence(a, a) == pytest.approx(0.0, abs=1e-6)


def test_far_apart_samples_barely_overlap() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 400), rng.normal(10, 1, 400)
    assert overlapped_area(a, b) < 0.01
    assert kl_divergence(a, b) > 5.0


def test_half_shifted_normals_overlap_as_theory_says() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 4000), rng.normal(1, 1, 4000)
    # two unit normals one sd apart overlap by 2 Φ(-1/2) ≈ 0.617 and have KL 0.5
    assert overlapped_area(a, b) == pytest.approx(0.617, abs=0.04)
    assert kl_divergence(a, b) == pytest.approx(0.5, abs=0.1)


def test_empty_samples_give_nan() -> None:
    assert math.isnan(overlapped_area(np.array([]), np.array([1.0])))
    assert math.isnan(kl_divergence(np.array([1.0]), np.array([])))


def test_identical_sets_overlap_nearly_fully() -> None:
    values = np.random.default_rng(4).normal(size=(200, 1))
    comparison = compare_feature(values, values)
    assert comparison.overlapped_area > 0.95
    assert comparison.kl_divergence < 0.05


def test_same_distribution_overlaps_much_more_than_a_different_one() -> None:
    rng = np.random.default_rng(5)
    reference = rng.normal(0, 1, (200, 3))
    same = compare_feature(reference, rng.normal(0, 1, (200, 3)))
    shifted = compare_feature(reference, rng.normal(3, 1, (200, 3)))
    assert same.overlapped_area > 0.85
    assert shifted.overlapped_area < 0.3
    assert shifted.inter_mean > same.inter_mean


def test_a_single_reference_piece_gives_nan() -> None:
    assert math.isnan(compare_feature(np.zeros((1, 1)), np.zeros((3, 1))).overlapped_area)


def test_compare_feature_tables_by_name() -> None:
    rng = np.random.default_rng(6)
    table = {"a": rng.normal(size=(50, 1)), "b": rng.normal(size=(50, 12))}
    result = compare_feature_tables(table, table)
    assert list(result) == ["a", "b"]
    assert all(c.overlapped_area > 0.9 for c in result.values())
