"""Evaluation on the path users take: pieces made exactly as `midigan compose` makes them.

The twin-conditioned rows of :mod:`~midigan.evaluate.runner` give every generated piece a
real test tune's own chords, a path no user takes. Here each *cell* (a style and one of
its common meters) gets `n` pieces from :func:`midigan.composer.compose` with
``bars=16, style=S, meter=M`` and every other option at its default, as
``midigan compose --bars 16 --style S --meter M -n N`` makes them: the key drawn from the
seed as compose draws it, the chords compose chooses when none are named (the model's
harmony where it has one, else the hand-written progressions), the model's tuned
temperature (or the one given). The seeds are the same for every model, so a GAN and its
MLE-only sibling are asked for the same keys and chords.

The real side of a cell is every tune of that style and meter in the chosen split
(`valid` to choose temperatures and recipes, `test` reported once) that has at least
`bars` bars in one meter, cut to its first `bars` bars: a 16-bar request is compared with
16-bar openings, never with 8-bar songs. The irish, fiddle and chorale cells hold only
10-45 such tunes per split, so the classifiers see balanced draws (the `n` generated
pieces cut into sets the size of the real one, stratified 5-fold cross-validation on
each), each accuracy carries its rough 95% interval
(:class:`~midigan.evaluate.two_sample.TwoSampleResult`), and a `ceiling` row (real
training tunes of the cell, at most `n`) shows what real music scores at that size.

Key invariance: every feature the classifiers see is unchanged by transposition (pitch
classes are counted from each piece's own tonic; ranges, intervals, entropies and
repetitions ignore the key), so drawing keys as compose does is fair; the major/minor mix
is part of what is measured (its share is reported).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from midigan.corpus.manifest import CorpusEntry
from midigan.errors import ConfigError
from midigan.evaluate.copying import CopyIndex
from midigan.evaluate.features import note_count, pitch_count
from midigan.evaluate.form import (
    distinct_bars,
    minor_mode,
    pattern_repetition,
    quarter_note_share,
    unique_bars,
)
from midigan.evaluate.runner import (
    _progress_factory,
    corpus_pieces,
    feature_vectors,
    model_checkpoints,
    read_tunes,
)
from midigan.evaluate.stats import pitch_class_entropy, repetitions, tone_span
from midigan.evaluate.two_sample import two_sample_test
from midigan.evaluate.user_path_report import UserPathReport
from midigan.evaluate.vocabulary import duration_shares, vocabulary_distances
from midigan.representations.tune import COPY_RUN, Tune

log = logging.getLogger(__name__)

CELLS: tuple[tuple[str, str], ...] = (
    ("folk", "4/4"),
    ("folk", "2/4"),
    ("folk", "3/4"),
    ("folk", "6/8"),
    ("irish", "6/8"),
    ("irish", "2/2"),
    ("irish", "4/4"),
    ("fiddle", "2/4"),
    ("fiddle", "2/2"),
    ("chorale", "4/4"),
)
"""Style and meter cells: the meters each collection holds most tunes of 16+ bars in."""

CLASSIFIERS = ("forest", "logistic")
"""Two-sample classifiers reported per row: nonlinear first (the harder judge), then linear."""

SET_STATISTICS: dict[str, Callable[[Tune], float]] = {
    "pattern_repetition_3": pattern_repetition,
    "pitch_repetition_3": lambda t: repetitions(t, 3),
    "distinct_bars": distinct_bars,
    "unique_bars": unique_bars,
    "pitch_span": tone_span,
    "pitch_class_entropy": pitch_class_entropy,
    "notes": note_count,
    "distinct_pitches": pitch_count,
    "quarter_share": quarter_note_share,
    "minor_share": minor_mode,
}
"""Per-piece statistics whose set means are matched against the real tunes' (targets, not scores)."""

_SEED_STRIDE = 10_000  # cell k composes with seeds seed + k*stride + i: no two cells share a piece seed


