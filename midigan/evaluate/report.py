"""The evaluation report: one row per system, as a table, JSON and plots.

Rows compare a *candidate* set of pieces (the training split, the Markov baseline, a
model) with the same *reference* set (the held-out test split). The reference's own
statistics are listed first so the absolute numbers have an anchor.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from midigan.evaluate.distances import (
    FeatureComparison,
    gaussian_kde,
    inter_set_distances,
    intra_set_distances,
)
from midigan.io.atomic import write_atomic

REFERENCE_ROW = "test set"

COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("OA ↑", "mean_overlapped_area", "{:.3f}"),
    ("KL ↓", "mean_kl_divergence", "{:.3f}"),
    ("2-sample acc →0.5", "two_sample_accuracy", "{:.3f}"),
    ("scale cons.", "scale_consistency", "{:.3f}"),
    ("in key", "key_consistency", "{:.3f}"),
    ("chord tones", "chord_tone_ratio", "{:.3f}"),
    ("rep-4", "repetitions_4", "{:.3f}"),
    ("pc entropy", "pitch_class_entropy", "{:.2f}"),
    ("span", "tone_span", "{:.1f}"),
    ("copied %", "copied_percent", "{:.1f}"),
)
"""Table columns: header, the row value it shows, its format."""


@dataclass
class RowResult:
    """Everything measured for one candidate set against the reference."""

    name: str
    description: str
    pieces: int
    features: dict[str, FeatureComparison]
    two_sample_accuracy: float
    statistics: dict[str, float]
    copied_rate: float
    seconds: float = 0.0

    @property
    def mean_overlapped_area(self) -> float:
        return _nanmean([c.overlapped_area for c in self.features.values()])

    @property
    def mean_kl_divergence(self) -> float:
        return _nanmean([c.kl_divergence for c in self.features.values()])

    @property
    def copied_percent(self) -> float:
        return 100.0 * self.copied_rate

    def value(self, key: str) -> float:
        """A table value by its column key (a property or a statistic name)."""
        if key in self.statistics:
            return self.statistics[key]
        return float(getattr(self, key))

    def to_json(self) -> dict[str, Any]:
        return _clean(
            {
                "name": self.name,
                "description": self.description,
                "pieces": self.pieces,
                "mean_overlapped_area": self.mean_overlapped_area,
                "mean_kl_divergence": self.mean_kl_divergence,
                "two_sample_accuracy": self.two_sample_accuracy,
                "copied_rate": self.copied_rate,
                "seconds": self.seconds,
                "statistics": self.statistics,
                "features": {name: vars(c) for name, c in self.features.items()},
            }
        )


@dataclass
class EvaluationReport:
    """The rows, the reference statistics and the settings that produced them."""

    rows: list[RowResult]
    reference: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)

    def row(self, name: str) -> RowResult:
        """The row called `name`.

        Raises:
            KeyError: no such row.
        """
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": _clean(self.settings),
            "reference": _clean(self.reference),
            "rows": [row.to_json() for row in self.rows],
        }

    def format_table(self, markdown: bool = False) -> str:
        """The table as aligned text, or as a Markdown table with `markdown=True`."""
        header = ["", *(title for title, _, _ in COLUMNS)]
        lines = [[REFERENCE_ROW, *(_format(self.reference.get(key), fmt) for _, key, fmt in COLUMNS)]]
        lines += [[row.name, *(_format(row.value(key), fmt) for _, key, fmt in COLUMNS)] for row in self.rows]
        if markdown:
            out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            return "\n".join(out + ["| " + " | ".join(cells) + " |" for cells in lines])
        widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
        return "\n".join(
            "  ".join(
                c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            for cells in [header, *lines]
        )

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write report.json and table.md into `out_dir` (created); returns the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        paths = [write_atomic(out / "report.json", lambda: text.encode())]
        table = self.format_table(markdown=True) + "\n"
        paths.append(write_atomic(out / "table.md", lambda: table.encode()))
        return paths


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _format(value: float | None, fmt: str) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return fmt.format(value)


def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, nan and inf to None, paths to strings."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value


# --------------------------------------------------------------------- plots
def plot_report(
    reference: dict[str, np.ndarray],
    candidates: dict[str, dict[str, np.ndarray]],
    out_dir: str | Path,
) -> list[Path]:
    """Write the report's figures (PNG, matplotlib Agg) into `out_dir`; returns the paths.

    Args:
        reference: feature name -> (n, d) values of the reference set.
        candidates: row name -> the same table for that row's pieces.
        out_dir: destination folder (created).

    Figures: ``features.png`` (each scalar feature's distribution per row against the
    reference), ``histograms.png`` (mean pitch-class and note-length histograms) and
    ``distances.png`` (intra-set against each row's inter-set distance densities).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scalars = [name for name, v in reference.items() if v.ndim == 2 and v.shape[1] == 1]
    return [
        _plot_grid(
            plt, out / "features.png", scalars, lambda ax, n: _plot_values(ax, n, reference, candidates)
        ),
        _plot_histograms(plt, out / "histograms.png", reference, candidates),
        _plot_grid(
            plt,
            out / "distances.png",
            list(reference),
            lambda ax, n: _plot_distances(ax, n, reference, candidates),
        ),
    ]


def _plot_grid(plt: Any, path: Path, names: list[str], draw: Any) -> Path:
    columns = 3
    rows = max(1, math.ceil(len(names) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        draw(ax, name)
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _density_line(ax: Any, values: np.ndarray, label: str, **style: Any) -> None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    pad = max(float(values.std()), 1e-3) * 3
    grid = np.linspace(values.min() - pad, values.max() + pad, 256)
    ax.plot(grid, gaussian_kde(values, grid), label=label, **style)


def _plot_values(ax: Any, name: str, reference: dict, candidates: dict) -> None:
    _density_line(ax, reference[name].ravel(), REFERENCE_ROW, color="black", linewidth=2)
    for row, table in candidates.items():
        _density_line(ax, table[name].ravel(), row, linewidth=1.2)


def _plot_distances(ax: Any, name: str, reference: dict, candidates: dict) -> None:
    rng = np.random.default_rng(0)

    def pick(distances: np.ndarray) -> np.ndarray:  # 5,000 points draw the same curve as 125,000
        return distances if distances.size <= 5000 else rng.choice(distances, 5000, replace=False)

    _density_line(ax, pick(intra_set_distances(reference[name])), "intra (test)", color="black", linewidth=2)
    for row, table in candidates.items():
        inter = pick(inter_set_distances(table[name], reference[name]))
        _density_line(ax, inter, f"inter ({row})", linewidth=1.2)


_BIN_LABELS = {
    "pitch_class_histogram": ("1", "♭2", "2", "♭3", "3", "4", "♯4", "5", "♭6", "6", "♭7", "7"),
    "note_length_histogram": ("1", "½.", "½", "¼.", "¼", "⅛.", "⅛", "16.", "16", "½3", "¼3", "⅛3"),
}
"""Bin names: scale degrees from the tonic; note lengths (``.`` dotted, ``3`` triplet)."""


def _plot_histograms(plt: Any, path: Path, reference: dict, candidates: dict) -> Path:
    names = [n for n in ("pitch_class_histogram", "note_length_histogram") if n in reference]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(7 * max(1, len(names)), 3.2), squeeze=False)
    sets = {REFERENCE_ROW: reference, **candidates}
    width = 0.8 / len(sets)
    for ax, name in zip(axes.flat, names, strict=False):
        for i, (row, table) in enumerate(sets.items()):
            mean = table[name].mean(axis=0) if len(table[name]) else np.zeros(12)
            ax.bar(np.arange(mean.size) + i * width, mean, width=width, label=row)
        ax.set_xticks(np.arange(12) + 0.4 - width / 2, _BIN_LABELS[name])
        ax.set_title(f"mean {name.replace('_', ' ')}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
