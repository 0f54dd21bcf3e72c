"""The one reader of a corpus folder: its ``manifest.jsonl``, or the MIDI files of a plain folder.

A built corpus (``midigan corpus build``) lists each piece on one JSON line with at
least ``id``, ``path`` (relative to the folder) and ``split``; the builder adds title,
key, meter, bars, family and more, which :func:`read_manifest` keeps as they are. Any
other folder of MIDI files is a corpus too: each file's id is its relative path and
its split comes from a hash of that id (:func:`split_of`), the rule the builder uses.

Training, evaluation and ``corpus resplit`` read through here, so they agree on what a
valid manifest is: a line that is not JSON, a row without a string ``id`` and ``path``,
a split other than train / valid / test, or an id given twice is a :class:`ConfigError`
naming the file and the line. No torch, no music21: listing a corpus is cheap.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from midigan.errors import ConfigError
from midigan.io import MIDI_SUFFIXES
from midigan.representations.ids import STYLES

MANIFEST_NAME = "manifest.jsonl"
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class CorpusEntry:
    """One file of a corpus.

    Attributes:
        id: the manifest id, or the path relative to a plain folder.
        path: the file (the corpus folder joined with the manifest's path).
        style: a style midigan knows (:data:`~midigan.representations.ids.STYLES`), else None.
        split: 'train', 'valid' or 'test'.
    """

    id: str
    path: Path
    style: str | None
    split: str


def split_of(piece_id: str) -> str:
    """'train', 'valid' or 'test' from sha1(id) mod 100: < 90 train, < 95 valid, else test."""
    bucket = int(hashlib.sha1(piece_id.encode("utf-8")).hexdigest(), 16) % 100
    return "train" if bucket < 90 else "valid" if bucket < 95 else "test"


def read_manifest(corpus: str | Path) -> list[dict]:
    """The rows of `corpus`/manifest.jsonl in file order, every field kept, each row checked.

    Raises:
        ConfigError: no manifest, a line that is not JSON, a row without a string id and
            path or with an unknown split, or an id given twice (the message names file and line).
    """
    path = Path(corpus) / MANIFEST_NAME
    if not path.is_file():
        raise ConfigError(f"{path} not found: build the corpus with `midigan corpus build` or pass --corpus")
    rows: list[dict] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{number}: not a JSON line ({e.msg}); rebuild the corpus") from e
        _check_row(row, f"{path}:{number}")
        if row["id"] in seen:
            raise ConfigError(f"{path}:{number}: id {row['id']!r} already on line {seen[row['id']]}")
        seen[row["id"]] = number
        rows.append(row)
    return rows


def _check_row(row: object, where: str) -> None:
    """A manifest row is an object with a string id and path and a known split."""
    if not (isinstance(row, dict) and isinstance(row.get("id"), str) and isinstance(row.get("path"), str)):
        raise ConfigError(f"{where}: a manifest row needs an id and a path (strings); rebuild the corpus")
    if row.get("split") not in SPLITS:
        raise ConfigError(f"{where}: split {row.get('split')!r} is not one of {', '.join(SPLITS)}")


def manifest_entries(corpus: str | Path) -> list[CorpusEntry]:
    """The entries of a built corpus, in manifest order (see :func:`read_manifest`)."""
    folder = Path(corpus)
    return [
        CorpusEntry(row["id"], folder / row["path"], row["style"] if row.get("style") in STYLES else None,
                    row["split"])
        for row in read_manifest(folder)
    ]  # fmt: skip


def corpus_entries(corpus: str | Path) -> list[CorpusEntry]:
    """The files of a corpus folder, sorted by id: its manifest, else every MIDI file in it.

    Raises:
        ConfigError: not a folder, a malformed manifest, or no MIDI files at all.
    """
    folder = Path(corpus)
    if not folder.is_dir():
        raise ConfigError(f"corpus {folder}: not a folder; give corpora/ or a folder of MIDI files")
    if (folder / MANIFEST_NAME).exists():
        entries = manifest_entries(folder)
    else:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
        names = [path.relative_to(folder).as_posix() for path in files]
        entries = [CorpusEntry(n, path, None, split_of(n)) for n, path in zip(names, files, strict=True)]
    if not entries:
        raise ConfigError(f"corpus {folder}: no MIDI files found")
    return sorted(entries, key=lambda e: e.id)
