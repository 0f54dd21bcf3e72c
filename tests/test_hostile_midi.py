"""Hostile MIDI files that parse (issue 12, point 7): each defect found, one test.

Every file here is valid enough for symusic to read, yet its timing or size would make
midigan build millions of barlines, wrap to negative onsets, write a file no reader can
read back, or allocate gigabytes. Each is refused at load with one plain line, or loads
and then saves, reloads and converts; the limits are raisable for the rare real case.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from midi_fuzz import chunk, midi_file, track_bytes, vlq
from model_helpers import write_corpus

from midigan.corpus.manifest import CorpusEntry
from midigan.corpus.stats import corpus_stats
from midigan.errors import ConfigError, MidiReadError, MidiWriteError
from midigan.io import read_score
from midigan.io.midi import midi_bytes, score_from_midi_bytes
from midigan.io.smf import MAX_TICKS, MAX_TRACKS
from midigan.music.score import TPQ, Meter, Note, Score, Tempo, Track, barline_at_or_after
from midigan.representations import EventTokens, NoteStreams, PianoRoll

EOT = b"\xff\x2f\x00"
NOTE = [(0, b"\x90\x3c\x40"), (10, b"\x80\x3c\x00")]


def one_track(events: list, tpq: int = 480) -> bytes:
    return midi_file(1, tpq, [[*events, (0, EOT)]])


def load(data: bytes, **limits) -> Score:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return score_from_midi_bytes(data, "hostile.mid", **limits)[0]


def refused_quickly(data: bytes, match: str, **limits) -> str:
    started = time.perf_counter()
    with pytest.raises(MidiReadError, match=match) as error:
        load(data, **limits)
    assert time.perf_counter() - started < 1.0
    message = str(error.value)
    assert message.startswith("hostile.mid: ") and "\n" not in message and "MiniMidi" not in message
    return message


def test_one_maximal_delta_at_one_tick_per_quarter_is_refused_at_once():
    """Was: 20-27 s and ~6 GB building ~67M barlines in `_end_tick`."""
    for tpq in (1, 3):
        data = one_track([*NOTE, (0x0FFFFFFF, b"\x90\x3e\x40"), (1, b"\x80\x3e\x00")], tpq=tpq)
        message = refused_quickly(data, "past the length limit")
        assert "raise max_ticks= or `midigan --max-ticks N`" in message


@pytest.mark.parametrize("deltas", [8, 16], ids=["wraps-negative", "wraps-silently"])
def test_deltas_that_wrap_the_parsers_32_bit_counter_are_refused(deltas):
    """Was: negative onsets (8 deltas) or notes at wrong times that looked fine (16)."""
    data = one_track(
        [*NOTE, *[(0x0FFFFFFF, b"\xff\x01\x00")] * deltas, (100, b"\x90\x3e\x40"), (10, b"\x80\x3e\x00")]
    )
    refused_quickly(data, "past")


def test_a_long_real_piece_loads_when_max_ticks_is_raised():
    quarters = MAX_TICKS // TPQ + 1000
    data = one_track([*NOTE, (quarters * 480, b"\x90\x3e\x40"), (480, b"\x80\x3e\x00")])
    refused_quickly(data, "max_ticks")
    score = load(data, max_ticks=MAX_TICKS * 2)
    assert score.last_offset == (quarters + 1) * TPQ + 0  # the second note ends a quarter later
    back = load(midi_bytes(score), max_ticks=MAX_TICKS * 2)
    assert back.last_offset == score.last_offset


def test_max_notes_bounds_a_file_and_is_raisable():
    notes = [(0, b"\x90\x3c\x40"), (1, b"\x80\x3c\x00")] * 300
    data = one_track(notes)
    refused_quickly(data, "300 notes", max_notes=100)
    assert load(data).note_count == 300


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "9"])
def test_limits_must_be_positive_whole_numbers(bad):
    with pytest.raises(ConfigError, match="max_ticks"):
        load(one_track(NOTE), max_ticks=bad)


def test_read_score_passes_the_limits_to_the_midi_reader(tmp_path):
    path = tmp_path / "many.mid"
    path.write_bytes(one_track([(0, b"\x90\x3c\x40"), (1, b"\x80\x3c\x00")] * 50))
    with pytest.raises(MidiReadError, match="50 notes"):
        read_score(path, max_notes=10)


def test_notes_at_enormous_offsets_never_reach_the_representations():
    """Was: `PianoRoll.from_score` raising numpy's _ArrayMemoryError (85 files)."""
    data = one_track([*NOTE, (0x0FFFFFFF, b"\x90\x3e\x40"), (0x0FFFFFFF, b"\x80\x3e\x00")], tpq=96)
    refused_quickly(data, "past the length limit")


