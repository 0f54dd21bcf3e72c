"""The user-path evaluation's report: per-cell tables, the issue-10 targets, and its JSON.

Built by :func:`midigan.evaluate.user_path.evaluate_user_path`; kept apart so the protocol
and its presentation each read in one sitting.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from midigan.io.atomic import write_atomic

TARGETS = {"forest_accuracy": 0.62, "relative_gap": 0.15, "copied_rate": 0.02}
"""Issue 10's targets on the default-path rows: the nonlinear two-sample accuracy at most 0.62,
repetition and distinct bars within 15% of the real tunes', copied rate under 2%."""

MATCHED = ("pattern_repetition_3", "distinct_bars")
"""Statistics the targets ask to match within :data:`TARGETS` ['relative_gap']."""

_COLUMNS = (
    ("pattern_repetition_3", "rep3", "{:.2f}"),
    ("pitch_repetition_3", "prep3", "{:.2f}"),
    ("distinct_bars", "dbars", "{:.1f}"),
    ("unique_bars", "ubars", "{:.1f}"),
    ("pitch_span", "span", "{:.1f}"),
    ("pitch_class_entropy", "PCent", "{:.2f}"),
    ("notes", "notes", "{:.0f}"),
    ("distinct_pitches", "pitch", "{:.1f}"),
    ("quarter_share", "q%", "{:.0%}"),
    ("minor_share", "minor", "{:.0%}"),
)

_VOCABULARY = (
    ("duration_tv", "durTV", "{:.3f}"),
    ("pitch_class_tv", "pcTV", "{:.3f}"),
    ("off_vocabulary", "offv", "{:.1%}"),
)
"""Rhythm and pitch vocabulary against the cell's real tunes (:mod:`midigan.evaluate.vocabulary`)."""


def _vocabulary(row: dict) -> list[str]:
    found = row.get("vocabulary", {})
    return [_fmt(f, found.get(k)) for k, _, f in _VOCABULARY]


def _fmt(template: str, value: float | None) -> str:
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return "-" if missing else template.format(value)


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def relative_gap(generated: float, real: float) -> float:
    """generated / real - 1 (nan when real is 0 or either is nan)."""
    if not real or math.isnan(real) or math.isnan(generated):
        return float("nan")
    return generated / real - 1.0


