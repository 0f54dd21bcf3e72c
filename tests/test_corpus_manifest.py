"""The one corpus reader: a manifest is checked line by line, the same for train, evaluate and resplit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from midigan.corpus.families import resplit_corpus
from midigan.corpus.manifest import (
    CorpusEntry,
    corpus_entries,
    manifest_entries,
    read_manifest,
    split_of,
)
from midigan.errors import ConfigError

CORPORA = Path(__file__).resolve().parents[1] / "corpora"

GOOD = {"id": "folk-00002", "path": "folk/folk-00002.mid", "split": "train", "style": "folk", "bars": 8}


def write_manifest(folder: Path, *lines: str) -> Path:
    (folder / "manifest.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


def test_rows_keep_every_field_and_the_file_order(tmp_path: Path) -> None:
    other = {**GOOD, "id": "folk-00001", "path": "folk/folk-00001.mid", "style": "jazz"}
    write_manifest(tmp_path, json.dumps(GOOD), "", json.dumps(other))
    assert read_manifest(tmp_path) == [GOOD, other]
    entries = manifest_entries(tmp_path)
    assert [e.id for e in entries] == ["folk-00002", "folk-00001"]
    assert entries[0] == CorpusEntry("folk-00002", tmp_path / "folk/folk-00002.mid", "folk", "train")
    assert entries[1].style is None  # a style midigan does not know is no style
    assert [e.id for e in corpus_entries(tmp_path)] == ["folk-00001", "folk-00002"]  # sorted by id


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r"manifest\.jsonl:2: not a JSON line"),
        ('["folk-00003"]', r"manifest\.jsonl:2: a manifest row needs an id and a path"),
        ('{"id": 3, "path": "x.mid", "split": "train"}', r"manifest\.jsonl:2: a manifest row needs an id"),
        (
            '{"id": "folk-00003", "split": "train"}',
            r"manifest\.jsonl:2: a manifest row needs an id and a path",
        ),
        ('{"id": "folk-00003", "path": "x.mid"}', r"manifest\.jsonl:2: split None is not one of train"),
        ('{"id": "folk-00003", "path": "x.mid", "split": "dev"}', r"manifest\.jsonl:2: split 'dev'"),
        (json.dumps(GOOD), r"manifest\.jsonl:2: id 'folk-00002' already on line 1"),
    ],
)
def test_a_bad_line_is_named_by_file_and_number(tmp_path: Path, line: str, message: str) -> None:
    write_manifest(tmp_path, json.dumps(GOOD), line)
    for reader in (read_manifest, corpus_entries, resplit_corpus):
        with pytest.raises(ConfigError, match=message):
            reader(tmp_path)


def test_no_manifest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"manifest\.jsonl not found"):
        read_manifest(tmp_path)
    with pytest.raises(ConfigError, match="not a folder"):
        corpus_entries(tmp_path / "missing")


def test_split_rule_is_the_hash_of_the_id() -> None:
    assert [split_of(f"folk-{i:05d}") for i in (1, 6, 30)] == ["train", "test", "valid"]


def test_the_shipped_corpus_passes_the_checks() -> None:
    rows = read_manifest(CORPORA)
    assert len(rows) > 10_000
    assert all(row["split"] == split_of(row["family"]) for row in rows)
