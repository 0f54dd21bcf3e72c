"""Seam statistics: the join of regenerated bars to the kept ones, against real bar boundaries."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_score

from midigan.evaluate.seams import boundary_steps, measure_seams, seam_report, seam_steps, step_at

CORPUS = Path(__file__).resolve().parent.parent / "corpora"


def test_step_at_takes_the_last_note_before_and_the_first_after():
    score = make_score([(60, 0, 12, 90), (67, 24, 24, 90), (69, 48, 12, 90), (57, 60, 36, 90)])
    notes = score.tracks[0].notes
    assert step_at(notes, 48) == (2, 24)  # G held over half a bar, then A on the barline
    assert step_at(notes, 50) == (12, 12)
    assert step_at(notes, 0) is None and step_at(notes, 200) is None


def test_boundary_and_seam_steps():
    notes = make_score([(60, 0, 48, 90), (62, 48, 48, 90), (67, 96, 48, 90)]).tracks[0].notes
    assert boundary_steps([(notes, [0, 48, 96, 144])]) == [(2, 48), (5, 48)]
    assert seam_steps([(notes, 96), (notes, 0)]) == [(5, 48)]


def test_seam_report_is_zero_against_itself_and_one_when_disjoint():
    steps = [(0, 12), (2, 12), (9, 48)]
    same = seam_report(steps, steps)
    assert (same.interval_tv, same.gap_tv, same.count) == (0.0, 0.0, 3)
    assert same.leap_share == pytest.approx(1 / 3)
    apart = seam_report([(0, 6)], [(12, 96)])
    assert (apart.interval_tv, apart.gap_tv) == (1.0, 1.0)
    assert seam_report([], steps).count == 0


@pytest.mark.slow
@pytest.mark.skipif(not (CORPUS / "manifest.jsonl").exists(), reason="the built corpus is not here")
def test_look_ahead_seams_are_like_real_bar_boundaries():
    """Held loosely (24 tunes; EVALUATION.md has 120): choosing the best of 8 fillings by the
    kept suffix's likelihood brings the seam's intervals close to real bar boundaries, closer
    than a single sample does."""
    report = measure_seams(str(CORPUS), limit=24, candidates=(1, 8))
    real, best, single = report["real"], report["candidates=8"], report["candidates=1"]
    assert best["count"] == single["count"] == 24
    assert best["interval_tv"] < 0.2
    assert best["interval_tv"] < single["interval_tv"]
    assert abs(best["mean_interval"] - real["mean_interval"]) < 1.0
    assert best["leap_share"] <= 0.1
    assert best["gap_tv"] < 0.3
