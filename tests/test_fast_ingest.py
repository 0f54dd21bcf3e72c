"""MIDI -> EventTokens without Note objects (issue 14, point 3) gives the ids of the Score path.

`EventTokens.from_midi` takes the reader's arrays straight to the encoder; the old path reads
a Score and tokenizes it. Both must agree id for id on every file, and the cheaper length
check of the reader (`delta_bound`, which spares most files the event walk of all but the
first track) must refuse exactly the files the full walk refuses.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import pytest
from midi_fuzz import DATA, Event, midi_file, mutated_file, seeds, vlq

from midigan.errors import MidiganError
from midigan.io.midi import (
    _chord_labels,
    _chord_markers,
    _convert_chords,
    _convert_keys,
    _convert_meters,
    _convert_tempos,
    _maps,
    _rows,
    arrays_from_midi_bytes,
    read_midi_report,
    score_from_midi_bytes,
)
from midigan.io.score_arrays import _token_order
from midigan.io.smf import COUNTER_LIMIT, _track_chunks, _walk_track, check_header, delta_bound, walk
from midigan.music.score import Meter, Score
from midigan.representations import EventTokens
from midigan.representations.event_encoder import Encoder, PieceArrays, bar_starts
from midigan.representations.events import default_vocab

CORPUS = Path(__file__).parent.parent / "corpora"


def score_path(path: Path) -> EventTokens:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EventTokens.from_score(read_midi_report(path)[0])


def fast_path(path: Path) -> EventTokens:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EventTokens.from_midi(path)


def same(a: EventTokens, b: EventTokens) -> bool:
    return np.array_equal(a.ids, b.ids) and a.track_names == b.track_names and a.title == b.title


def readable(paths: list[Path]) -> list[Path]:
    out = []
    for path in paths:
        try:
            score_path(path)
        except MidiganError:
            continue
        out.append(path)
    return out


def test_fixture_files_give_the_same_ids_both_ways():
    files = readable(sorted(DATA.glob("*.mid")))
    assert len(files) >= 6  # drums, meter changes, several programs, off-grid, overlapping pitches...
    for path in files:
        assert same(fast_path(path), score_path(path)), path


@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs the committed corpus")
def test_a_sample_of_the_corpus_gives_the_same_ids_both_ways():
    files = sorted(CORPUS.rglob("*.mid"))[::97]  # every family: bach, folk, O'Neill's, Ryan's
    assert len(files) > 100
    for path in files:
        fast, slow = fast_path(path), score_path(path)
        assert same(fast, slow), path
        assert fast.to_score().note_count > 0


def test_mutated_files_agree_or_fail_alike():
    """Fuzzed bytes (odd meters, ragged tracks, huge deltas): the same ids or the same error."""
    vocab, bases = default_vocab(), seeds()
    agreed = 0
    for index in range(150):
        data = mutated_file(7, index, bases)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                expected = EventTokens.from_score(score_from_midi_bytes(data, "f.mid")[0]).ids
            except MidiganError as e:
                with pytest.raises(type(e)) as error:
                    Encoder(
                        PieceArrays.from_arrays(arrays_from_midi_bytes(data, "f.mid")[0], vocab), vocab
                    ).encode()
                assert str(error.value) == str(e)
                continue
            got = Encoder(
                PieceArrays.from_arrays(arrays_from_midi_bytes(data, "f.mid")[0], vocab), vocab
            ).encode()
        assert np.array_equal(got, expected), index
        agreed += 1
    assert agreed > 30  # most mutations still load


def random_meters(rng: random.Random) -> list[Meter]:
    meters = [Meter(rng.choice([0, 0, 0, 5, 24]), rng.randint(1, 7), rng.choice([2, 4, 8]))]
    for _ in range(rng.randint(0, 4)):
        meters.append(Meter(rng.randint(-12, 300), rng.randint(1, 9), rng.choice([1, 2, 4, 8, 16])))
    return meters


def test_bar_starts_in_arithmetic_match_the_walk_over_bars():
    rng = random.Random(3)
    for _ in range(400):
        meters, until = random_meters(rng), rng.randint(-5, 700)
        expected = Score(meters=meters).bar_starts(until)
        assert bar_starts(meters, until).tolist() == expected, (meters, until)


def exact_walk_refuses(data: bytes, limit: int) -> bool:
    """The reference: every track walked event by event."""
    return any(_walk_track(data, start, stop, limit)[2] > limit for start, stop in _track_chunks(data))


def test_the_bound_refuses_exactly_what_walking_every_track_refuses():
    rng, bases = random.Random(5), seeds()
    for index in range(300):
        data = mutated_file(11, index, bases)
        try:
            tpq = check_header(data, "f")
        except MidiganError:
            continue
        limit = rng.choice([COUNTER_LIMIT, 480 * 64, 2000])
        try:
            walk(data, "f", limit, tpq)
            refused = False
        except MidiganError:
            refused = True
        assert refused == exact_walk_refuses(data, limit), index


def brute_force_bound(data: bytes) -> int | None:
    """Sum of the number starting at every byte (None: one runs past four bytes)."""
    padded, total = data + bytes(4), 0
    for pos in range(len(data)):
        value = 0
        for byte in padded[pos : pos + 4]:
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        else:
            return None
        total += value
    return total


def test_delta_bound_bounds_every_reading_of_the_bytes():
    rng = random.Random(9)
    for _ in range(2000):
        share = rng.random()
        data = bytes(
            rng.randint(0x80, 0xFF) if rng.random() < share else rng.randint(0, 0x7F) for _ in range(40)
        )
        exact, bound = brute_force_bound(data), delta_bound(data)
        if exact is None:
            assert bound > COUNTER_LIMIT
        else:  # at most 127 over per byte: a two-byte number counted at its largest
            assert exact <= bound <= exact + 0x7F * len(data)


def test_a_long_second_track_behind_text_the_bound_cannot_clear_is_still_walked_and_refused():
    text = "Ó Néill: ÓÉÍ".encode()  # multi-byte UTF-8: a run of six bytes >= 0x80
    note = [(0, b"\x90\x3c\x40"), (10, b"\x80\x3c\x00")]
    tracks = [
        [(0, b"\xff\x2f\x00")],
        [
            (0, b"\xff\x03" + bytes([len(text)]) + text),
            *note,
            (0x0FFFFFFF, b"\x90\x3e\x40"),
            (0, b"\xff\x2f\x00"),
        ],
    ]
    data = midi_file(1, 1, tracks)
    assert delta_bound(data[_track_chunks(data)[1][0] :]) > COUNTER_LIMIT
    with pytest.raises(MidiganError, match="past the length limit"):
        score_from_midi_bytes(data, "f.mid")
    tracks[1][-2] = (1, b"\x90\x3e\x40")  # a short piece with the same text loads
    assert len(score_from_midi_bytes(midi_file(1, 480, tracks), "f.mid")[0].tracks) == 1


def marker_files() -> list[bytes]:
    """Fixtures, every 97th corpus file and fuzzed bytes: the chord-marker readings to compare."""
    paths = sorted(DATA.glob("*.mid")) + (sorted(CORPUS.rglob("*.mid"))[::97] if CORPUS.is_dir() else [])
    bases = seeds()
    return [p.read_bytes() for p in paths] + [mutated_file(13, i, bases) for i in range(200)]


def conductor_files(count: int, seed: int) -> list[bytes]:
    """Files whose first track mixes tempo, meter, key and marker events of odd lengths and
    values with deltas of one to four bytes, channel messages, SysEx and stray status bytes:
    where the walk's reading and symusic's could part."""
    rng = random.Random(seed)
    sizes = {0x51: 3, 0x58: 4, 0x59: 2}
    symbols = ["C", "Am", "G7", "F#m7b5", "Bb", "N.C.", "Xq", "Dsus4", "E"]

    def event() -> bytes:
        roll = rng.random()
        if roll < 0.75:
            kind = rng.choice([0x51, 0x58, 0x59, 0x06, 0x06, 0x03, 0x01])
            size = rng.randint(0, 6) if rng.random() < 0.1 else sizes.get(kind, rng.randint(0, 12))
            if kind == 0x06 and rng.random() < 0.7:
                body = f"chord:{rng.choice(symbols)}".encode() + (b"\xff" if rng.random() < 0.05 else b"")
            elif kind == 0x58 and size == 4 and rng.random() < 0.8:
                body = bytes(
                    [rng.choice([0, 1, 3, 4, 7, 255]), rng.choice([0, 2, 3, 7, 8, 31, 32, 255]), 24, 8]
                )
            else:
                body = bytes(rng.randrange(256) for _ in range(size))
            return b"\xff" + bytes([kind]) + vlq(len(body)) + body
        if roll < 0.85:
            return rng.choice([b"\x90\x3c\x40", b"\xc0\x05", b"\x3c\x00"])
        if roll < 0.93:
            return b"\xf0\x02\x01\xf7"
        return bytes([rng.choice([0xF1, 0xF8, 0xFE, 0xF7])]) + bytes(rng.randint(0, 3))

    files = []
    for _ in range(count):
        deltas = [0, 0, 1, 5, 480, 960, 1920, 20000, 3000000]
        first: list[Event] = [(rng.choice(deltas), event()) for _ in range(rng.randint(0, 12))]
        first.append((rng.choice([0, 10]), b"\xff\x2f\x00"))
        if rng.random() < 0.1:  # an event after the end of track
            first.append((0, b"\xff\x51\x03\x07\xa1\x20"))
        notes: list[Event] = [(0, b"\x90\x3c\x40"), (480, b"\x80\x3c\x00"), (0, b"\xff\x2f\x00")]
        if rng.random() < 0.2:  # one in the second track
            notes.insert(
                0, (rng.randint(0, 500), rng.choice([b"\xff\x51\x03\x07\xa1\x20", b"\xff\x06\x07chord:C"]))
            )
        data = midi_file(
            1, rng.choice([480, 96, 7]), [first, notes] if rng.random() < 0.9 else [first + notes]
        )
        files.append(data[: rng.randint(14, len(data))] if rng.random() < 0.05 else data)
    return files


def walked_and_parsed(files: list[bytes]):
    """(tpq, the walk's layout, symusic's score) of each file that both read; the others skipped."""
    import symusic

    for data in files:
        try:
            tpq = check_header(data, "f")
            read = tpq, walk(data, "f", COUNTER_LIMIT, tpq), symusic.Score.from_midi(data)
        except (MidiganError, RuntimeError, ValueError, OverflowError, IndexError):
            continue
        yield read


def test_chord_markers_from_the_walk_are_those_symusic_holds():
    """The walk's first-track markers stand in for symusic's objects only where they agree."""
    compared = 0
    for tpq, layout, score in walked_and_parsed(marker_files() + conductor_files(600, 17)):
        by_objects = _chord_markers(score.markers, None)  # no walked list: symusic's own
        assert _chord_markers(score.markers, layout.markers) == by_objects
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown symbols
            assert _chord_labels(layout.markers, score.markers, tpq, "f") == _convert_chords(
                by_objects, tpq, "f"
            )
        compared += bool(by_objects)
    assert compared > 100


def test_tempos_meters_and_keys_from_the_walk_are_those_symusic_holds():
    """The walk's first-track tempo, meter and key events stand in for symusic's lists only where
    the two readings agree (same count, standard lengths, distinct ticks, a first track of meta
    events alone): the converted maps are the same either way."""
    walked = 0
    for tpq, layout, score in walked_and_parsed(marker_files() + conductor_files(1500, 19)):
        tempos, meters, keys = score.tempos, score.time_signatures, score.key_signatures
        by_objects = (
            _convert_tempos(_rows(tempos, "time", "mspq"), tpq),
            _convert_meters(_rows(meters, "time", "numerator", "denominator"), tpq),
            _convert_keys(_rows(keys, "time", "key", "tonality"), tpq),
        )
        for _ in range(2):  # computed, then remembered
            by_walk = _maps(layout.metas, score, tpq)
            assert by_walk[:2] == by_objects[:2]
            assert [(k, k.spelling) for k in by_walk[2]] == [(k, k.spelling) for k in by_objects[2]]
        walked += layout.metas is not None and len(layout.metas[0x51]) == len(tempos) > 0
    assert walked > 200  # the walk's reading is used, not only the fallback


def test_one_sort_key_orders_notes_as_the_five_key_lexsort():
    rng = np.random.default_rng(4)
    for _ in range(300):
        n, tracks = int(rng.integers(1, 60)), int(rng.integers(1, 5))
        table = np.stack(
            [
                rng.integers(0, 40, n),
                rng.integers(0, tracks, n),
                rng.integers(0, 128, n),
                rng.integers(1, 30, n),
                rng.integers(1, 128, n),
            ]
        ).astype(np.int64)
        expected = table[:, np.lexsort(table[::-1])]
        assert np.array_equal(table.take(_token_order(table, tracks), axis=1), expected)
        bound = int(max(table[0].max(), table[3].max())) + 2  # as the reader's bound: any larger one
        assert np.array_equal(table.take(_token_order(table, tracks, bound), axis=1), expected)


def test_keys_too_large_for_int64_sort_as_python_ints():
    """A piece whose sort keys pass 2**62 takes the object-array path, with the same ids."""
    vocab = default_vocab()
    notes = np.asarray([[0, 12, 12, 30], [0, 0, 1, 0], [60, 64, 40, 67], [12, 6, 6, 12], [80, 70, 90, 100]])

    def piece(end: int) -> PieceArrays:
        starts = np.asarray([0, 48], dtype=np.int64)
        return PieceArrays([0, 33], [False, True], notes, end, starts, [Meter(0, 4, 4)], [], [], [])

    wide = Encoder(piece(2**60), vocab)
    assert wide.dtype is object
    assert np.array_equal(wide.encode(), Encoder(piece(48), vocab).encode())