@dataclass(frozen=True)
class UserPathSettings:
    """What the user-path evaluation was asked to do (stored in its report).

    Attributes:
        corpus: folder with manifest.jsonl (or a plain MIDI folder, split by `shares`).
        model: a checkpoint or training run folder; None = the shipped model. Its MLE-only
            sibling gets rows too when present (:func:`~midigan.evaluate.runner.model_checkpoints`).
        n: pieces composed per cell and model.
        bars: bars asked of compose; real tunes are cut to (and need at least) this many.
        split: 'valid' or 'test': whose real tunes each cell is compared with.
        seed: first piece seed (compose gives piece i seed + i); also seeds the classifiers.
        temperature: None = each model's tuned default, as compose without --temperature.
        device: 'auto' (compose's own choice), 'cpu' or 'cuda'.
        cells: (style, meter) pairs to evaluate.
        min_real: a cell with fewer real tunes is reported as skipped.
        ceiling: add a row of real training tunes per cell.
        shares: split shares for a plain folder (``train=0.8,valid=0.1,test=0.1``).
        copy_run: (interval, duration) pairs that make a copy.
    """

    corpus: Path = Path("corpora")
    model: Path | None = None
    n: int = 200
    bars: int = 16
    split: str = "valid"
    seed: int = 0
    temperature: float | None = None
    device: str = "auto"
    cells: tuple[tuple[str, str], ...] = CELLS
    min_real: int = 8
    ceiling: bool = True
    shares: str | None = None
    copy_run: int = COPY_RUN

    def validate(self) -> None:
        """Raises: ConfigError naming the value out of range."""
        if self.split not in ("valid", "test"):
            raise ConfigError(f"--split must be valid or test for the user path, got {self.split!r}")
        if self.n < 5:
            raise ConfigError(f"--n must be at least 5 (the two-sample test uses 5 folds), got {self.n}")
        if self.bars < 1:
            raise ConfigError(f"--bars must be at least 1, got {self.bars}")
        if self.min_real < 5:
            raise ConfigError(f"min_real must be at least 5 (5 folds), got {self.min_real}")
        if not self.cells:
            raise ConfigError("no cells to evaluate")


def parse_cells(text: str) -> tuple[tuple[str, str], ...]:
    """'folk:4/4,irish:6/8' -> (('folk', '4/4'), ('irish', '6/8')).

    Raises:
        ConfigError: a part without 'style:meter'.
    """
    cells = []
    for part in text.split(","):
        style, sep, meter = part.strip().partition(":")
        if not sep or not style or "/" not in meter:
            raise ConfigError(f"--cells: write each cell as style:meter, e.g. folk:4/4 (got {part!r})")
        cells.append((style.strip(), meter.strip()))
    return tuple(cells)


# --------------------------------------------------------------------- real side
def fits_cell(tune: Tune, meter: str, bars: int) -> bool:
    """True when the tune is in `meter` from its first bar for at least `bars` bars."""
    if f"{tune.meter[0]}/{tune.meter[1]}" != meter or tune.bar_count < bars:
        return False
    lengths = np.diff(tune.bar_starts[: bars + 1])
    return bool((lengths == lengths[0]).all())


def cell_tunes(loaded: Sequence[tuple[CorpusEntry, Tune]], style: str, meter: str, bars: int) -> list[Tune]:
    """The first `bars` bars of every loaded tune of `style` that fits the cell, in manifest order."""
    return [t.crop(bars) for e, t in loaded if e.style == style and fits_cell(t, meter, bars)]


# ---------------------------------------------------------------- generated side
def compose_cell(
    checkpoint: Path | None, style: str, meter: str, settings: UserPathSettings, seed: int
) -> list[Tune]:
    """`n` melodies exactly as ``midigan compose --bars B --style S --meter M -n N --seed SEED`` writes them.

    Accompaniment is left off: it is added after the melody is sampled and never changes
    it (tests check), and the metrics read the melody only.
    """
    from midigan.composer import compose

    pieces = compose(
        bars=settings.bars,
        meter=meter,
        style=style,
        seed=seed,
        temperature=settings.temperature,
        n=settings.n,
        model=checkpoint,
        accompaniment=False,
        device=None if settings.device == "auto" else settings.device,
    )
    pieces = [pieces] if not isinstance(pieces, list) else pieces
    return [Tune.from_score(p.score) for p in pieces]


# -------------------------------------------------------------------- comparison
def set_statistics(tunes: list[Tune]) -> dict[str, float]:
    """The nan-ignoring mean of each :data:`SET_STATISTICS` over a set (nan when none defined)."""
    out = {}
    for name, statistic in SET_STATISTICS.items():
        values = np.array([statistic(t) for t in tunes], dtype=np.float64)
        out[name] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return out


@dataclass
class _Reference:
    """A cell's real tunes, their classifier vectors and statistics, and the note-length shares
    of the style's collection (its training tunes of the cell) for the off-vocabulary share."""

    tunes: list[Tune]
    vectors: np.ndarray
    statistics: dict[str, float] = field(default_factory=dict)
    collection: dict[int, float] | None = None


def compare_set(
    reference: _Reference, tunes: list[Tune], index: CopyIndex, seed: int, seconds: float = 0.0
) -> dict:
    """One row: both classifiers' two-sample results, the set statistics and the copied rate."""
    vectors = feature_vectors(tunes)
    tests = {
        name: two_sample_test(
            reference.vectors, vectors, classifier=name, seed=seed, paired=False, balance=True
        ).to_json()
        for name in CLASSIFIERS
    }
    statistics = set_statistics(tunes)
    copied = float(np.mean([index.is_copied(t) for t in tunes])) if tunes else float("nan")
    vocabulary = vocabulary_distances(reference.tunes, tunes, reference.collection)
    return {"pieces": len(tunes), "two_sample": tests, "statistics": statistics,
            "vocabulary": vocabulary, "copied_rate": copied, "seconds": seconds}  # fmt: skip


