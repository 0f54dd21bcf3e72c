"""How good is the music? Metrics, baselines and the `midigan evaluate` report.

- :mod:`~midigan.evaluate.features`: the per-piece features of Yang & Lerch (2018), read
  from a :class:`~midigan.representations.tune.Tune` (one melody with its context).
- :mod:`~midigan.evaluate.distances`: set comparison by intra-/inter-set distance
  distributions (overlapped area, KL divergence).
- :mod:`~midigan.evaluate.two_sample`: a classifier two-sample test.
- :mod:`~midigan.evaluate.stats`: scale consistency, repetitions, tone span, pitch-class
  entropy, velocity, chord tones on strong beats.
- :mod:`~midigan.evaluate.form`: repeated figures, distinct bars, quarter-note share.
- :mod:`~midigan.evaluate.copying`: runs copied from the training set.
- :mod:`~midigan.evaluate.markov`: the n-gram Markov baseline.
- :mod:`~midigan.evaluate.runner` and :mod:`~midigan.evaluate.report`: the whole protocol and
  its table, JSON and plots.
- :mod:`~midigan.evaluate.user_path` and :mod:`~midigan.evaluate.user_path_report`: pieces
  made as `midigan compose` makes them, per style and meter, against that cell's real tunes.

Nothing here imports torch except sampling a model (the runner, the user path).
"""

from __future__ import annotations

from midigan.evaluate.copying import CopyIndex, copied_rate
from midigan.evaluate.distances import compare_feature, kl_divergence, overlapped_area
from midigan.evaluate.features import FEATURES, as_tune, feature_table
from midigan.evaluate.markov import MarkovModel, fit_markov
from midigan.evaluate.report import EvaluationReport, RowResult
from midigan.evaluate.runner import EvaluationSettings, evaluate
from midigan.evaluate.stats import STATISTICS, statistics_table
from midigan.evaluate.two_sample import TwoSampleResult, two_sample_accuracy, two_sample_test

__all__ = [
    "FEATURES",
    "STATISTICS",
    "CopyIndex",
    "EvaluationReport",
    "EvaluationSettings",
    "MarkovModel",
    "RowResult",
    "TwoSampleResult",
    "as_tune",
    "compare_feature",
    "copied_rate",
    "evaluate",
    "feature_table",
    "fit_markov",
    "kl_divergence",
    "overlapped_area",
    "statistics_table",
    "two_sample_accuracy",
    "two_sample_test",
]
