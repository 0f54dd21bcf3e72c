"""The one reader of a corpus folder: its ``manifest.jsonl``, or the MIDI files of a plain folder.

A built corpus (``midigan corpus build``) lists each piece on one JSON line with at
least ``id``, ``path`` (relative to the folder) and ``split``; the builder adds title,
key, meter, bars, family and more, which :func:`read_manifest` keeps as they are. Any
other folder of MIDI files is a corpus too: each file's id is its relative path and
its split comes from a hash of that id (:func:`split_of`), the rule the builder uses:
90 / 5 / 5 in expectation, which on a folder of 60 files may leave 2 test pieces. So a
plain folder can be split by shares instead (``--split train=0.8,valid=0.1,test=0.1``,
:func:`parse_split`): the files, ranked by the hash of their id, are dealt out in exactly
those shares (:func:`split_by_shares`), the same way for `midigan train` and `midigan
evaluate`. A built corpus keeps its manifest's splits (``corpus resplit`` changes those).

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


def parse_split(text: str) -> dict[str, float]:
    """The shares of ``train=0.8,valid=0.1,test=0.1`` (a split left out gets 0).

    Raises:
        ConfigError: an unknown split, a share that is not a number in [0, 1], shares
            that do not add up to 1, or no training share.
    """
    shares = dict.fromkeys(SPLITS, 0.0)
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in SPLITS:
            raise ConfigError(f"--split {text!r}: {name!r} is not one of {', '.join(SPLITS)}")
        try:
            shares[name] = float(value)
        except ValueError:
            raise ConfigError(f"--split {text!r}: {name}={value!r} is not a number") from None
        if not 0.0 <= shares[name] <= 1.0:
            raise ConfigError(f"--split {text!r}: {name}={value} is not between 0 and 1")
    if abs(sum(shares.values()) - 1.0) > 1e-6 or shares["train"] <= 0:
        raise ConfigError(f"--split {text!r}: the shares must add up to 1, with some for train")
    return shares


def format_split(shares: dict[str, float]) -> str:
    """``train=0.8,valid=0.1,test=0.1``: what :func:`parse_split` reads."""
    return ",".join(f"{name}={shares[name]:g}" for name in SPLITS)


def split_by_shares(ids: list[str], shares: dict[str, float]) -> dict[str, str]:
    """Each id's split: ids ranked by sha1, then test and valid dealt their share (at least one
    each where the share is not 0, rounded), train the rest. Depends only on the set of ids."""
    ranked = sorted(ids, key=lambda i: hashlib.sha1(i.encode("utf-8")).hexdigest())
    counts = {name: max(1, round(shares[name] * len(ids))) if shares[name] > 0 else 0 for name in SPLITS}
    n_test = min(counts["test"], max(len(ids) - 1, 0))
    n_valid = min(counts["valid"], max(len(ids) - 1 - n_test, 0))
    chosen = {i: "test" for i in ranked[:n_test]} | {i: "valid" for i in ranked[n_test : n_test + n_valid]}
    return {i: chosen.get(i, "train") for i in ids}


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


def corpus_entries(corpus: str | Path, split: str | None = None) -> list[CorpusEntry]:
    """The files of a corpus folder, sorted by id: its manifest, else every MIDI file in it.

    Args:
        split: shares for a plain folder (``train=0.8,valid=0.1,test=0.1``, see
            :func:`split_by_shares`); None splits it by :func:`split_of`.

    Raises:
        ConfigError: not a folder, a malformed manifest, no MIDI files at all, a bad
            `split`, or a `split` for a built corpus (its manifest fixes the splits).
    """
    folder = Path(corpus)
    if not folder.is_dir():
        raise ConfigError(f"corpus {folder}: not a folder; give corpora/ or a folder of MIDI files")
    if (folder / MANIFEST_NAME).exists():
        if split is not None:
            raise ConfigError(
                f"--split: {folder} has a {MANIFEST_NAME} that fixes each piece's split "
                "(change it with `midigan corpus resplit`); --split is for plain folders of MIDI files"
            )
        entries = manifest_entries(folder)
    else:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
        names = [path.relative_to(folder).as_posix() for path in files]
        splits = split_by_shares(names, parse_split(split)) if split else {n: split_of(n) for n in names}
        entries = [CorpusEntry(n, path, None, splits[n]) for n, path in zip(names, files, strict=True)]
    if not entries:
        raise ConfigError(f"corpus {folder}: no MIDI files found")
    return sorted(entries, key=lambda e: e.id)