def test_the_longest_piece_allowed_converts_to_every_representation():
    """At the limit, a tiny file claims the most work allowed: it stays bounded."""
    quarters = MAX_TICKS // TPQ - 8
    events = [(0, b"\x90\x3c\x40"), (1, b"\x80\x3c\x00"), (quarters, b"\x90\x3e\x40"), (1, b"\x80\x3e\x00")]
    score = load(one_track(events, tpq=1))
    assert score.end <= MAX_TICKS + 4 * TPQ
    started = time.perf_counter()
    assert PianoRoll.from_score(score).steps == score.end
    EventTokens.from_score(score)
    NoteStreams.from_score(score)
    assert load(midi_bytes(score)).end == score.end
    assert time.perf_counter() - started < 10


def test_the_largest_legal_tempo_saves_and_reloads():
    """Was: set_tempo 0xFFFFFF (3.58 qpm) loaded, then `save` refused it."""
    score = load(one_track([(0, b"\xff\x51\x03\xff\xff\xff"), *NOTE]))
    assert score.tempos == [Tempo(0, 3.58)]
    assert load(midi_bytes(score)).tempos == [Tempo(0, 3.58)]


def test_a_tempo_midi_cannot_hold_is_a_write_error():
    score = Score(tracks=[Track(notes=[Note(60, 0, 12)])], tempos=[Tempo(0, 3.5)])
    with pytest.raises(MidiWriteError, match=r"3\.58 to 60e6 qpm"):
        midi_bytes(score)


def test_65535_tracks_are_refused_at_load():
    """Was: loaded, then `save` raised struct.error from mido."""
    track = chunk(b"MTrk", track_bytes([*NOTE, (0, EOT)]))
    header = chunk(b"MThd", bytes([0, 1, 0xFF, 0xFF, 1, 0xE0]))
    refused_quickly(header + track * 65535, f"up to {MAX_TRACKS} tracks")
    lying = chunk(b"MThd", bytes([0, 1, 0, 1, 1, 0xE0]))  # the header says one track
    refused_quickly(lying + track * (MAX_TRACKS + 1), f"more than {MAX_TRACKS} tracks")


def test_a_score_with_more_parts_than_midi_holds_is_a_write_error():
    score = Score(tracks=[Track(notes=[Note(60, 0, 12)])] * 65535)
    with pytest.raises(MidiWriteError, match="65,534 parts"):
        midi_bytes(score)


def test_a_gap_longer_than_one_midi_delta_is_refused_not_written_as_five_bytes():
    """Was: deltas above 0x0FFFFFFF written as 5-byte numbers: the file did not read back."""
    score = Score(tracks=[Track(notes=[Note(60, 0, 12), Note(62, 7_000_000, 12)])])
    with pytest.raises(MidiWriteError, match="longer than one MIDI delta time"):
        midi_bytes(score)
    long_end = Score(tracks=[Track(notes=[Note(60, 0, 12)])], end_tick=7_000_032)
    with pytest.raises(MidiWriteError, match="longer than one MIDI delta time"):
        midi_bytes(long_end)


def test_a_score_longer_than_a_32_bit_tick_counter_is_refused():
    notes = [Note(60, i * 6_000_000, 12) for i in range(10)]  # gaps fit a delta; the sum does not
    with pytest.raises(MidiWriteError, match="past tick 2147483647"):
        midi_bytes(Score(tracks=[Track(notes=notes)]))


def test_every_delta_written_fits_four_bytes():
    score = Score(tracks=[Track(notes=[Note(60, 0, 12), Note(62, 6_000_000, 12)])])
    data = midi_bytes(score)
    back = load(data, max_ticks=7_000_000)
    assert back.tracks[0].notes[1].onset == 6_000_000
    assert vlq(6_000_000 * 40 - 12 * 40) in data


def test_a_meter_change_on_the_final_barline_survives_a_save():
    """Found by the fuzz test: 3/4 ending a 4/4 bar early was dropped, and the end moved."""
    score = Score(
        tracks=[Track(notes=[Note(60, 0, 60)])], meters=[Meter(0, 4, 4), Meter(72, 3, 4)], end_tick=72
    )
    back = load(midi_bytes(score))
    assert back.end == 72 and back.meters == score.meters


def test_meters_midi_cannot_write_are_dropped_at_load():
    for numerator, power in ((255, 255), (3, 9), (1, 6)):  # 255/2**255, 3/512, 1/64 (no tick)
        meter = bytes([0xFF, 0x58, 4, numerator, power, 24, 8])
        score = load(one_track([(0, meter), *NOTE]))
        assert score.meters == [Meter(0, 4, 4)]
        midi_bytes(score)


