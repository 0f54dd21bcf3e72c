"""Describe any folder of MIDI files: what a corpus holds before anyone trains on it.

:func:`corpus_stats` reads every ``.mid``/``.midi`` file under a folder (recursively)
with :func:`midigan.io.midi.read_midi` (symusic underneath, so thousands of files take
seconds) and returns plain JSON-ready numbers; :func:`format_stats` turns them into
tables for the terminal. A file that cannot be read is counted and named, never fatal.
Note lengths are in beats of a quarter note.
"""

from __future__ import annotations

import statistics
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from midigan.errors import MidiganError, MidiReadError
from midigan.io import MIDI_SUFFIXES
from midigan.music.score import TPQ, Score

LENGTH_BINS = (0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Note lengths (quarter-note beats) named in the histogram; others count as 'other'."""


def find_midi_files(folder: str | Path) -> list[Path]:
    """Every MIDI file under `folder`, recursively, in sorted order.

    Raises:
        MidiReadError: `folder` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MidiReadError(f"{folder}: not a folder; give a folder of MIDI files")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)


def corpus_stats(folder: str | Path) -> dict:
    """Statistics of every MIDI file under `folder` (see the module docstring).

    Returns a dict with: folder, files, parsed, failed (list of {path, error}),
    notes, notes_per_file, keys, meters, bars, pitch, note_lengths, tracks_per_file,
    files_with_drums. Distributions are {name: count} sorted by count; summaries are
    {min, median, mean, max} (None on an empty folder).

    Raises:
        MidiReadError: `folder` is not a folder.
    """
    from midigan.io.midi import read_midi

    folder = Path(folder)
    paths = find_midi_files(folder)
    scores: list[Score] = []
    failed: list[dict[str, str]] = []
    for path in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # quantization warnings: stats describe, not judge
                scores.append(read_midi(path))
        except MidiganError as e:
            failed.append({"path": str(path.relative_to(folder)), "error": str(e)})
    return {
        "folder": str(folder),
        "files": len(paths),
        "parsed": len(scores),
        "failed": failed,
        **describe_scores(scores),
    }


def describe_scores(scores: Iterable[Score]) -> dict:
    """The distributions of :func:`corpus_stats` for scores already in memory."""
    keys: Counter[str] = Counter()
    meters: Counter[str] = Counter()
    tracks: Counter[int] = Counter()
    lengths: Counter[str] = Counter()
    pitches: Counter[int] = Counter()
    bars: list[int] = []
    notes_per_file: list[int] = []
    drums = 0
    for score in scores:
        keys[score.keys[0].name if score.keys else "unknown"] += 1
        meters[score.meters[0].name if score.meters else "unknown"] += 1
        tracks[len(score.tracks)] += 1
        drums += any(t.is_drum for t in score.tracks)
        bars.append(score.bar_count)
        notes_per_file.append(score.note_count)
        for track in score.tracks:
            for note in track.notes:
                lengths[_length_name(note.duration)] += 1
                if not track.is_drum:
                    pitches[note.pitch] += 1
    return {
        "notes": sum(notes_per_file),
        "notes_per_file": _summary(notes_per_file),
        "keys": _ranked(keys),
        "meters": _ranked(meters),
        "bars": {**_summary(bars), "histogram": _bar_histogram(bars)},
        "pitch": _pitch_summary(pitches),
        "note_lengths": _ranked(lengths),
        "tracks_per_file": {str(k): v for k, v in sorted(tracks.items())},
        "files_with_drums": drums,
    }


def _length_name(duration_ticks: int) -> str:
    beats = duration_ticks / TPQ
    for known in LENGTH_BINS:
        if abs(beats - known) < 1e-6:
            return f"{known:.3g}"
    return "other"


