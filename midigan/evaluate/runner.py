"""`midigan evaluate`: a model's pieces and the baselines against the held-out test split.

The protocol, in order:

1. The *reference* is `n` pieces drawn (seeded) from the corpus's test split, each cut to
   its first `bars` bars. Their meter, key, chord labels, style and length become the
   :class:`~midigan.representations.conditions.Conditions` every generator is asked for, so each
   generated piece has a real twin written under the same conditions.
2. *Candidates*, one report row each: `ceiling` (n training-split pieces: real music
   the reference was not drawn from — the best any generator can hope for), `markov`
   (an n-gram model fitted on the training split), `mle` and `gan` (the model's
   checkpoints, sampled on CPU or CUDA).
3. Every row is compared with the reference (:mod:`~midigan.evaluate.distances`,
   :mod:`~midigan.evaluate.two_sample`, :mod:`~midigan.evaluate.stats`) and checked for
   runs copied from the training split (:mod:`~midigan.evaluate.copying`). A
   training piece trivially contains its own runs, so the ceiling's copied rate is that
   of the reference pieces: how often real unseen tunes share a run with the training set.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from itertools import pairwise
from pathlib import Path

import numpy as np

from midigan.corpus.manifest import MANIFEST_NAME, CorpusEntry, corpus_entries, manifest_entries
from midigan.errors import ConfigError, MidiganError
from midigan.evaluate.copying import CopyIndex, copied_rate
from midigan.evaluate.distances import compare_feature_tables
from midigan.evaluate.features import FEATURES, SCALAR_FEATURES, feature_table
from midigan.evaluate.markov import fit_markov
from midigan.evaluate.report import EvaluationReport, RowResult, plot_report
from midigan.evaluate.stats import statistics_table, summarize
from midigan.evaluate.two_sample import two_sample_accuracy
from midigan.music.score import TPQ, ChordLabel
from midigan.representations.conditions import Conditions
from midigan.representations.tune import COPY_RUN, Tune

log = logging.getLogger(__name__)

MODEL_ROWS = ("mle", "gan")
"""Sub-folders of a training run that hold the MLE-only and the adversarial checkpoints."""

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
"""The shipped model (as `midigan.model.checkpoint.PRETRAINED_DIR`, without importing torch)."""

_CHECKPOINT_FILE = "model.safetensors"

CLASSIFIER_STATISTICS = (
    "scale_consistency",
    "key_consistency",
    "repetitions_2",
    "repetitions_3",
    "repetitions_4",
    "pitch_class_entropy",
)
"""Statistics added to the Yang & Lerch scalars and histograms in the two-sample test's
feature vector. Velocity is left out: the folk corpora carry almost no dynamics, and a
test that a velocity decoding detail decides would say nothing about the notes."""

_SAMPLE_BATCH = 64


@dataclass(frozen=True)
class EvaluationSettings:
    """What `midigan evaluate` was asked to do (stored in the report).

    Attributes:
        corpus: folder holding manifest.jsonl and the MIDI files it lists.
        model: a checkpoint or a training run folder (with mle/ and gan/); None = the
            shipped model.
        use_model: False evaluates the baselines only (no torch needed).
        n: pieces per set.
        bars: pieces are cut (and generated) to at most this many bars.
        baselines: include the ceiling and Markov rows.
        seed: draws the reference and training pieces and seeds every generator.
        markov_order: context length of the Markov baseline.
        copy_run: (interval, duration) pairs that make a copy.
        temperature: sampling temperature for the model; None = each checkpoint's tuned
            default (its config's `[sampling] temperature`).
        device: 'auto' (CUDA when present), 'cpu' or 'cuda'.
        split: shares for a plain corpus folder (``train=0.8,valid=0.1,test=0.1``); None =
            the split the model's training run recorded, else the hash rule (90/5/5).
        reference_split: 'test' (report once) or 'valid' (to choose temperatures and
            recipes on): where the reference pieces are drawn from.
    """

    corpus: Path = Path("corpora")
    model: Path | None = None
    use_model: bool = True
    n: int = 500
    bars: int = 16
    baselines: bool = True
    seed: int = 0
    markov_order: int = 3
    copy_run: int = COPY_RUN
    temperature: float | None = None
    device: str = "auto"
    split: str | None = None
    reference_split: str = "test"

    def validate(self) -> None:
        """Raises: ConfigError naming the value out of range."""
        if self.reference_split not in ("valid", "test"):
            raise ConfigError(f"the reference split must be valid or test, got {self.reference_split!r}")
        if self.n < 5:
            raise ConfigError(f"--n must be at least 5 (the two-sample test uses 5 folds), got {self.n}")
        if self.bars < 1:
            raise ConfigError(f"--bars must be at least 1, got {self.bars}")
        if not (self.baselines or self.use_model):
            raise ConfigError("nothing to evaluate: give a model or keep the baselines")


# ------------------------------------------------------------------------ corpus
def corpus_pieces(corpus: Path, split: str | None = None) -> list[CorpusEntry]:
    """The pieces of a built corpus (in manifest order) or of any folder of MIDI files.

    A plain folder is split exactly as `midigan train` splits it (by a hash of each file's
    path, or by the `split` shares: :func:`midigan.corpus.manifest.corpus_entries`), so a
    model trained on a user's folder is evaluated on the files it did not see.

    Raises:
        ConfigError: not a folder, a malformed manifest, no MIDI files, or a bad `split`.
    """
    if split is None and ((Path(corpus) / MANIFEST_NAME).is_file() or not Path(corpus).is_dir()):
        return manifest_entries(corpus)
    return corpus_entries(corpus, split)


def recorded_split(model: Path | None) -> str | None:
    """The --split the model's training run used (its checkpoints' config.json), else None."""
    for _, checkpoint in model_checkpoints(model) if model is not None else []:
        try:
            meta = json.loads((Path(checkpoint) / "config.json").read_text(encoding="utf-8"))
        except (OSError, TypeError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # loading the model names a damaged checkpoint
        corpus = meta.get("corpus") if isinstance(meta, dict) else None
        if isinstance(corpus, dict) and isinstance(corpus.get("split"), str):
            return corpus["split"]
    return None


def read_tune(entry: CorpusEntry) -> Tune:
    """The melody of one corpus entry as a Tune.

    Raises:
        MidiReadError: the file is missing or unreadable.
    """
    from midigan.io import read_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantization notices are expected on users' MIDI
        return Tune.from_score(read_score(entry.path))


def read_tunes(
    entries: Sequence[CorpusEntry], bars: int | None, progress: Callable[[Iterable], Iterable]
) -> list[tuple[CorpusEntry, Tune]]:
    """Read every entry (cut to `bars` bars); unreadable or empty pieces are skipped with a log line."""
    loaded = []
    for entry in progress(entries):
        try:
            tune = read_tune(entry)
        except MidiganError as e:
            log.warning("skipping %s: %s", entry.id, e)
            continue
        tune = tune.crop(bars) if bars else tune
        if len(tune):
            loaded.append((entry, tune))
    return loaded


def bar_chords(
    chords: Sequence[ChordLabel], start: int, bar_ticks: int
) -> tuple[tuple[int | None, str], ...]:
    """The chords of one bar as Conditions hold them: k chords splitting the bar evenly.

    k is the smallest count (1, 2, 3, 4, 6, 8, 12...) whose even split puts every label
    change of the bar on a slot boundary; where none does, one chord per eighth note.
    """
    inside = [c.tick - start for c in chords if start < c.tick < start + bar_ticks]
    eighth = TPQ // 2
    fitting = (
        k
        for k in range(1, bar_ticks // eighth + 1)
        if bar_ticks % k == 0 and all(t % (bar_ticks // k) == 0 for t in inside)
    )
    slots = next(fitting, max(1, bar_ticks // eighth))
    step = bar_ticks // slots

    def chord_at(tick: int) -> tuple[int | None, str]:
        current = (None, "maj")
        for label in chords:
            if label.tick > tick:
                break
            current = (label.root, label.quality)
        return current

    return tuple(chord_at(start + j * step) for j in range(slots))


def conditions_for(tune: Tune, style: str | None) -> Conditions:
    """The Conditions a generator gets to write the twin of `tune` (already cut to length)."""
    starts = tune.bar_starts.tolist()
    chords = tuple(bar_chords(tune.chords, a, b - a) for a, b in pairwise(starts))
    return Conditions(
        bars=tune.bar_count,
        meter=tune.meter,
        key=(tune.tonic, tune.mode),
        chords=chords if tune.chords else (),
        style=style,
    )


# ------------------------------------------------------------------------- rows
def feature_vectors(tunes: list[Tune]) -> np.ndarray:
    """(n, d) vectors for the two-sample test: Y&L scalars and histograms plus some statistics."""
    names = (*SCALAR_FEATURES, "pitch_class_histogram", "note_length_histogram")
    table = feature_table(tunes, names)
    stats = statistics_table(tunes)
    columns = [table[n] for n in names] + [stats[n].reshape(-1, 1) for n in CLASSIFIER_STATISTICS]
    return np.nan_to_num(np.hstack(columns), nan=0.0)


@dataclass
class _Set:
    """A set of tunes with everything the report computes once per set."""

    tunes: list[Tune]
    features: dict[str, np.ndarray]
    vectors: np.ndarray

    @classmethod
    def of(cls, tunes: list[Tune]) -> _Set:
        return cls(tunes, feature_table(tunes, tuple(FEATURES)), feature_vectors(tunes))


def compare_row(
    name: str,
    description: str,
    reference: _Set,
    candidate: _Set,
    index: CopyIndex,
    seed: int,
    copy_tunes: list[Tune] | None = None,
    seconds: float = 0.0,
) -> RowResult:
    """One report row: `candidate` against `reference`."""
    return RowResult(
        name=name,
        description=description,
        pieces=len(candidate.tunes),
        features=compare_feature_tables(reference.features, candidate.features, seed),
        two_sample_accuracy=two_sample_accuracy(reference.vectors, candidate.vectors, seed=seed),
        statistics=summarize(statistics_table(candidate.tunes)),
        copied_rate=copied_rate(copy_tunes if copy_tunes is not None else candidate.tunes, index),
        seconds=seconds,
    )


def model_checkpoints(model: Path | None) -> list[tuple[str, Path | None]]:
    """(row name, checkpoint) pairs to evaluate for `--model`.

    A training run folder gives its mle/ and gan/ checkpoints; a checkpoint named mle or
    gan brings its sibling along (so the MLE baseline sits next to the GAN); a checkpoint
    holding an mle/ sub-folder (the shipped layout) brings that; any other checkpoint is
    the `gan` row; None is the shipped model, with its mle/ baseline when present.
    """
    if model is None:
        shipped = SHIPPED_DIR / "mle"
        return ([("mle", shipped)] if shipped.exists() else []) + [("gan", None)]
    model = Path(model)
    if (model / _CHECKPOINT_FILE).exists() and (model / "mle").exists():
        return [("mle", model / "mle"), ("gan", model)]
    runs = [(name, model / name) for name in MODEL_ROWS if (model / name).exists()]
    if runs:
        return runs
    if model.name in MODEL_ROWS:
        return [(name, model.parent / name) for name in MODEL_ROWS if (model.parent / name).exists()]
    return [("gan", model)]


def sample_model(
    checkpoint: Path | None,
    conditions: list[Conditions],
    settings: EvaluationSettings,
    progress: Callable[[Iterable], Iterable],
) -> list[Tune]:
    """Tunes sampled from a checkpoint (None = shipped) in batches, one per conditions.

    The temperature is `settings.temperature`, or the checkpoint's tuned default when None.
    """
    from midigan.model.checkpoint import load_model
    from midigan.model.sampler import sample

    device = settings.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    bundle = load_model(checkpoint, device=device)
    temperature = bundle.temperature if settings.temperature is None else settings.temperature
    log.info("sampling %s at temperature %g", checkpoint or "the shipped model", temperature)
    tunes = []
    batches = range(0, len(conditions), _SAMPLE_BATCH)
    for start in progress(batches):
        batch = conditions[start : start + _SAMPLE_BATCH]
        streams = sample(
            bundle, batch, temperature=temperature, seed=settings.seed + start
        )  # piece i: seed+i
        tunes.extend(Tune.from_streams(s) for s in streams)
    return tunes


# ---------------------------------------------------------------------- evaluate
@dataclass
class _Candidate:
    """One row's pieces before comparison."""

    description: str
    tunes: list[Tune]
    seconds: float = 0.0


