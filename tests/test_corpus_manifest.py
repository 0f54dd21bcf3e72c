"""The one corpus reader: a manifest is checked line by line, the same for train, evaluate and resplit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from midigan.corpus.families import resplit_corpus
from midigan.corpus.manifest import (
    CorpusEntry,
    corpus_entries,
    format_split,
    manifest_entries,
    parse_split,
    read_manifest,
    split_by_shares,
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


# ------------------------------------------------------------------ --split (issue 13, point 10)
def test_split_shares_are_parsed_and_bad_ones_named() -> None:
    assert parse_split("train=0.8, valid=0.1,test=0.1") == {"train": 0.8, "valid": 0.1, "test": 0.1}
    assert format_split(parse_split("test=0.25,train=0.75")) == "train=0.75,valid=0,test=0.25"
    for bad, message in [
        ("train=0.8,tset=0.2", "'tset' is not one of train, valid, test"),
        ("train=0.8,test=x", "is not a number"),
        ("train=0.8,test=0.3", "add up to 1"),
        ("valid=0.5,test=0.5", "with some for train"),
        ("train=1.5,test=-0.5", "not between 0 and 1"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_split(bad)


def test_shares_deal_out_exact_counts_that_depend_only_on_the_files() -> None:
    """A 90/5/5 hash gave 61 files 4 test pieces; shares give the count asked for."""
    ids = [f"song-{i:02d}.mid" for i in range(61)]
    splits = split_by_shares(ids, parse_split("train=0.8,valid=0.1,test=0.1"))
    counts = {name: list(splits.values()).count(name) for name in ("train", "valid", "test")}
    assert counts == {"train": 49, "valid": 6, "test": 6}
    assert split_by_shares(list(reversed(ids)), parse_split("train=0.8,valid=0.1,test=0.1")) == splits
    few = split_by_shares(ids[:3], parse_split("train=0.98,valid=0.01,test=0.01"))
    assert sorted(few.values()) == ["test", "train", "valid"], "a share that is not 0 gets a piece"


def test_a_plain_folder_takes_the_shares_and_a_manifest_refuses_them(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    for i in range(10):
        (plain / f"{i}.mid").parent.mkdir(exist_ok=True)
        (plain / f"{i}.mid").write_bytes(b"")
    entries = corpus_entries(plain, "train=0.6,valid=0.2,test=0.2")
    assert [e.split for e in entries].count("test") == 2 and [e.split for e in entries].count("valid") == 2
    assert [e.split for e in corpus_entries(plain)] == [split_of(e.id) for e in entries], "default unchanged"
    (tmp_path / "built").mkdir()
    built = write_manifest(tmp_path / "built", json.dumps(GOOD))
    with pytest.raises(ConfigError, match="fixes each piece's split"):
        corpus_entries(built, "train=0.6,valid=0.2,test=0.2")
