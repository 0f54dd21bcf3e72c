"""Piano-roll pictures: one colour per track, bar lines, a beat grid, pitch names.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no GUI backend,
no global state), so it works on headless machines and inside threads.
"""

from __future__ import annotations

import io
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midigan.io.atomic import write_atomic
from midigan.music.score import TPQ
from midigan.music.theory import pitch_class_name

if TYPE_CHECKING:
    from midigan.music.score import Score

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
"""Track colours in track order (matplotlib's tab10, reordered so melody/chords/bass contrast)."""

DPI = 110


def pianoroll_figure(score: Score, title: str | None = None) -> Any:
    """A matplotlib Figure of the score's piano roll.

    X is time in bars (bar numbers at the barlines, from the meter map); Y is pitch
    with note names. Opacity follows velocity.

    Args:
        score: the music.
        title: figure title; default the score's title or "piano roll".

    Returns:
        A `matplotlib.figure.Figure` attached to an Agg canvas.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    end = max(score.end, 1)
    starts = score.bar_starts(end)
    bars = len(starts) - 1
    figure = Figure(figsize=(min(24.0, 4.0 + 0.55 * bars), 5.0), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    pitches = [n.pitch for _, n in score.iter_notes()] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2
    _draw_grid(axes, score, starts, low, high)
    handles = []
    for index, track in enumerate(score.tracks):
        if not track.notes:
            continue
        colour = COLOURS[index % len(COLOURS)]
        for note in track.notes:
            alpha = 0.45 + 0.55 * max(0, min(127, note.velocity)) / 127
            axes.add_patch(_note_patch(note.onset, note.duration, note.pitch, colour, alpha))
        handles.append(Patch(facecolor=colour, label=track.name or f"track {index + 1}"))
    axes.set_xlim(0, end / TPQ)
    axes.set_ylim(low - 0.5, high + 0.5)
    _label_axes(axes, starts, low, high)
    if handles:
        axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    axes.set_title(title or score.title or "piano roll", fontsize=10)
    figure.tight_layout()
    return figure


def write_pianoroll(score: Score, path: str | Path, title: str | None = None) -> Path:
    """Draw the piano roll and write it as a PNG file, atomically.

    Raises:
        MidiWriteError: the folder is missing or not writable.
    """

    def render() -> bytes:
        buffer = io.BytesIO()
        pianoroll_figure(score, title=title).savefig(buffer, format="png", dpi=DPI)
        return buffer.getvalue()

    return write_atomic(path, render)


def _note_patch(onset: int, duration: int, pitch: int, colour: str, alpha: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle(
        (onset / TPQ, pitch - 0.4), duration / TPQ, 0.8, facecolor=colour, edgecolor="black",
        linewidth=0.3, alpha=alpha,
    )  # fmt: skip


def _draw_grid(axes: Any, score: Score, starts: list[int], low: int, high: int) -> None:
    """Bar lines (dark), beat lines (light) and shaded black-key rows."""
    for pitch in range(low, high + 1):
        if pitch % 12 in (1, 3, 6, 8, 10):
            axes.axhspan(pitch - 0.5, pitch + 0.5, color="#f0f0f0", zorder=0, linewidth=0)
    for bar_start, bar_end in pairwise(starts):
        meter = score.meter_at(bar_start)
        beat = meter.bar_ticks // meter.numerator or 1
        if meter.denominator == 8 and meter.numerator % 3 == 0 and meter.numerator > 3:
            beat *= 3  # compound meters: the dotted-quarter pulse is the beat
        for tick in range(bar_start + beat, bar_end, beat):
            axes.axvline(tick / TPQ, color="#d8d8d8", linewidth=0.5, zorder=0.5)
    for tick in starts:
        axes.axvline(tick / TPQ, color="#555555", linewidth=0.9, zorder=0.6)


def _label_axes(axes: Any, starts: list[int], low: int, high: int) -> None:
    """Bar numbers on x; pitch names on y (every pitch for small ranges, else every C and G)."""
    step = max(1, len(starts) // 24)
    axes.set_xticks([s / TPQ for s in starts[:-1:step]])
    axes.set_xticklabels([str(i + 1) for i in range(0, len(starts) - 1, step)], fontsize=7)
    axes.set_xlabel("bar")
    if high - low <= 30:
        ticks = list(range(low, high + 1))
    else:
        ticks = [p for p in range(low, high + 1) if p % 12 in (0, 7)]
    axes.set_yticks(ticks)
    axes.set_yticklabels([f"{pitch_class_name(p)}{p // 12 - 1}" for p in ticks], fontsize=7)
    axes.set_ylabel("pitch")