def evaluate(
    settings: EvaluationSettings, out_dir: Path | None = None, progress: bool = False
) -> EvaluationReport:
    """Run the whole protocol (module docstring); write report files when `out_dir` is given.

    Raises:
        ConfigError: bad settings, a missing manifest, or a corpus too small to compare.
        CheckpointError: the model cannot be loaded.
    """
    settings.validate()
    plain = not (Path(settings.corpus) / MANIFEST_NAME).is_file()
    if settings.split is None and settings.use_model and plain and recorded_split(settings.model):
        settings = replace(settings, split=recorded_split(settings.model))
        log.info("splitting %s as the model's training run did: %s", settings.corpus, settings.split)
    bar = _progress_factory(progress)
    rng = np.random.default_rng(settings.seed)
    pairs, training = _read_splits(settings, rng, bar)
    reference = _Set.of([t for _, t in pairs])
    conditions = [conditions_for(t, e.style) for e, t in pairs]
    candidates: dict[str, _Candidate] = {}
    if settings.baselines:
        candidates.update(_baselines(settings, training, conditions, rng, bar))
    if settings.use_model:
        for name, checkpoint in model_checkpoints(settings.model):
            started = time.perf_counter()
            tunes = sample_model(checkpoint, conditions, settings, bar(f"sampling {name}"))
            candidates[name] = _Candidate(
                str(checkpoint or "shipped model"), tunes, time.perf_counter() - started
            )
    index = CopyIndex(training, settings.copy_run)
    sets = {name: _Set.of(c.tunes) for name, c in candidates.items()}
    rows = [
        compare_row(
            name,
            c.description,
            reference,
            sets[name],
            index,
            settings.seed,
            copy_tunes=reference.tunes if name == "ceiling" else None,
            seconds=c.seconds,
        )
        for name, c in bar("comparing")(list(candidates.items()))
    ]
    reference_row = {**summarize(statistics_table(reference.tunes)), "copied_percent": float("nan")}
    report = EvaluationReport(
        rows, reference_row, _settings_json(settings, len(reference.tunes), len(training))
    )
    if out_dir is not None:
        report.save(out_dir)
        plot_report(reference.features, {name: s.features for name, s in sets.items()}, out_dir)
    return report


