"""Work per ABC and MusicXML input is bounded, and every limit can be raised once for a whole command.

Issue 12, open items: music21 took ~43 s on an ABC tune of 1,000 bars and read MusicXML of
any size; the command line had no way to raise the MIDI limits.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import music21
import pytest
from click.testing import CliRunner
from conftest import make_score

from midigan.cli import main
from midigan.corpus.manifest import CorpusEntry
from midigan.errors import ConfigError, MidiReadError
from midigan.io import read_score
from midigan.io.abc import count_abc, split_abc_tunes
from midigan.io.limits import DEFAULT_BARS, DEFAULT_NOTES, ENV_NAMES, check_abc
from midigan.io.midi import write_midi
from midigan.io.musicxml import write_musicxml

CORPUS = Path(music21.__file__).parent / "corpus"


def abc_tune(bars: int, bar: str = "cdef gabc'") -> str:
    return "X:1\nT:Scale\nM:4/4\nL:1/8\nK:C\n" + "|".join([bar] * bars) + "|]\n"


def refused_at_once(path: Path, expected: str, **limits) -> str:
    started = time.perf_counter()
    with pytest.raises(MidiReadError) as error:
        read_score(path, **limits)
    assert time.perf_counter() - started < 1.0  # measured, not parsed
    message = str(error.value)
    assert message.startswith(f"{path}: ") and "\n" not in message and expected in message
    return message


def test_a_long_abc_tune_is_refused_before_music21_parses_it(tmp_path: Path):
    """Was: ~43 s in music21 for 1,000 bars (10,000 bars: many minutes)."""
    path = tmp_path / "long.abc"
    path.write_text(abc_tune(10_000))
    message = refused_at_once(path, f"10,000 bars, over the limit of {DEFAULT_BARS['abc']:,}")
    assert "raise it with max_bars= or `midigan --max-bars N`" in message


def test_an_abc_tune_of_many_notes_in_few_bars_is_refused(tmp_path: Path):
    path = tmp_path / "dense.abc"
    path.write_text(abc_tune(100, bar="cdefgabc" * 4))
    refused_at_once(path, f"3,200 notes, over the limit of {DEFAULT_NOTES['abc']:,}")


def test_abc_limits_are_raised_by_the_readers_keywords(tmp_path: Path):
    path = tmp_path / "tune.abc"
    path.write_text(abc_tune(12))
    refused_at_once(path, "12 bars, over the limit of 10", max_bars=10)
    refused_at_once(path, "96 notes, over the limit of 50", max_notes=50)
    assert sum(len(t.notes) for t in read_score(path, max_bars=12, max_notes=96).tracks) == 96


def test_the_abc_scan_counts_notes_not_chord_symbols_fields_or_comments():
    tune = 'X:1\nT:Gab Dee\nK:G\n"G"GAB c2|!trill!d4 % ab cd\nw: la la\n[K:D]"Em"E4|]\n'
    assert count_abc(tune) == (2, 6)


def test_no_tune_of_the_abc_books_the_corpus_is_built_from_is_refused():
    """O'Neill's, Ryan's and Essen (the corpus build's sources), plus Aird's: the longest writes
    291 bars and 716 notes, well inside the defaults."""
    folders = ("oneills1850", "ryansMammoth", "essenFolksong", "airdsAirs")
    tunes = [
        tune
        for folder in folders
        for path in sorted((CORPUS / folder).glob("*.abc"))
        for tune in split_abc_tunes(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert len(tunes) > 12_000
    for tune in tunes:
        check_abc(tune)  # raises on a refusal
    bars, notes = max(count_abc(t)[0] for t in tunes), max(count_abc(t)[1] for t in tunes)
    assert 250 < bars < DEFAULT_BARS["abc"] / 2 and 500 < notes < DEFAULT_NOTES["abc"] / 2


@pytest.mark.slow
def test_the_largest_real_abc_tune_still_reads():
    """The longest O'Neill tune by notes (716) goes through music21 whole."""
    text = (CORPUS / "oneills1850" / "1801-1850.abc").read_text(encoding="utf-8")
    tune = max(split_abc_tunes(text), key=lambda t: count_abc(t)[1])
    from midigan.io.music21 import convert_music21, parse_abc

    assert len(convert_music21(parse_abc(tune)).score.tracks[0].notes) > 500


def test_musicxml_past_its_notes_or_bars_is_refused_unparsed(tmp_path: Path):
    path = write_musicxml(make_score([(60 + i % 12, 12 * i, 12) for i in range(40)]), tmp_path / "s.musicxml")
    refused_at_once(path, "40 notes, over the limit of 30", max_notes=30)
    refused_at_once(path, "10 bars, over the limit of 8", max_bars=8)
    assert len(read_score(path, max_notes=40, max_bars=10).tracks[0].notes) == 40


def test_a_zipped_musicxml_bomb_is_refused_unopened(tmp_path: Path):
    path = tmp_path / "bomb.mxl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("score.musicxml", b" " * 10_000_000)  # 10 MB of nothing, 10 KB zipped
    assert path.stat().st_size < 100_000
    message = refused_at_once(path, "10,000,000 bytes, over the 409,600 that max_notes allows", max_notes=100)
    assert "raise it with max_notes= or `midigan --max-notes N`" in message


def test_the_readers_default_limits_come_from_the_environment(tmp_path: Path, monkeypatch):
    """What lets the group option reach train's and evaluate's reads, which pass no limits."""
    from midigan.train.dataset import tokenize

    path = write_midi(make_score([(60 + i, 12 * i, 12) for i in range(8)]), tmp_path / "eight.mid")
    monkeypatch.setenv(ENV_NAMES["max_notes"], "5")
    message = refused_at_once(path, "8 notes, over the limit of 5")
    assert "`midigan --max-notes N`" in message
    four = write_midi(make_score([(60 + i, 24 * i, 24) for i in range(4)]), tmp_path / "four.mid")
    entries = [CorpusEntry(p.name, p, None, "train") for p in (path, four)]
    corpus = tokenize(entries, 0.995, "fp")
    assert list(corpus.ids) == ["four.mid"] and "over the limit of 5" in corpus.files[0]["skipped"]
    assert len(read_score(path, max_notes=8).tracks[0].notes) == 8  # a keyword beats the environment
    monkeypatch.setenv(ENV_NAMES["max_notes"], "many")
    with pytest.raises(ConfigError, match="MIDIGAN_MAX_NOTES='many'"):
        read_score(path)


def test_the_group_options_reach_every_read_of_the_command_and_end_with_it(tmp_path: Path, monkeypatch):
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    write_midi(make_score([(60 + i, 12 * i, 12) for i in range(8)]), tmp_path / "eight.mid")
    runner = CliRunner()
    stats = json.loads(
        runner.invoke(main, ["--max-notes", "5", "corpus", "stats", str(tmp_path), "--json"]).output
    )
    assert stats["parsed"] == 0 and "over the limit of 5" in stats["failed"][0]["error"]
    result = runner.invoke(main, ["--max-ticks", "12", "render", str(tmp_path / "eight.mid"), "--png",
                                  str(tmp_path / "x.png")])  # fmt: skip
    assert result.exit_code == 1 and "past the length limit" in result.output
    assert not (tmp_path / "x.png").exists()
    assert all(name not in os.environ for name in ENV_NAMES.values())  # restored
    stats = json.loads(runner.invoke(main, ["corpus", "stats", str(tmp_path), "--json"]).output)
    assert stats["parsed"] == 1
    assert runner.invoke(main, ["--max-notes", "0", "corpus", "stats", str(tmp_path)]).exit_code == 2