@dataclass
class UserPathReport:
    """Cells (dicts as :func:`~midigan.evaluate.user_path.evaluate_user_path` builds them) and settings."""

    cells: list[dict]
    settings: dict

    def __post_init__(self) -> None:
        for cell in self.cells:
            if "real" in cell:
                cell["targets"] = self.cell_targets(cell)

    @staticmethod
    def cell_targets(cell: dict, row: str = "gan") -> dict:
        """Whether `row` meets each issue-10 target in this cell (None where it cannot be told)."""
        rows, real = cell["rows"], cell["real"]["statistics"]
        if row not in rows:
            return {}
        made = rows[row]
        forest = made["two_sample"]["forest"]["accuracy"]
        gaps = {name: relative_gap(made["statistics"][name], real[name]) for name in MATCHED}
        out: dict = {
            "forest_accuracy": forest,
            "forest_ok": bool(forest <= TARGETS["forest_accuracy"]),
            "gaps": gaps,
            "gaps_ok": bool(all(abs(g) <= TARGETS["relative_gap"] for g in gaps.values())),
            "copied_ok": bool(made["copied_rate"] < TARGETS["copied_rate"]),
            "gan_ahead_of_mle": None,
        }
        if "mle" in rows and row != "mle":
            out["gan_ahead_of_mle"] = bool(forest < rows["mle"]["two_sample"]["forest"]["accuracy"])
        return out

    def to_json(self) -> dict:
        return {"settings": self.settings, "targets": TARGETS, "cells": self.cells}

    def save(self, out_dir: str | Path) -> list[Path]:
        """user_path.json (everything) and user_path.md (the tables), each written atomically."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2, allow_nan=True) + "\n"
        table = self.format_table() + "\n"
        return [
            write_atomic(out / "user_path.json", lambda: text.encode()),
            write_atomic(out / "user_path.md", lambda: table.encode()),
        ]

    # ---------------------------------------------------------------- tables
    def format_cell(self, cell: dict) -> str:
        """One cell: the real tunes' statistics, then each row with both two-sample accuracies."""
        title = f"{cell['style']} {cell['meter']} ({self.settings.get('split')}): {cell['n_real']} real"
        if "skipped" in cell:
            return f"{title} - skipped: {cell['skipped']}"
        heads = ["row", "n", "RF acc [95% CI]", "LR acc", *(h for _, h, _ in _COLUMNS),
                 *(h for _, h, _ in _VOCABULARY), "copied"]  # fmt: skip
        lines = [title, "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        real = cell["real"]
        values = [_fmt(f, real["statistics"][k]) for k, _, f in _COLUMNS]
        lines.append(
            _line(
                [
                    "real",
                    str(cell["n_real"]),
                    "-",
                    "-",
                    *values,
                    *_vocabulary(real),
                    _fmt("{:.1%}", real["copied_rate"]),
                ]
            )
        )
        for name, row in cell["rows"].items():
            forest, logistic = row["two_sample"]["forest"], row["two_sample"]["logistic"]
            low, high = _fmt("{:.2f}", forest["low"]), _fmt("{:.2f}", forest["high"])
            rf = f"{_fmt('{:.3f}', forest['accuracy'])} [{low}, {high}]"
            values = [_fmt(f, row["statistics"][k]) for k, _, f in _COLUMNS]
            lr = _fmt("{:.3f}", logistic["accuracy"])
            label = f"{name} (T {row['temperature']:g})" if "temperature" in row else name
            lines.append(
                _line(
                    [
                        label,
                        str(row["pieces"]),
                        rf,
                        lr,
                        *values,
                        *_vocabulary(row),
                        _fmt("{:.1%}", row["copied_rate"]),
                    ]
                )
            )
        return "\n".join(lines)

    def format_summary(self) -> str:
        """One line per cell: both models' accuracies, the matched statistics gen/real, the targets."""
        heads = ["cell", "n real", "RF gan", "RF mle", "LR gan", "LR mle", "rep3 gan/real",
                 "dbars gan/real", "span gan/real", "PCent gan/real", "GAN ahead", "targets met"]  # fmt: skip
        lines = [_line(heads), "|" + "---|" * len(heads)]
        for cell in self.cells:
            name = f"{cell['style']} {cell['meter']}"
            if "skipped" in cell:
                lines.append(f"| {name} | {cell['n_real']} | skipped |" + " |" * (len(heads) - 3))
                continue
            rows, real = cell["rows"], cell["real"]["statistics"]

            def acc(row: str, classifier: str, rows: dict = rows) -> str:
                return _fmt("{:.3f}", rows[row]["two_sample"][classifier]["accuracy"]) if row in rows else "-"

            def pair(stat: str, template: str, rows: dict = rows, real: dict = real) -> str:
                made = rows["gan"]["statistics"][stat] if "gan" in rows else float("nan")
                return f"{_fmt(template, made)}/{_fmt(template, real[stat])}"

            targets = cell.get("targets", {})
            met = all(targets.get(k) for k in ("forest_ok", "gaps_ok", "copied_ok")) if targets else False
            ahead = targets.get("gan_ahead_of_mle")
            matched = [
                pair("pattern_repetition_3", "{:.2f}"),
                pair("distinct_bars", "{:.1f}"),
                pair("pitch_span", "{:.1f}"),
                pair("pitch_class_entropy", "{:.2f}"),
            ]
            accuracies = [acc(r, c) for c in ("forest", "logistic") for r in ("gan", "mle")]
            verdict = ["-" if ahead is None else "yes" if ahead else "no", "yes" if met else "no"]
            lines.append(_line([name, str(cell["n_real"]), *accuracies, *matched, *verdict]))
        return "\n".join(lines)

    def format_table(self) -> str:
        """Every cell's table, then the summary."""
        parts = [self.format_cell(c) for c in self.cells]
        return "\n\n".join([*parts, "Summary (gan = the model asked for; targets: RF <= 0.62, rep3 and "
                            "dbars within 15%, copied < 2%)", self.format_summary()])  # fmt: skip
