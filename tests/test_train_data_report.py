"""`midigan train` says what it trains on (issue 13, point 11): counts, files left out and why, melodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_score, make_track
from model_helpers import tiny_run_config, write_corpus

import midigan
from midigan.cli import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """12 tunes, a broken file, a drums-only file, a piece too long, and a two-part file with a lead."""
    work = tmp_path_factory.mktemp("report")
    songs = write_corpus(work / "songs", pieces=12)
    (songs / "broken.mid").write_bytes(b"MThd garbage")
    drums = make_score([(38, 0, 12, 80)])
    drums.tracks[0].is_drum = True
    midigan.save(drums, songs / "drums.mid")
    midigan.save(make_score([(60 + i % 12, 6 * i, 6, 80) for i in range(300)]), songs / "long.mid")
    duet = make_score([(48 + i % 5, 12 * i, 12, 80) for i in range(16)])
    duet.tracks = [
        make_track([(72 + i % 5, 12 * i, 12, 80) for i in range(16)], name="Strings"),
        *duet.tracks,
    ]
    duet.tracks[1].name = "Lead"
    midigan.save(duet, songs / "duet.mid")
    config = work / "short.toml"  # pieces over 200 events are left out: long.mid is
    config.write_text(tiny_run_config(data={"max_events": 200}).to_toml(), encoding="utf-8")
    return work


def _train(folder: Path, monkeypatch, name: str, *extra: str):
    monkeypatch.setenv("MIDIGAN_CACHE_DIR", str(folder / "cache"))
    out = folder / name
    args = [
        "train",
        "--corpus",
        str(folder / "songs"),
        "--out",
        str(out),
        "--config",
        str(folder / "short.toml"),
    ]
    result = CliRunner().invoke(main, [*args, "--max-steps", "2", "--device", "cpu", "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return result.output, out


def test_the_start_says_how_many_pieces_and_which_melodies_and_counts_what_was_left_out(folder, monkeypatch):
    """Once only "4 of 10 corpus files skipped", on a cache miss only, naming none of them."""
    output, _ = _train(folder, monkeypatch, "plain")
    assert "files; training on " in output and "validating on" in output
    assert "(held out for testing: " in output
    assert "melody taken from: 1 a track named for it, 12 the only track" in output
    assert "3 of 16 corpus files left out (1 no melody, 1 too long, 1 unreadable)" in output
    assert "broken.mid" not in output, "the names go to the run folder, and to the screen with --verbose"
    again, _ = _train(folder, monkeypatch, "again")  # from the corpus cache: said all the same
    assert "3 of 16 corpus files left out" in again


def test_the_run_folder_names_every_file_and_verbose_shows_them(folder, monkeypatch):
    output, out = _train(folder, monkeypatch, "verbose", "--verbose")
    assert "left out broken.mid: unreadable: " in output
    assert "left out drums.mid: no melody: no pitched notes" in output
    assert "left out long.mid: too long: 301 events, over [data] max_events = 200" in output
    assert "duet.mid: 16 events, melody track 2 'Lead' (by name)" in output
    rows = {r["id"]: r for r in map(json.loads, (out / "data_log.jsonl").read_text().splitlines())}
    assert len(rows) == 16 and rows["tune000.mid"]["melody"] == "track 1 'Melody'"
    assert rows["long.mid"]["skipped"].startswith("too long") and rows["duet.mid"]["melody_rule"] == "by name"
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    data = next(r for r in records if r.get("event") == "data")
    assert sorted(data["skipped"]) == ["broken.mid", "drums.mid", "long.mid"]
    assert sum(data["pieces"].values()) == 13 and data["melody"] == {"only track": 12, "by name": 1}
