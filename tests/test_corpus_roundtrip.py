"""Every committed corpus file survives MIDI -> Score -> MIDI bytes -> Score unchanged,
and reads back with the bar count its manifest line states.

The corpus is committed (corpora/manifest.jsonl and MIDI files under corpora/<style>/),
so a missing manifest is a failure, not a skip.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from strategies import canonical

from midigan.io.midi import midi_bytes, read_midi_report, score_from_midi_bytes
from midigan.music.score import Score

CORPORA = Path(__file__).resolve().parents[1] / "corpora"
SAMPLE_SIZE = 500


def manifest_bars() -> dict[Path, int]:
    """Bars per file, from corpora/manifest.jsonl (one JSON object a line with `path`, `bars`)."""
    manifest = CORPORA / "manifest.jsonl"
    assert manifest.is_file(), f"{manifest} is missing: build the corpus with `midigan corpus build`"
    lines = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {CORPORA / entry["path"]: entry["bars"] for entry in lines}


def corpus_files() -> list[Path]:
    """The committed corpus's files: those its manifest lists (a built `corpora/dynamics/`
    beside them has its own manifest and is not part of this corpus)."""
    files = sorted(manifest_bars())
    assert files, f"no MIDI files under {CORPORA}"
    return files


def evenly_spaced(files: list[Path], count: int) -> list[Path]:
    """A deterministic sample spread over the sorted list (so every style is in it)."""
    if len(files) <= count:
        return files
    return [files[i * len(files) // count] for i in range(count)]


def summary(score: Score) -> tuple:
    """What a round trip must keep: the shared canonical form plus the title."""
    return (*canonical(score), score.title)


def check_round_trip(files: list[Path]) -> None:
    bars = manifest_bars()
    failures = []
    for path in files:
        score, report = read_midi_report(path)
        back, _ = score_from_midi_bytes(midi_bytes(score), str(path))
        if report.moved:
            failures.append(f"{path}: off the grid ({report.describe(path)})")
        elif not score.tracks:
            failures.append(f"{path}: no notes")
        elif summary(back) != summary(score):
            failures.append(f"{path}: round trip changed the music")
        elif score.bar_count != bars.get(path):
            failures.append(f"{path}: {score.bar_count} bars, the manifest says {bars.get(path)}")
    assert not failures, f"{len(failures)} of {len(files)} files fail, e.g.\n" + "\n".join(failures[:10])


def test_corpus_sample_round_trips_exactly():
    check_round_trip(evenly_spaced(corpus_files(), SAMPLE_SIZE))


@pytest.mark.slow
def test_whole_corpus_round_trips_exactly():
    check_round_trip(corpus_files())