def test_parser_jargon_becomes_a_plain_sentence():
    """Was: "corrupt or truncated MIDI file (MiniMidi: Invaild midi file! ...)"."""
    loud = one_track([(0, b"\x90\x3c\xc8"), (10, b"\x80\x3c\x00")])  # velocity 200
    assert "a velocity of 200" in refused_quickly(loud, "damaged track data")
    cut = midi_file(1, 480, [])[:10] + b"\x00\x01\x01\xe0" + chunk(b"MTrk", b"\x00\x90\x3c")
    assert "ends inside a note" in refused_quickly(cut, "truncated file")
    header = midi_file(1, 480, [])
    broken = header[:4] + (5).to_bytes(4, "big") + header[8:]
    assert "MThd chunk is not 6 bytes" in refused_quickly(broken, "damaged header")


def test_end_of_a_score_is_arithmetic_not_a_walk_over_bars():
    score = Score(tracks=[Track(notes=[Note(60, 10**12, 12)])], meters=[Meter(0, 4, 4), Meter(96, 3, 4)])
    started = time.perf_counter()
    assert score.end == 96 + -(-(10**12 + 12 - 96) // 36) * 36
    assert barline_at_or_after(score.meters, 50) == 96
    assert time.perf_counter() - started < 1.0  # arithmetic, not a walk over 10**11 bars


def test_corpus_stats_skip_and_count_hostile_files(tmp_path: Path):
    """Was: a raw MemoryError traceback after 2:42 on a folder holding 15 such files."""
    hostile = one_track([*NOTE, (0x0FFFFFFF, b"\x90\x3e\x40"), (1, b"\x80\x3e\x00")], tpq=1)
    for i in range(15):
        (tmp_path / f"hostile{i}.mid").write_bytes(hostile)
    (tmp_path / "fine.mid").write_bytes(one_track(NOTE))
    started = time.perf_counter()
    stats = corpus_stats(tmp_path)
    assert (stats["files"], stats["parsed"], len(stats["failed"])) == (16, 1, 15)
    assert all("length limit" in f["error"] for f in stats["failed"])
    assert time.perf_counter() - started < 10


def test_training_reads_skip_and_count_hostile_files(tmp_path: Path):
    """Was: `midigan train` on a user folder holding one died ("cannot split -1073741836 ticks")."""
    from midigan.train.dataset import tokenize

    wrapped = one_track(
        [*NOTE, *[(0x0FFFFFFF, b"\xff\x01\x00")] * 8, (0, b"\x90\x3e\x40"), (10, b"\x80\x3e\x00")]
    )
    melody = [e for p in (60, 62, 64, 65) for e in ((0, bytes([0x90, p, 80])), (480, bytes([0x80, p, 0])))]
    (tmp_path / "bad.mid").write_bytes(wrapped)
    (tmp_path / "good.mid").write_bytes(one_track(melody))
    entries = [CorpusEntry(name, tmp_path / name, None, "train") for name in ("bad.mid", "good.mid")]
    corpus = tokenize(entries, 0.995, "fp")
    assert list(corpus.ids) == ["good.mid"]  # the hostile file is skipped, and counted:
    assert [row["skipped"] is not None for row in corpus.files] == [True, False]
    assert "length limit" in corpus.files[0]["skipped"]


@pytest.mark.slow
def test_pieces_of_the_longest_length_allowed_train_through_both_phases(tmp_path: Path):
    """Was: a 20M-tick piece reached the adversarial phase and died in `_lookback_columns` (9.6 GiB)."""
    corpus = write_corpus(tmp_path / "corpus", pieces=12)
    quarters = MAX_TICKS // TPQ - 8
    longest = [(0, b"\x90\x3c\x40"), (1, b"\x80\x3c\x00"), (quarters, b"\x90\x3e\x40"), (1, b"\x80\x3e\x00")]
    for i in range(3):
        (corpus / f"long{i}.mid").write_bytes(one_track(longest, tpq=1))
    command = [sys.executable, "-c", "from midigan.cli import main; main()", "train", "--corpus", str(corpus)]
    command += [
        "--out",
        str(tmp_path / "run"),
        "--config",
        "tiny",
        "--max-steps",
        "3",
        "--device",
        "cpu",
        "--quiet",
    ]
    env = {**os.environ, "MIDIGAN_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "15 files; training on 15 pieces" in result.stdout + result.stderr
    assert (tmp_path / "run" / "gan" / "model.safetensors").exists()
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 2 * 2**20  # KiB: under 2 GiB
