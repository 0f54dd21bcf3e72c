"""The corpus layer: chord labels, splits, the build on a small sample, folder statistics."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_score

from midigan.corpus.build import build_corpus, fit_bar_length
from midigan.corpus.manifest import split_of
from midigan.corpus.stats import corpus_stats, format_stats
from midigan.io.midi import read_midi, write_midi
from midigan.music.harmony import best_template_chord, chorale_chords, estimate_chords
from midigan.music.score import TPQ, ChordLabel, KeySignature, Meter, Tempo

BAR = 4 * TPQ
Q = TPQ


def labels(chords: list[ChordLabel]) -> list[tuple[int, str]]:
    return [(c.tick, c.symbol) for c in chords]


# ----------------------------------------------------------------- estimator
def test_c_e_g_bar_is_c_major() -> None:
    score = make_score([(60, 0, Q), (64, Q, Q), (67, 2 * Q, Q), (72, 3 * Q, Q)])
    assert labels(estimate_chords(score)) == [(0, "C")]


def test_a_c_e_bar_in_c_major_is_a_minor() -> None:
    score = make_score([(69, 0, 2 * Q), (72, 2 * Q, Q), (76, 3 * Q, Q)])
    assert labels(estimate_chords(score)) == [(0, "Am")]


def test_dominant_seventh_wins_only_when_the_seventh_sounds() -> None:
    with_seventh = make_score([(67, 0, Q), (71, Q, Q), (74, 2 * Q, Q), (77, 3 * Q, Q)])
    assert labels(estimate_chords(with_seventh)) == [(0, "G7")]
    without = make_score([(67, 0, Q), (71, Q, Q), (74, 2 * Q, Q), (71, 3 * Q, Q)])
    assert labels(estimate_chords(without)) == [(0, "G")]


def test_bar_splits_in_halves_when_harmony_changes() -> None:
    notes = [(60, 0, Q), (64, Q, Q), (67, 2 * Q, Q), (71, 3 * Q, Q)]  # C E | G B
    notes += [(72, BAR, 2 * Q), (67, BAR + 2 * Q, 2 * Q)]
    score = make_score(notes)
    assert labels(estimate_chords(score)) == [(0, "C"), (2 * Q, "G"), (BAR, "C")]


def test_minor_key_prior_and_empty_bar_keeps_the_chord() -> None:
    score = make_score([(69, 0, 4 * Q), (64, 2 * BAR, 4 * Q), (68, 3 * BAR, 4 * Q)], key=(9, "minor"))
    # A alone -> Am (tonic prior); the silent bar continues it; E alone still fits Am best;
    # G# alone -> E (the dominant prior beats the non-diatonic G#dim)
    assert labels(estimate_chords(score)) == [(0, "Am"), (3 * BAR, "E")]


def test_estimator_is_deterministic() -> None:
    notes = [(60 + (i * 7) % 12, i * 6, 6) for i in range(64)]
    score = make_score(notes, meter=(6, 8))
    assert estimate_chords(score) == estimate_chords(score.copy())


# ----------------------------------------------------------------- chorale harmony
def test_template_matcher_names_triads_and_sevenths() -> None:
    assert best_template_chord([(48, 1), (64, 1), (67, 1), (72, 1)]) == (0, "maj")
    assert best_template_chord([(43, 1), (59, 1), (65, 1), (74, 1)]) == (7, "7")
    assert best_template_chord([(45, 1), (64, 1), (72, 1), (69, 1)]) == (9, "min")
    assert best_template_chord([]) is None


def test_bwv_66_6_harmony() -> None:
    from music21 import corpus

    from midigan.io.music21 import convert_music21

    score = convert_music21(corpus.parse("bach/bwv66.6")).score
    assert score.keys == [KeySignature(0, 6, "minor")]
    chords = chorale_chords(score)
    # the pickup beat (tick 36 of the padded first bar) is A major, then F#m on the downbeat
    assert labels(chords)[:4] == [(36, "A"), (48, "F#m"), (60, "E"), (72, "A")]


# ----------------------------------------------------------------- build pieces
def test_split_is_fixed_by_the_id() -> None:
    assert [split_of(f"folk-{i:05d}") for i in (1, 6, 30)] == ["train", "test", "valid"]
    counts = Counter(split_of(f"folk-{i:05d}") for i in range(10_000))
    assert 8800 < counts["train"] < 9200
    assert 400 < counts["valid"] < 600
    assert 400 < counts["test"] < 600


def test_fit_bar_length_halves_long_bars() -> None:
    score = make_score([(60, 0, 96), (62, 96, 96)], meter=(4, 1), qpm=100.0)
    fit_bar_length(score)
    assert score.meters == [Meter(0, 4, 2)]
    assert score.tempos == [Tempo(0, 200.0)]
    assert [(n.onset, n.duration) for n in score.tracks[0].notes] == [(0, 48), (48, 48)]


MANIFEST_FIELDS = {
    "id", "source", "ref", "style", "title", "key", "tonic", "mode", "meter", "meters", "qpm",
    "bars", "notes", "tracks", "chords", "chord_source", "split", "family", "path",
}  # fmt: skip


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(out, sources=["essen", "ryans", "chorales"], jobs=1, limit=4, progress=False)
    return out


def test_build_writes_manifest_report_and_files(small_corpus: Path) -> None:
    rows = [json.loads(line) for line in (small_corpus / "manifest.jsonl").read_text().splitlines()]
    report = json.loads((small_corpus / "build_report.json").read_text())
    assert report["tunes"] == 12
    assert report["built"] == len(rows) >= 9  # Essen's first tunes include free-meter ones
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    for row in rows:
        assert set(row) == MANIFEST_FIELDS
        assert row["family"] <= row["id"] and row["split"] == split_of(row["family"])
        score = read_midi(small_corpus / row["path"])
        assert score.tracks[0].name == "Melody"
        assert len(score.tracks[0].notes) == row["notes"]
        assert score.bar_count == row["bars"]
        assert (score.keys[0].name, score.meters[0].name) == (row["key"], row["meter"])
        assert len(score.chords) == row["chords"] > 0
    styles = {r["style"]: r for r in rows}
    assert styles["chorale"]["chord_source"] == "harmony" and styles["chorale"]["tracks"] == 4
    assert styles["folk"]["chord_source"] == "estimated" and styles["folk"]["tracks"] == 1
    assert sum(report["sources"]["essen"]["skipped"].values()) == 4 - report["sources"]["essen"]["built"]


def test_build_is_the_same_with_two_workers(small_corpus: Path, tmp_path: Path) -> None:
    build_corpus(tmp_path, sources=["essen", "ryans", "chorales"], jobs=2, limit=4, progress=False)
    assert (tmp_path / "manifest.jsonl").read_text() == (small_corpus / "manifest.jsonl").read_text()
    for row in (small_corpus / "manifest.jsonl").read_text().splitlines():
        path = json.loads(row)["path"]
        assert (tmp_path / path).read_bytes() == (small_corpus / path).read_bytes()


def test_unknown_source_is_a_clear_error(tmp_path: Path) -> None:
    from midigan.errors import MidiganError

    with pytest.raises(MidiganError, match="unknown source 'nottingham'"):
        build_corpus(tmp_path, sources=["nottingham"], progress=False)


# ----------------------------------------------------------------- stats
def test_stats_count_and_name_a_corrupt_file(tmp_path: Path, twinkle) -> None:
    write_midi(twinkle, tmp_path / "a.mid")
    (tmp_path / "sub").mkdir()
    write_midi(twinkle.transpose(2), tmp_path / "sub" / "b.midi")
    (tmp_path / "sub" / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (tmp_path / "notes.txt").write_text("not midi")
    stats = corpus_stats(tmp_path)
    assert (stats["files"], stats["parsed"]) == (3, 2)
    assert [f["path"] for f in stats["failed"]] == ["sub/broken.mid"]
    assert stats["notes"] == 14
    assert stats["keys"] == {"C": 1, "D": 1}
    assert stats["meters"] == {"4/4": 2}
    assert stats["note_lengths"] == {"1": 12, "2": 2}
    assert (stats["pitch"]["min"], stats["pitch"]["max"]) == (60, 71)
    assert stats["tracks_per_file"] == {"1": 2}
    assert stats["files_with_drums"] == 0
    text = format_stats(stats)
    assert "sub/broken.mid" in text and "failed 1" in text


def test_stats_cli_json(tmp_path: Path, twinkle) -> None:
    from midigan.cli import main

    write_midi(twinkle, tmp_path / "a.mid")
    result = CliRunner().invoke(main, ["corpus", "stats", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["parsed"] == 1


def test_stats_of_an_empty_folder(tmp_path: Path) -> None:
    stats = corpus_stats(tmp_path)
    assert stats["files"] == 0 and stats["pitch"]["min"] is None
    assert "MIDI files        0" in format_stats(stats)


def test_build_refuses_a_folder_with_files_unless_forced(small_corpus: Path, tmp_path: Path) -> None:
    from midigan.cli import main
    from midigan.errors import ConfigError

    shutil.copytree(small_corpus, tmp_path / "c")
    before = {p: p.read_bytes() for p in (tmp_path / "c").rglob("*") if p.is_file()}
    midi = sum(1 for p in before if p.suffix == ".mid")
    with pytest.raises(ConfigError, match=rf"{midi} MIDI files, manifest.jsonl and build_report.json"):
        build_corpus(tmp_path / "c", sources=["essen"], jobs=1, limit=2, progress=False)
    args = ["corpus", "build", "--out", str(tmp_path / "c"), "--jobs", "1", "--limit", "2", "--quiet"]
    refused = CliRunner().invoke(main, [*args, "--sources", "essen"])
    assert refused.exit_code == 1 and "--force" in refused.output and "Traceback" not in refused.output
    assert {p: p.read_bytes() for p in (tmp_path / "c").rglob("*") if p.is_file()} == before  # untouched
    forced = CliRunner().invoke(main, [*args, "--sources", "essen", "--force"])
    assert forced.exit_code == 0, forced.output
    assert f"overwriting {tmp_path / 'c'}: {midi} MIDI files" in forced.output
    assert (tmp_path / "c" / "manifest.jsonl").read_bytes() != before[tmp_path / "c" / "manifest.jsonl"]


def test_build_cli_prints_counts_and_reasons(tmp_path: Path) -> None:
    from midigan.cli import main

    args = ["corpus", "build", "--out", str(tmp_path), "--jobs", "1", "--limit", "3", "--quiet"]
    result = CliRunner().invoke(main, [*args, "--sources", "essen,chorales"])
    assert result.exit_code == 0, result.output
    assert "built 4 of 6 tunes" in result.output
    assert "free meter" in result.output
    bad = CliRunner().invoke(main, [*args, "--sources", "nottingham"])
    assert bad.exit_code == 1 and "unknown source" in bad.output