def _ranked(counter: Counter) -> dict[str, int]:
    return {str(k): v for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def _summary(values: list[int]) -> dict[str, float | None]:
    if not values:
        return {"min": None, "median": None, "mean": None, "max": None}
    return {
        "min": min(values),
        "median": statistics.median(values),
        "mean": round(statistics.fmean(values), 2),
        "max": max(values),
    }


def _bar_histogram(bars: list[int]) -> dict[str, int]:
    edges = (8, 16, 24, 32, 48, 64, 128)
    counts: Counter[str] = Counter()
    for count in bars:
        low = 1
        for edge in edges:
            if count <= edge:
                counts[f"{low}-{edge}"] += 1
                break
            low = edge + 1
        else:
            counts[f">{edges[-1]}"] += 1
    order = [f"{lo}-{hi}" for lo, hi in zip((1, *(e + 1 for e in edges[:-1])), edges, strict=True)] + [
        f">{edges[-1]}"
    ]
    return {name: counts[name] for name in order if counts[name]}


def _pitch_summary(pitches: Counter[int]) -> dict:
    """Range, mean, percentiles and a per-octave histogram of pitched notes."""
    total = sum(pitches.values())
    if not total:
        return {"min": None, "max": None, "mean": None, "p1": None, "p50": None, "p99": None, "octaves": {}}
    ordered = sorted(pitches.items())

    def percentile(q: float) -> int:
        running = 0
        for pitch, count in ordered:
            running += count
            if running >= q * total:
                return pitch
        return ordered[-1][0]

    octaves: Counter[str] = Counter()
    for pitch, count in ordered:
        octaves[f"C{pitch // 12 - 1}"] += count
    return {
        "min": ordered[0][0],
        "max": ordered[-1][0],
        "mean": round(sum(p * c for p, c in ordered) / total, 2),
        "p1": percentile(0.01),
        "p50": percentile(0.5),
        "p99": percentile(0.99),
        "octaves": dict(octaves),
    }


def format_stats(stats: dict, top: int = 12) -> str:
    """Human-readable tables of :func:`corpus_stats` output (`top` rows per distribution)."""
    lines = [
        f"folder            {stats['folder']}",
        f"MIDI files        {stats['files']}  (parsed {stats['parsed']}, failed {len(stats['failed'])})",
        f"notes             {stats['notes']}  per file {_fmt_summary(stats['notes_per_file'])}",
        f"bars per file     {_fmt_summary(stats['bars'])}",
        f"files with drums  {stats['files_with_drums']}",
    ]
    pitch = stats["pitch"]
    if pitch["min"] is not None:
        lines.append(
            f"pitch             {pitch['min']}-{pitch['max']} (1%-99%: {pitch['p1']}-{pitch['p99']}, "
            f"median {pitch['p50']}, mean {pitch['mean']})"
        )
    tables = [
        ("key", stats["keys"]),
        ("meter", stats["meters"]),
        ("bars", stats["bars"]["histogram"]),
        ("octave (from)", pitch["octaves"]),
        ("note length (beats)", stats["note_lengths"]),
        ("tracks per file", stats["tracks_per_file"]),
    ]
    for title, table in tables:
        lines += ["", *_table(title, table, top)]
    if stats["failed"]:
        lines += ["", "unreadable files:"]
        lines += [f"  {f['path']}: {f['error']}" for f in stats["failed"]]
    return "\n".join(lines)


def _fmt_summary(summary: dict) -> str:
    if summary["min"] is None:
        return "-"
    return f"min {summary['min']}  median {summary['median']}  mean {summary['mean']}  max {summary['max']}"


def _table(title: str, table: dict[str, int], top: int) -> list[str]:
    total = sum(table.values()) or 1
    items = list(table.items())
    more = f"({len(items) - top} more)"
    width = max([len(title), len(more), *(len(k) for k in table)])
    rows = [f"{title:<{width}}  {'count':>7}  {'share':>6}", f"{'-' * width}  {'-' * 7}  {'-' * 6}"]
    for name, count in items[:top]:
        rows.append(f"{name:<{width}}  {count:>7}  {100 * count / total:5.1f}%")
    if len(items) > top:
        rest = sum(c for _, c in items[top:])
        rows.append(f"{more:<{width}}  {rest:>7}  {100 * rest / total:5.1f}%")
    return rows