def _read_splits(
    settings: EvaluationSettings, rng: np.random.Generator, bar: Callable[[str], Callable]
) -> tuple[list[tuple[CorpusEntry, Tune]], list[Tune]]:
    """`n` reference pieces cut to `bars` bars (with their entries), and the whole training split."""
    entries = corpus_pieces(settings.corpus, settings.split)
    test = [e for e in entries if e.split == settings.reference_split]
    train = [e for e in entries if e.split == "train"]
    if len(test) < 5 or len(train) < 5:
        raise ConfigError(
            f"{settings.corpus}: need at least 5 {settings.reference_split} and 5 training pieces "
            f"(found {len(test)} and {len(train)}){_split_hint(settings)}"
        )
    picked = [test[i] for i in rng.permutation(len(test))[: settings.n]]
    pairs = read_tunes(picked, settings.bars, bar("reading test pieces"))
    training = [t for _, t in read_tunes(train, None, bar("reading training pieces"))]
    if len(pairs) < 5 or len(training) < 5:
        raise ConfigError(f"{settings.corpus}: fewer than 5 readable test or training pieces")
    return pairs, training


def _split_hint(settings: EvaluationSettings) -> str:
    """What split gave too few pieces, and the way out for a plain folder."""
    if (Path(settings.corpus) / MANIFEST_NAME).is_file():
        return " in the manifest's splits"
    if settings.split:
        return f" with --split {settings.split}; give test and train larger shares"
    return (
        " with the 90/5/5 split by file name; split a small folder by shares, e.g. "
        "--split train=0.8,valid=0.1,test=0.1 (and train the model with the same --split)"
    )


