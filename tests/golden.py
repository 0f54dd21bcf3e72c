"""Golden outputs: the bytes midigan writes, recorded so that a refactor can prove it moved nothing.

Only the public surface is used (the CLI, `midigan.load`, `PianoRoll`, `EventTokens`), so the
same script runs before and after any change to where the code lives.

    python tests/golden.py record            # write tests/data/golden.json (every part)
    python tests/golden.py check [--part P]  # compare; P: compose, representations, train, all

`tests/test_golden.py` keeps checking the compose part on every run of the suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "data" / "golden.json"
PRIMER = ROOT / "examples" / "primer.mid"

# Each compose case is the argument list after `midigan compose`, written into a folder of its own.
COMPOSE_CASES: dict[str, list[str]] = {
    "default-seed1": ["--bars", "16", "--seed", "1"],
    "default-seed2": ["--bars", "16", "--seed", "2"],
    "d-6-8-irish": ["--bars", "8", "--key", "D", "--meter", "6/8", "--style", "irish", "--seed", "7"],
    "am-chords": ["--bars", "8", "--key", "Am", "--chords", "Am F C G", "--seed", "3"],
    "3-4-fiddle-bb": ["--bars", "12", "--key", "Bb", "--meter", "3/4", "--style", "fiddle", "--seed", "5"],
    "2-4-chorale": ["--bars", "6", "--meter", "2/4", "--style", "chorale", "--seed", "11"],
    "two-chords-a-bar": ["--bars", "4", "--chords", "C G | Am F", "--seed", "4", "--no-accompaniment"],
    "strict-key-temp": ["--bars", "8", "--key", "Em", "--strict-key", "--temperature", "1.2", "--seed", "9"],
    "primer": ["--bars", "8", "--primer", str(PRIMER), "--seed", "6"],
    "batch-8": ["--bars", "8", "--seed", "12", "-n", "8"],
}

# A few corpus files of different collections and meters.
CORPUS_FILES = [
    "corpora/folk/folk-00001.mid",
    "corpora/irish/irish-00001.mid",
    "corpora/fiddle/fiddle-00001.mid",
    "corpora/chorale/chorale-00001.mid",
]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _folder_hashes(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): _sha(p.read_bytes()) for p in files}


def _cli(args: list[str]) -> None:
    from click.testing import CliRunner

    from midigan.cli import main

    result = CliRunner().invoke(main, args, catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"midigan {' '.join(args)} failed: {result.output}")


def compose_hashes(work: Path) -> dict[str, str]:
    """Every file of every compose case, by case and file name."""
    hashes = {}
    for name, args in COMPOSE_CASES.items():
        out = work / "compose" / name
        out.mkdir(parents=True)
        target = out if "-n" in args else out / "piece.mid"
        _cli(["compose", *args, "-o", str(target)])
        hashes.update({f"{name}/{k}": v for k, v in _folder_hashes(out).items()})
    return hashes


def representation_hashes(work: Path) -> dict[str, str]:
    """The EventTokens ids and the PianoRoll arrays of a few corpus files."""
    import midigan

    hashes = {}
    for rel in CORPUS_FILES:
        score = midigan.load(ROOT / rel)
        tokens = midigan.EventTokens.from_score(score)
        roll = midigan.PianoRoll.from_score(score)
        hashes[f"{rel}/tokens"] = _sha(json.dumps([int(i) for i in tokens.ids]).encode())
        hashes[f"{rel}/pianoroll"] = _sha(roll.velocities.tobytes() + roll.onsets.tobytes())
    return hashes


def train_hashes(work: Path) -> dict[str, str]:
    """The weights of one short seeded run (tiny preset) on 48 corpus pieces."""
    folder = work / "corpus"
    folder.mkdir()
    for path in sorted((ROOT / "corpora" / "folk").glob("*.mid"))[:48]:
        shutil.copy(path, folder / path.name)
    run = work / "run"
    _cli(["train", "--corpus", str(folder), "--out", str(run), "--config", "tiny", "--max-steps", "20",
          "--seed", "0", "--device", "cpu", "--quiet"])  # fmt: skip
    return {str(p.relative_to(run)): _sha(p.read_bytes()) for p in sorted(run.rglob("*.safetensors"))}


PARTS: dict[str, Callable[[Path], dict[str, str]]] = {
    "compose": compose_hashes,
    "representations": representation_hashes,
    "train": train_hashes,
}


def produce(part: str) -> dict[str, str]:
    """The hashes of one part, made in a scratch folder that is removed afterwards."""
    with tempfile.TemporaryDirectory() as scratch:
        return PARTS[part](Path(scratch))


def differences(part: str) -> list[str]:
    """What differs from the recorded hashes of `part` (empty when byte-identical)."""
    recorded = json.loads(GOLDEN.read_text())[part]
    now = produce(part)
    return [
        f"{k}: {'missing' if k not in now else 'new' if k not in recorded else 'changed'}"
        for k in sorted(set(recorded) | set(now))
        if recorded.get(k) != now.get(k)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("action", choices=["record", "check"])
    parser.add_argument("--part", default="all", choices=[*PARTS, "all"])
    args = parser.parse_args()
    parts = list(PARTS) if args.part == "all" else [args.part]
    if args.action == "record":
        recorded = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        recorded.update({part: produce(part) for part in parts})
        GOLDEN.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
        print(f"recorded {', '.join(parts)} in {GOLDEN.name}")
        return 0
    failed = False
    for part in parts:
        diff = differences(part)
        print(f"{part}: {'byte-identical' if not diff else f'{len(diff)} differ'}")
        for line in diff:
            print("  ", line)
        failed |= bool(diff)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
