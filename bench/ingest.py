"""Ingest speed: MIDI files -> model input, midigan against pretty_midi and miditok.

One run times, on the same files and side by side (each method takes one whole pass
per round; rounds interleave the methods so background load hits them alike; the
best round counts, in wall-clock and in CPU time):

* midigan: ``EventTokens.from_midi`` (the reader's arrays straight to tokens, no `Note`
  objects), ``read_midi`` -> ``EventTokens.from_score`` (the same ids through a Score), and
  ``read_midi`` alone;
* pretty_midi: ``PrettyMIDI(path).get_piano_roll(fs=100)``;
* miditok: REMI with programs, tempos and time signatures, ``tokenizer(path)``;
* references: a bare mido parse, a bare symusic parse.

Usage::

    python bench/ingest.py [FOLDER] [--limit N] [--every K] [--rounds R] [--profile]
                           [--before DIR | --before-rev REV]

`--before DIR` adds an earlier midigan to the same run, for before/after figures: DIR holds a
copy of that tree's `midigan/` folder as `midigan_before/`, its imports renamed
(every `midigan.` in its imports made `midigan_before.`). `--before-rev REV` makes that copy
itself from a git revision of this repository (``git archive``), in a temporary folder.

FOLDER defaults to corpora/. Files are read once before timing, so every method
sees a warm page cache. Figures go to bench/RESULTS.md by hand (section "Ingest").
"""

from __future__ import annotations

import argparse
import cProfile
import io
import platform
import pstats
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import mido
import pretty_midi
import symusic
from miditok import REMI, TokenizerConfig

from midigan.io.midi import read_midi_report
from midigan.representations.events import EventTokens

Method = Callable[[Path], object]


def midigan_tokens(path: Path) -> object:
    return EventTokens.from_midi(path)


def midigan_score_tokens(path: Path) -> object:
    score, _ = read_midi_report(path)  # the report, without the warning: we only time here
    return EventTokens.from_score(score)


def midigan_read(path: Path) -> object:
    return read_midi_report(path)


def pretty_midi_roll(path: Path) -> object:
    return pretty_midi.PrettyMIDI(str(path)).get_piano_roll(fs=100)


def make_miditok() -> Method:
    tokenizer = REMI(TokenizerConfig(use_programs=True, use_tempos=True, use_time_signatures=True))
    return lambda path: tokenizer(path)


def mido_parse(path: Path) -> object:
    return mido.MidiFile(str(path))


def symusic_parse(path: Path) -> object:
    return symusic.Score(path)


def time_pass(method: Method, files: list[Path]) -> tuple[float, float, int]:
    """Wall and CPU seconds for one pass over `files`, and how many files raised.

    CPU time (this process's) is the steadier figure on a machine shared with other jobs:
    it leaves out the time the process waits for a core.
    """
    failures = 0
    start, cpu = time.perf_counter(), time.process_time()
    for path in files:
        try:
            method(path)
        except Exception:  # a benchmark counts failures; it does not stop on them
            failures += 1
    return time.perf_counter() - start, time.process_time() - cpu, failures


def before_tokens(folder: Path) -> Method:
    """`EventTokens.from_midi` of the earlier tree copied under `folder` (see the module doc)."""
    import sys

    sys.path.insert(0, str(folder))
    from midigan_before.representations.events import EventTokens as BeforeTokens

    return lambda path: BeforeTokens.from_midi(path)


def before_tree(revision: str, folder: Path) -> Path:
    """`midigan/` of `revision` as `folder/midigan_before/`, imports renamed; returns `folder`.

    A package of its own name, so both trees load in one process and are timed in one run.
    """
    import re
    import subprocess
    import tarfile

    archive = subprocess.run(["git", "archive", revision, "midigan"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    package = folder / "midigan_before"
    (folder / "midigan").rename(package)
    imports = re.compile(r"^(\s*)(from|import) midigan(\.| )", re.MULTILINE)
    for source in package.rglob("*.py"):
        text = source.read_text()
        source.write_text(imports.sub(r"\1\2 midigan_before\3", text))
    return folder


def run(files: list[Path], rounds: int, before: Path | None = None) -> dict[str, tuple[float, float, int]]:
    methods: dict[str, Method] = {"before: EventTokens.from_midi": before_tokens(before)} if before else {}
    methods |= {
        "midigan EventTokens.from_midi": midigan_tokens,
        "midigan read_midi -> Score -> EventTokens": midigan_score_tokens,
        "midigan read_midi only": midigan_read,
        "miditok REMI tokenizer(path)": make_miditok(),
        "pretty_midi piano roll (fs=100)": pretty_midi_roll,
        "mido parse (reference)": mido_parse,
        "symusic parse (reference)": symusic_parse,
    }
    best: dict[str, tuple[float, float, int]] = {}
    for _ in range(rounds):
        for name, method in methods.items():
            seconds, cpu, failures = time_pass(method, files)
            if name not in best:
                best[name] = (seconds, cpu, failures)
            best[name] = (min(seconds, best[name][0]), min(cpu, best[name][1]), failures)
    return best


def table(results: dict[str, tuple[float, float, int]], count: int) -> str:
    wall, cpu, _ = results["miditok REMI tokenizer(path)"]
    lines = [
        "| method | files/s | ms/file | vs miditok | CPU ms/file | vs miditok (CPU) | failed files |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (seconds, cpu_seconds, failures) in results.items():
        lines.append(
            f"| {name} | {count / seconds:,.0f} | {1000 * seconds / count:.3f} | {wall / seconds:.2f}x "
            f"| {1000 * cpu_seconds / count:.3f} | {cpu / cpu_seconds:.2f}x | {failures} |"
        )
    return "\n".join(lines)


def profile(files: list[Path], top: int = 18) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    time_pass(midigan_tokens, files)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="corpora", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="use the first N files (sorted)")
    parser.add_argument("--rounds", type=int, default=3, help="passes per method; the best counts")
    parser.add_argument("--every", type=int, default=1, help="use every K-th file (sorted)")
    parser.add_argument("--profile", action="store_true", help="cProfile the midigan pass")
    parser.add_argument("--before", type=Path, default=None, help="folder holding midigan_before/")
    parser.add_argument("--before-rev", default=None, help="git revision to time beside the working tree")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory(prefix="ingest-") if args.before_rev else None  # removed at exit
    if scratch is not None:
        args.before = before_tree(args.before_rev, Path(scratch.name))
    files = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    files = files[:: args.every][: args.limit]
    if not files:
        raise SystemExit(f"no MIDI files under {args.folder}")
    size = sum(len(p.read_bytes()) for p in files)  # also warms the page cache
    warnings.simplefilter("ignore")  # quantization or library warnings are not what we time
    print(f"{len(files)} files, {size / len(files) / 1024:.1f} KiB mean, {args.rounds} rounds (best)")
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("symusic", "miditok", "pretty_midi", "mido")
    )
    print(f"python {platform.python_version()}, {versions}")
    if args.before_rev:
        print(f"before: {args.before_rev} ({args.before})")
    print(table(run(files, args.rounds, args.before), len(files)))
    if args.profile:
        print(profile(files))


if __name__ == "__main__":
    main()