# ---------------------------------------------------------------------- evaluate
def evaluate_user_path(
    settings: UserPathSettings, out_dir: Path | None = None, progress: bool = False
) -> UserPathReport:
    """Compose every cell with each model and compare with the cell's real tunes (module docstring).

    Writes ``user_path.json`` and ``user_path.md`` (atomically) into `out_dir` when given.

    Raises:
        ConfigError: bad settings, or a corpus without training or reference tunes.
        CheckpointError: a model cannot be loaded.
    """
    settings.validate()
    bar = _progress_factory(progress)
    entries = corpus_pieces(settings.corpus, settings.shares)
    styles = {style for style, _ in settings.cells}
    chosen = [e for e in entries if e.split == settings.split and e.style in styles]
    train = [e for e in entries if e.split == "train"]
    if not chosen or not train:
        raise ConfigError(
            f"{settings.corpus}: need {settings.split} and train pieces of the styles asked "
            f"(found {len(chosen)} and {len(train)})"
        )
    real = read_tunes(chosen, None, bar(f"reading {settings.split} pieces"))
    training = read_tunes(train, None, bar("reading training pieces"))
    index = CopyIndex([t for _, t in training], settings.copy_run)
    checkpoints = model_checkpoints(settings.model)
    rng = np.random.default_rng(settings.seed)
    cells = []
    for k, (style, meter) in enumerate(bar("cells")(list(settings.cells))):
        tunes = cell_tunes(real, style, meter, settings.bars)
        cell: dict = {"style": style, "meter": meter, "n_real": len(tunes), "rows": {}}
        cells.append(cell)
        if len(tunes) < settings.min_real:
            cell["skipped"] = f"{len(tunes)} real tunes of {settings.bars}+ bars (need {settings.min_real})"
            continue
        pool = cell_tunes(training, style, meter, settings.bars)
        collection = duration_shares(pool) or None
        reference = _Reference(tunes, feature_vectors(tunes), set_statistics(tunes), collection)
        cell["real"] = {"statistics": reference.statistics,
                        "vocabulary": vocabulary_distances(tunes, tunes, collection),
                        "copied_rate": float(np.mean([index.is_copied(t) for t in tunes]))}  # fmt: skip
        seed = settings.seed + k * _SEED_STRIDE
        for name, checkpoint in checkpoints:
            started = time.perf_counter()
            made = compose_cell(checkpoint, style, meter, settings, seed)
            cell["rows"][name] = compare_set(
                reference, made, index, settings.seed, time.perf_counter() - started
            )
            cell["rows"][name].update(
                model=str(checkpoint or "shipped model"), temperature=_temperature(checkpoint, settings)
            )
        if settings.ceiling:
            picked = [pool[i] for i in rng.permutation(len(pool))[: settings.n]]
            if len(picked) >= settings.min_real:
                cell["rows"]["ceiling"] = compare_set(reference, picked, index, settings.seed)
                cell["rows"]["ceiling"].update(
                    model="real training-split tunes", copied_rate=float("nan")
                )  # a training tune holds its own runs: the real row's copied rate is the baseline
    report = UserPathReport(cells, _settings_json(settings))
    if out_dir is not None:
        report.save(out_dir)
    return report


def _temperature(checkpoint: Path | None, settings: UserPathSettings) -> float:
    """The temperature compose sampled at: the one asked for, else the model's tuned default."""
    if settings.temperature is not None:
        return settings.temperature
    from midigan.composer import load_model

    return float(load_model(checkpoint).temperature)


def _settings_json(settings: UserPathSettings) -> dict:
    return {
        "corpus": str(settings.corpus),
        "model": str(settings.model) if settings.model else None,
        "n": settings.n,
        "bars": settings.bars,
        "split": settings.split,
        "seed": settings.seed,
        "temperature": settings.temperature,
        "device": settings.device,
        "cells": [f"{s}:{m}" for s, m in settings.cells],
        "min_real": settings.min_real,
        "classifiers": list(CLASSIFIERS),
        "real_side": f"tunes of the cell's style and meter in the {settings.split} split with at least "
        f"{settings.bars} bars in one meter, cut to their first {settings.bars} bars",
        "compose": f"midigan.compose(bars={settings.bars}, style=S, meter=M, n={settings.n}, "
        "seed=SEED, temperature=T) with every other option at its default",
    }
