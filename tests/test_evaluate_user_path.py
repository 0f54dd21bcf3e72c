"""The user-path evaluation (issue 10, point 4): form statistics, the forest test, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_score

from midigan.cli import main
from midigan.errors import ConfigError
from midigan.evaluate.form import distinct_bars, pattern_repetition, quarter_note_share, unique_bars
from midigan.evaluate.runner import feature_vectors
from midigan.evaluate.stats import repetitions
from midigan.evaluate.two_sample import two_sample_test
from midigan.evaluate.user_path import cell_tunes, fits_cell, parse_cells
from midigan.representations.tune import Tune

Q = 12  # ticks per quarter (TPQ)
BAR = 4 * Q
MAJOR = (0, 2, 4, 5, 7, 9, 11)


def tune_of(bars: list[list[tuple[int, int, int]]], meter: tuple[int, int] = (4, 4)) -> Tune:
    """A Tune from bars of `(pitch, onset in bar, duration)`."""
    bar = Q * 4 * meter[0] // meter[1]
    notes = [(p, i * bar + o, d, 80) for i, notes in enumerate(bars) for p, o, d in notes]
    return Tune.from_score(make_score(notes, meter=meter, end_tick=len(bars) * bar))


A = [(60, 0, Q), (62, Q, Q), (64, 2 * Q, 2 * Q)]
B = [(67, 0, 2 * Q), (65, 2 * Q, 2 * Q)]
C = [(60, 0, 4 * Q)]
A_UP = [(p + 2, o, d) for p, o, d in A]  # A a step higher
A_SWUNG = [(60, 0, 18), (62, 18, 6), (64, 2 * Q, 2 * Q)]  # A's pitches in another rhythm


# ------------------------------------------------------------------ distinct bars
@pytest.mark.parametrize(
    ("bars", "distinct", "unique"),
    [
        ([A, A, A, A], 1, 0),
        ([A, B, A, B], 2, 0),
        ([A, B, A, C], 3, 2),
        ([A, B, C, A_UP], 4, 4),  # a transposed bar is another bar
        ([A, A_SWUNG], 2, 2),  # so is the same pitches in another rhythm
        ([A, [], A, []], 2, 0),  # empty bars are one content too
    ],
)
def test_distinct_and_unique_bars_count_exactly(bars: list, distinct: int, unique: int) -> None:
    tune = tune_of(bars)
    assert distinct_bars(tune) == distinct
    assert unique_bars(tune) == unique


def test_a_note_belongs_to_the_bar_it_starts_in() -> None:
    held = tune_of([[(60, 0, 6 * Q)], [(62, 2 * Q, 2 * Q)], [(62, 2 * Q, 2 * Q)]])
    assert distinct_bars(held) == 2  # bars 2 and 3 are the same: a rest then D


# ---------------------------------------------------------------- pattern repetition
def test_pattern_repetition_counts_interval_and_duration_figures() -> None:
    # C D E C D E in quarters: intervals 2 2 -4 2 2, four 3-note figures, one repeats
    same = tune_of([[(60, 0, Q), (62, Q, Q), (64, 2 * Q, Q), (60, 3 * Q, Q)], [(62, 0, Q), (64, Q, Q)]])
    assert pattern_repetition(same) == pytest.approx(1 / 4)
    # C D E F G A: the figure moved up a fourth still repeats (pitch repetitions see none)
    moved = tune_of([[(60, 0, Q), (62, Q, Q), (64, 2 * Q, Q), (65, 3 * Q, Q)], [(67, 0, Q), (69, Q, Q)]])
    assert pattern_repetition(moved) == pytest.approx(1 / 4)
    assert repetitions(moved, 3) == 0.0
    # the same pitches as `same` with the repeat in another rhythm: nothing repeats
    other = tune_of([[(60, 0, Q), (62, Q, Q), (64, 2 * Q, Q), (60, 3 * Q, Q)], [(62, 0, 6), (64, 6, Q)]])
    assert pattern_repetition(other) == 0.0


def test_pattern_repetition_of_a_loop_and_of_too_few_notes() -> None:
    loop = tune_of([A] * 8)  # 24 notes, 22 figures, 3 distinct (within A, A->A twice)
    assert pattern_repetition(loop) == pytest.approx(19 / 22)
    assert np.isnan(pattern_repetition(tune_of([[(60, 0, Q), (62, Q, Q)]])))


def test_quarter_share() -> None:
    assert quarter_note_share(tune_of([A, B])) == pytest.approx(2 / 5)  # two quarters, three halves
    assert np.isnan(quarter_note_share(tune_of([[]])))


# --------------------------------------------------------------------- cells
def test_fits_cell_needs_the_meter_and_the_length() -> None:
    assert fits_cell(tune_of([A] * 16), "4/4", 16)
    assert not fits_cell(tune_of([A] * 12), "4/4", 16)  # too short for a 16-bar request
    assert not fits_cell(tune_of([[(60, 0, Q)]] * 16, meter=(6, 8)), "4/4", 16)
    assert fits_cell(tune_of([[(60, 0, Q)]] * 16, meter=(6, 8)), "6/8", 16)


def test_parse_cells() -> None:
    assert parse_cells("folk:4/4, irish:6/8") == (("folk", "4/4"), ("irish", "6/8"))
    with pytest.raises(ConfigError, match="style:meter"):
        parse_cells("folk-4/4")


# -------------------------------------------------------------- forest two-sample
def stepwise(rng: np.random.Generator, bars: int = 8) -> Tune:
    """A random stepwise C-major tune in eighths, quarters and halves: 'real' for these tests."""
    notes, tick, degree = [], 0, 7
    while tick < bars * BAR:
        length = int(min(rng.choice([6, 12, 12, 24]), bars * BAR - tick))
        degree = int(np.clip(degree + rng.choice([-2, -1, 1, 2]), 0, 14))
        notes.append((60 + 12 * (degree // 7) + MAJOR[degree % 7], tick, length, 80))
        tick += length
    return Tune.from_score(make_score(notes, end_tick=bars * BAR))


@pytest.fixture(scope="module")
def real_vectors() -> np.ndarray:
    rng = np.random.default_rng(0)
    return feature_vectors([stepwise(rng) for _ in range(240)])


def test_forest_scores_chance_on_two_halves_of_one_set(real_vectors: np.ndarray) -> None:
    result = two_sample_test(
        real_vectors[:120], real_vectors[120:], classifier="forest", paired=False, balance=True
    )
    assert 0.38 <= result.accuracy <= 0.62
    assert result.low <= 0.5 <= result.high
    assert (result.n_real, result.n_generated) == (120, 120)


def test_forest_tells_real_from_plain_pieces(real_vectors: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    plain = [tune_of([[(int(rng.choice([60, 67])), 0, 4 * Q)]] * 8) for _ in range(60)]  # whole notes
    result = two_sample_test(
        real_vectors[:60], feature_vectors(plain), classifier="forest", paired=False, balance=True
    )
    assert result.accuracy > 0.9


def test_balanced_forest_finds_a_difference_with_ten_real_pieces(real_vectors: np.ndarray) -> None:
    """10 real against 200 plain pieces: unbalanced, a forest calls everything generated."""
    rng = np.random.default_rng(2)
    plain = feature_vectors([tune_of([[(int(rng.choice([60, 67])), 0, 4 * Q)]] * 8) for _ in range(200)])
    unbalanced = two_sample_test(real_vectors[:10], plain, classifier="forest", paired=False)
    balanced = two_sample_test(real_vectors[:10], plain, classifier="forest", paired=False, balance=True)
    assert balanced.accuracy > 0.9 and balanced.accuracy >= unbalanced.accuracy
    assert balanced.low < balanced.accuracy < balanced.high or balanced.high == 1.0


def test_forest_handles_unequal_sets(real_vectors: np.ndarray) -> None:
    """30 real against 200 generated (a small irish cell): balanced, so chance stays near 0.5."""
    result = two_sample_test(
        real_vectors[:30], real_vectors[30:230], classifier="forest", paired=False, balance=True
    )
    assert 0.3 <= result.accuracy <= 0.7
    assert result.high - result.low > 0.1  # 30 pieces cannot give a tight interval


# ------------------------------------------------------------------------ CLI
def _corpus(folder: Path) -> Path:
    """folk 4/4 and irish 6/8 tunes of 16 bars (every sixth in valid), one manifest."""
    from model_helpers import write_corpus

    rows = []
    for style, meter, seed in (("folk", (4, 4), 0), ("irish", (6, 8), 1)):
        sub = write_corpus(folder / style, pieces=36, bars=16, seed=seed, manifest=True, meter=meter)
        for line in (sub / "manifest.jsonl").read_text().splitlines():
            row = json.loads(line)
            row.update(id=f"{style}-{row['id']}", path=f"{style}/{row['path']}", style=style)
            rows.append(json.dumps(row))
    (folder / "manifest.jsonl").write_text("\n".join(rows) + "\n")
    return folder


def test_cli_user_path_writes_every_cell(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from model_helpers import write_tiny_checkpoint

    corpus = _corpus(tmp_path / "corpus")
    write_tiny_checkpoint(tmp_path / "model", seed=1)
    write_tiny_checkpoint(tmp_path / "model" / "mle", seed=0)
    out = tmp_path / "eval"
    args = ["evaluate", "--user-path", "--model", str(tmp_path / "model"), "--corpus", str(corpus),
            "--n", "12", "--split", "valid", "--cells", "folk:4/4,irish:6/8,fiddle:2/4",
            "--min-real", "5", "--device", "cpu", "--temperature", "0.9", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "folk 4/4" in result.output and "skipped" in result.output
    saved = json.loads((out / "user_path.json").read_text())
    assert [(c["style"], c["meter"]) for c in saved["cells"]] == [
        ("folk", "4/4"), ("irish", "6/8"), ("fiddle", "2/4")
    ]  # fmt: skip
    folk, irish, fiddle = saved["cells"]
    assert folk["n_real"] == irish["n_real"] == 6 and fiddle["n_real"] == 0 and "skipped" in fiddle
    for cell in (folk, irish):
        assert set(cell["rows"]) == {"mle", "gan", "ceiling"}
        for name in ("mle", "gan"):
            row = cell["rows"][name]
            assert row["pieces"] == 12
            for test in row["two_sample"].values():
                assert 0.0 <= test["accuracy"] <= 1.0 and (test["n_real"], test["n_generated"]) == (6, 12)
            assert 0.0 <= row["statistics"]["pattern_repetition_3"] <= 1.0
            assert 1 <= row["statistics"]["distinct_bars"] <= 16
            assert set(row["vocabulary"]) == {"duration_tv", "pitch_class_tv", "off_vocabulary"}
            assert all(0.0 <= v <= 1.0 for v in row["vocabulary"].values())
        assert (
            cell["real"]["vocabulary"]["duration_tv"] == cell["real"]["vocabulary"]["pitch_class_tv"] == 0.0
        )
        assert cell["real"]["statistics"]["distinct_bars"] > 8  # random tunes hardly repeat a bar
        assert set(cell["targets"]) >= {"forest_ok", "gaps_ok", "copied_ok", "gan_ahead_of_mle"}
    assert saved["settings"]["split"] == "valid" and saved["settings"]["temperature"] == 0.9
    assert (out / "user_path.md").read_text().count("RF acc") == 2
    assert (out / "user_path.md").read_text().count("durTV") == 2


def test_user_path_pieces_are_the_melodies_compose_makes(tmp_path: Path) -> None:
    """The evaluation composes without accompaniment: the melody is the same with it."""
    pytest.importorskip("torch")
    from model_helpers import write_tiny_checkpoint

    import midigan
    from midigan.evaluate.user_path import UserPathSettings, compose_cell

    model = write_tiny_checkpoint(tmp_path / "model")
    settings = UserPathSettings(n=3, bars=4, device="cpu", temperature=1.0)
    tunes = compose_cell(model, "irish", "6/8", settings, seed=5)
    pieces = midigan.compose(bars=4, style="irish", meter="6/8", n=3, seed=5, temperature=1.0, model=model)
    for tune, piece in zip(tunes, pieces, strict=True):
        melody = [(n.pitch, n.onset, n.duration) for n in piece.melody.notes]
        assert melody == list(
            zip(tune.pitch.tolist(), tune.onset.tolist(), tune.duration.tolist(), strict=True)
        )
        assert tune.meter == (6, 8) and tune.bar_count == 4


def test_user_path_needs_a_model(tmp_path: Path) -> None:
    args = ["evaluate", "--user-path", "--no-model", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and "--no-model" in result.output


def test_cell_tunes_take_the_style_and_cut_to_length() -> None:
    class Entry:
        def __init__(self, style: str) -> None:
            self.style = style

    long_folk, long_irish = tune_of([A, B] * 10), tune_of([A, B] * 10)
    loaded = [(Entry("folk"), long_folk), (Entry("irish"), long_irish), (Entry("folk"), tune_of([A] * 4))]
    picked = cell_tunes(loaded, "folk", "4/4", 16)  # type: ignore[arg-type]
    assert len(picked) == 1 and picked[0].bar_count == 16


# ------------------------------------------------------------------ vocabulary (point 3)
def test_vocabulary_distances_compare_pooled_note_lengths_and_degrees() -> None:
    from midigan.evaluate.vocabulary import RARE_SHARE, total_variation, vocabulary_distances

    quarters = [tune_of([[(60 + 2 * i, i * Q, Q) for i in range(4)]] * 2)]  # C D E F#... in quarters
    eighths = [tune_of([[(60 + 2 * (i % 4), i * Q // 2, Q // 2) for i in range(8)]] * 2)]
    same = vocabulary_distances(quarters, quarters)
    assert same == {"duration_tv": 0.0, "pitch_class_tv": 0.0, "off_vocabulary": 0.0}
    apart = vocabulary_distances(quarters, eighths)
    assert apart["duration_tv"] == 1.0  # no note length in common
    assert apart["pitch_class_tv"] == pytest.approx(0.0)  # the same four degrees, equally often
    assert apart["off_vocabulary"] == 1.0  # eighths: outside a collection of quarters
    # A collection that knows eighths (rarely, but above the rare share) admits them.
    assert vocabulary_distances(quarters, eighths, {Q: 0.99, Q // 2: 2 * RARE_SHARE})["off_vocabulary"] == 0.0
    assert total_variation({1: 0.5, 2: 0.5}, {2: 0.5, 3: 0.5}) == pytest.approx(0.5)


def test_vocabulary_degrees_count_from_each_tunes_tonic() -> None:
    """The same tune a fifth higher, in its own key, has the same scale degrees."""
    from midigan.evaluate.vocabulary import degree_shares, vocabulary_distances

    notes = [(60, 0, Q, 80), (64, Q, Q, 80), (67, 2 * Q, 2 * Q, 80)]
    tune = Tune.from_score(make_score(notes, end_tick=BAR))
    moved = Tune.from_score(
        make_score([(p + 7, o, d, v) for p, o, d, v in notes], end_tick=BAR, key=(7, "major"))
    )
    assert (tune.tonic, moved.tonic) == (0, 7)
    np.testing.assert_allclose(degree_shares([moved]), degree_shares([tune]))
    np.testing.assert_allclose(degree_shares([tune])[[0, 4, 7]], [1 / 3] * 3)  # notes counted, not lengths
    assert vocabulary_distances([tune], [moved])["pitch_class_tv"] == pytest.approx(0.0)