def _baselines(
    settings: EvaluationSettings,
    training: list[Tune],
    conditions: list[Conditions],
    rng: np.random.Generator,
    bar: Callable[[str], Callable],
) -> dict[str, _Candidate]:
    """The ceiling (real training pieces) and the Markov model's pieces for `conditions`."""
    chosen = rng.permutation(len(training))[: len(conditions)]
    ceiling = _Candidate(
        "training-split pieces (real music)", [training[i].crop(settings.bars) for i in chosen]
    )
    started = time.perf_counter()
    model = fit_markov(training, order=settings.markov_order)
    generator = np.random.default_rng(settings.seed)
    scores = [model.generate_score(c, generator) for c in bar("markov")(conditions)]
    markov = _Candidate(
        f"order-{settings.markov_order} Markov chain with backoff",
        [Tune.from_score(s) for s in scores],
        time.perf_counter() - started,
    )
    return {"ceiling": ceiling, "markov": markov}


def _settings_json(settings: EvaluationSettings, reference: int, training: int) -> dict:
    values = asdict(settings)
    values.update(model=str(settings.model) if settings.model else None, corpus=str(settings.corpus))
    values.update(reference_pieces=reference, training_pieces=training)
    return values


def _progress_factory(enabled: bool) -> Callable[[str], Callable[[Iterable], Iterable]]:
    """`bar(label)(iterable)` wraps the iterable in a tqdm bar on stderr when `enabled`."""

    def bar(label: str) -> Callable[[Iterable], Iterable]:
        if not enabled:
            return lambda items: items
        from tqdm import tqdm

        return lambda items: tqdm(items, desc=label, unit="", leave=False, dynamic_ncols=True)

    return bar
