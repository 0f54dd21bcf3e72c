"""Score -> event-token ids, from arrays: the encoder behind :class:`~midigan.representations.EventTokens`.

The encoder works on a :class:`PieceArrays` (notes as numpy columns, the short maps as
lists), so a corpus can be tokenized straight from the MIDI reader's arrays
(:func:`midigan.io.midi.read_midi_arrays`) without one Python object per note;
:meth:`PieceArrays.from_score` makes the same input from a :class:`Score`. The grammar
and the token order are described in :mod:`midigan.representations.events`.
"""

from __future__ import annotations

import bisect
import functools
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from midigan.errors import TheoryError, TokenGrammarError
from midigan.music.score import KeySignature, Meter, Score, Tempo, barline_at_or_after
from midigan.representations.event_vocab import (
    BAR,
    BOS,
    CHORD,
    DRUM,
    DURATION,
    EOS,
    KEY,
    METER,
    PITCH,
    POSITION,
    PROGRAM,
    TEMPO,
    TRACK,
    VELOCITY,
    TokenVocab,
)
from midigan.representations.ids import chord_id

if TYPE_CHECKING:
    from midigan.io.score_arrays import ScoreArrays

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class PieceArrays:
    """What the encoder reads: a score with its notes as one `(5, N)` int64 table.

    Attributes:
        programs, drums: per track, the header's Program and Drum tokens.
        notes: rows onset, track, pitch, duration, velocity (:data:`~midigan.io.score_arrays.NOTE_ROWS`),
            one column per note, in any order.
        end: the piece's end tick (:attr:`Score.end`).
        starts: every barline from 0 to the first at or after `end` (:meth:`Score.bar_starts`).
        chords: `(tick, root, quality)` per chord label.
        ordered: the table is the MIDI reader's (:attr:`ScoreArrays.notes`): already in token
            order, every onset inside the piece, every value in MIDI's range (pitch 0-127,
            velocity 1-127, duration >= 1), so the encoder neither sorts, filters nor clips
            (durations past the vocabulary's longest still clip).
    """

    programs: list[int]
    drums: list[bool]
    notes: np.ndarray
    end: int
    starts: np.ndarray
    meters: list[Meter]
    tempos: list[Tempo]
    keys: list[KeySignature]
    chords: list[tuple[int, int | None, str]]
    ordered: bool = False

    @classmethod
    def from_score(cls, score: Score, vocab: TokenVocab) -> PieceArrays:
        """The encoder's input for a Score (one row per note, gathered in Python)."""
        check_tracks(len(score.tracks), vocab)
        rows = [
            (n.onset, i, n.pitch, n.duration, n.velocity) for i, t in enumerate(score.tracks) for n in t.notes
        ]
        notes = np.asarray(rows, dtype=np.int64).T if rows else np.zeros((5, 0), dtype=np.int64)
        return cls(
            [t.program for t in score.tracks],
            [t.is_drum for t in score.tracks],
            notes,
            score.end,
            np.asarray(score.bar_starts(), dtype=np.int64),
            score.meters,
            score.tempos,
            score.keys,
            [(c.tick, c.root, c.quality) for c in score.chords],
        )

    @classmethod
    def from_arrays(cls, piece: ScoreArrays, vocab: TokenVocab) -> PieceArrays:
        """The same input as :meth:`from_score` of ``piece.to_score()``, with no `Note` objects."""
        check_tracks(len(piece.names), vocab)
        notes, end = piece.notes, piece.end_tick
        if end is None:  # as Score.end
            last = int((notes[0] + notes[3]).max()) if notes.shape[1] else 0
            end = barline_at_or_after(piece.meters, last) if last else 0
        return cls(
            piece.programs,
            piece.drums,
            notes,
            end,
            bar_starts(piece.meters, end),
            piece.meters,
            piece.tempos,
            piece.keys,
            piece.chords,
            ordered=True,
        )


def check_tracks(count: int, vocab: TokenVocab) -> None:
    """Raises TokenGrammarError when the vocabulary has too few track slots."""
    if count > vocab.config.max_tracks:
        raise TokenGrammarError(
            f"score has {count} tracks; the token vocabulary holds "
            f"{vocab.config.max_tracks} (raise EventConfig.max_tracks)"
        )


def bar_starts(meters: list[Meter], until: int) -> np.ndarray:
    """:meth:`Score.bar_starts` in arithmetic per meter change, not a loop per bar.

    Barlines follow :func:`~midigan.music.score.iter_bars`: every meter change after the
    first starts a bar where it stands, and the first meter rules before it starts.

    Raises:
        TheoryError: a meter whose bar is shorter than one tick.
    """
    if until <= 0:
        return np.zeros(1, dtype=np.int64)
    ordered = sorted(meters, key=lambda m: m.tick) or [Meter(0, 4, 4)]
    if len(ordered) == 1:  # one meter throughout, as in most pieces: one arange
        bar = ordered[0].bar_ticks
        if bar <= 0:
            raise TheoryError(f"meter {ordered[0].name} at {ordered[0].tick}: a bar under one tick")
        return np.arange(0, (-(-until // bar) + 1) * bar, bar, dtype=np.int64)
    ticks = [m.tick for m in ordered]
    segments = [0, *sorted({t for t in ticks[1:] if t > 0})]
    lines = []
    for i, start in enumerate(segments):
        meter = ordered[max(bisect.bisect_right(ticks, start) - 1, 0)]
        bar = meter.bar_ticks
        if bar <= 0:
            raise TheoryError(f"meter {meter.name} at {meter.tick}: a bar under one tick")
        change = segments[i + 1] if i + 1 < len(segments) else None
        if change is None or until <= change:
            count = -(-(until - start) // bar)  # bars before the first barline >= until
            last = start + count * bar
            lines.append(start + bar * np.arange(count, dtype=np.int64))
            lines.append(np.asarray([last if change is None else min(last, change)], dtype=np.int64))
            break
        lines.append(start + bar * np.arange(-(-(change - start) // bar), dtype=np.int64))
    return np.concatenate(lines)


class Encoder:
    """Builds the whole sequence with one stable sort: a row per token, keyed by (tick, class).

    Every row's key is the one int `tick * 8 + class + 1`; a stable argsort puts the tokens in
    sequence order, rows of one key keeping the order they were made in (each kind of row is
    made in sequence order: bars, map entries, each note's tokens), so no row needs an index
    in its key. The header (key -1) and EOS (above every tick) ride in the same sort. The
    notes, nearly all of the tokens, are one numpy matrix of five token slots a note
    (Position, Track, Pitch, Duration, Velocity), the slots a note does not write masked out;
    bars, meters, cuts, tempos, keys and chords are Python rows (a few dozen a piece: cheaper
    as list entries than as tiny numpy calls). No per-note Python loop. Keys are int64 where
    they fit (any piece the reader's limits admit), Python ints in an object array where not.
    """

    # Classes at one tick, in sequence order.
    CUT, BAR_CLS, METER_CLS, POS_CLS, TEMPO_CLS, KEY_CLS, CHORD_CLS, NOTE_CLS = range(-1, 7)

    def __init__(self, piece: PieceArrays, vocab: TokenVocab) -> None:
        self.piece, self.vocab, self.base = piece, vocab, vocab.base
        self.end, self.starts = piece.end, piece.starts
        self.top = (max(self.end, 0) + 2) * 8  # above every row's key
        self.dtype = np.int64 if self.top < 2**62 else object
        self.keys: list[int] = []  # the Python rows: sort keys and ids
        self.ids: list[int] = []
        self.bar = 0  # the bar length where one meter rules from tick 0 (positions: tick % bar)
        self.barlines: list[int] = []  # the barlines otherwise, for the maps' positions

    def encode(self) -> np.ndarray:
        piece, base, keys, ids = self.piece, self.base, self.keys, self.ids
        ids.append(base[BOS])
        for index, (program, drum) in enumerate(zip(piece.programs, piece.drums, strict=True)):
            ids += (base[TRACK] + index, base[PROGRAM] + min(max(program, 0), 127))
            if drum:
                ids.append(base[DRUM])
        keys += [-1] * len(ids)  # before every body row; the stable sort keeps their order
        keys.append(self.top)
        ids.append(base[EOS])
        onset, values = self._notes()
        highest = -1  # the largest position of a tempo, key or chord
        if len(self.starts) > 1:
            self._bars()
            highest = self._maps(onset)
        note_keys, note_ids = self._note_rows(onset, values, highest)
        every_key = np.concatenate([np.asarray(keys, dtype=self.dtype), note_keys])
        every_id = np.concatenate([np.asarray(ids, dtype=np.int32), note_ids])
        return every_id.take(np.argsort(every_key, kind="stable"))

    def _note_rows(
        self, onset: np.ndarray, values: np.ndarray, highest: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Keys and ids of the notes' tokens, a Position before the first note at each tick.

        `highest` is the largest position of the map rows; the position check covers both.

        Raises:
            TokenGrammarError: a position past the vocabulary's `max_position`.
        """
        limit = self.vocab.config.max_position
        n = len(onset)
        if not n:
            self._check_position(highest, limit)
            return _EMPTY.astype(self.dtype), _EMPTY.astype(np.int32)
        if self.bar:
            positions = onset % self.bar
        else:
            positions = onset - self.starts[np.searchsorted(self.starts, onset, side="right") - 1]
        if not self.bar or self.bar > limit:  # else no position reaches the limit
            highest = max(highest, int(positions.max()))
        self._check_position(highest, limit)
        base = self.base
        tokens = np.empty((n, 5), dtype=np.int32)  # per note: Position Track Pitch Duration Velocity
        np.add(positions, base[POSITION], out=tokens[:, 0])
        np.add(values.T, self._offsets(), out=tokens[:, 1:])
        present = np.ones((n, 5), dtype=bool)  # Position at a new tick, Track where the track changes
        np.not_equal(onset[1:], onset[:-1], out=present[1:, 0])
        np.not_equal(values[0, 1:], values[0, :-1], out=present[1:, 1])
        slots = np.flatnonzero(present)
        ticks = onset.astype(object) if self.dtype is object else onset
        note_keys = (ticks[:, None] * 8 + _SLOT_CLASSES).ravel().take(slots)
        return note_keys, tokens.ravel().take(slots)

    def _offsets(self) -> np.ndarray:
        """What Track, Pitch, Duration and Velocity values add to become ids."""
        base = self.base
        return np.asarray([base[TRACK], base[PITCH], base[DURATION] - 1, base[VELOCITY] - 1])

    @staticmethod
    def _check_position(highest: int, limit: int) -> None:
        """Raises TokenGrammarError when `highest` (a position) has no token."""
        if highest >= limit:
            raise TokenGrammarError(
                f"a bar of {highest + 1}+ ticks exceeds the token vocabulary's "
                f"{limit} positions (raise EventConfig.max_position)"
            )

    def _position(self, tick: int) -> int:
        """One tick's distance from the barline at or before it."""
        if self.bar:
            return tick % self.bar
        barlines = self.barlines
        return tick - barlines[bisect.bisect_right(barlines, tick) - 1]

    def _bars(self) -> None:
        """Bar rows, a Meter row where a meter starts on a barline, a cut where a bar ends early."""
        meters = sorted(self.piece.meters or [Meter(0, 4, 4)], key=lambda m: m.tick)
        if len(meters) == 1 and meters[0].tick <= 0:
            self._bars_in_one_meter(meters[0])
            return
        starts, end, base, keys, ids = self.starts.tolist(), self.end, self.base, self.keys, self.ids
        self.barlines = starts
        at_tick = {m.tick: m for m in meters}  # the last of several at one tick wins
        at_tick.setdefault(0, meters[0])
        natural = meters[0].bar_ticks
        longest = 0
        for b, start in enumerate(starts[:-1]):
            keys.append(start * 8 + self.BAR_CLS + 1)
            ids.append(base[BAR])
            meter = at_tick.get(start)
            if meter is not None:
                natural = meter.bar_ticks
                pair = (meter.numerator, meter.denominator)
                if pair not in self.vocab.meter_index:
                    raise TokenGrammarError(f"meter {meter.name} has no token (numerator 1-32, d = 1..32)")
                keys.append(start * 8 + self.METER_CLS + 1)
                ids.append(base[METER] + self.vocab.meter_index[pair])
            stop = min(starts[b + 1], end)
            if stop - start != natural:
                keys.append(stop * 8 + self.CUT + 1)
                ids.append(base[POSITION] + stop - start)
                longest = max(longest, stop - start)
        if longest >= self.vocab.config.max_position:
            raise TokenGrammarError(
                f"a bar of {longest} ticks exceeds the token vocabulary's "
                f"{self.vocab.config.max_position} positions (raise EventConfig.max_position)"
            )

    def _bars_in_one_meter(self, meter: Meter) -> None:
        """:meth:`_bars` for one meter from tick 0: whole bars up to the last, which the end may cut.

        The barlines are the multiples of the bar, so positions are ticks modulo the bar.
        """
        starts, base, keys, ids = self.starts, self.base, self.keys, self.ids
        pair = (meter.numerator, meter.denominator)
        if pair not in self.vocab.meter_index:
            raise TokenGrammarError(f"meter {meter.name} has no token (numerator 1-32, d = 1..32)")
        keys.append(self.METER_CLS + 1)  # tick 0
        ids.append(base[METER] + self.vocab.meter_index[pair])
        bar, count = meter.bar_ticks, len(starts) - 1
        last = int(starts[-2])
        length = min(int(starts[-1]), self.end) - last
        if length != bar:
            if length >= self.vocab.config.max_position:
                raise TokenGrammarError(
                    f"a bar of {length} ticks exceeds the token vocabulary's "
                    f"{self.vocab.config.max_position} positions (raise EventConfig.max_position)"
                )
            keys.append((last + length) * 8 + self.CUT + 1)
            ids.append(base[POSITION] + length)
        keys.extend(range(self.BAR_CLS + 1, 8 * bar * count, 8 * bar))  # bar b at tick b * bar
        ids.extend([base[BAR]] * count)
        self.bar = bar

    def _maps(self, onset: np.ndarray) -> int:
        """Tempo, key and chord rows inside the piece, a Position row at each of their ticks
        where no note starts (the notes' rows hold the others); returns their largest position
        where it may have no token (else -1: one meter with bars no longer than the positions)."""
        config, base, end = self.vocab.config, self.base, self.end
        tempos, keys, chords = self.piece.tempos, self.piece.keys, self.piece.chords
        try:
            qpms = [round(t.qpm) for t in tempos]  # halves to even, as np.rint
        except (ValueError, OverflowError):  # a NaN or infinite tempo: numpy's cast, as before
            qpms = np.rint(np.asarray([t.qpm for t in tempos], dtype=np.float64)).astype(np.int64).tolist()
        low, high = config.min_qpm, config.max_qpm
        if qpms and (min(qpms) < low or max(qpms) > high):
            warnings.warn(f"tempo clipped to {low}-{high} qpm for tokens", stacklevel=4)
        kinds = (
            (
                self.TEMPO_CLS,
                [t.tick for t in tempos],
                [base[TEMPO] + min(max(q, low), high) - low for q in qpms],
            ),
            (
                self.KEY_CLS,
                [k.tick for k in keys],
                [base[KEY] + k.tonic % 12 + 12 * (k.mode == "minor") for k in keys],
            ),
            (self.CHORD_CLS, *_chord_rows(chords, base[CHORD])),
        )
        placed: set[int] = set()
        for cls, ticks, tokens in kinds:
            if not ticks:
                continue
            if min(ticks) < 0 or max(ticks) >= end:  # entries outside the piece have no bar
                inside = [(tick, token) for tick, token in zip(ticks, tokens, strict=True) if 0 <= tick < end]
                ticks, tokens = [tick for tick, _ in inside], [token for _, token in inside]
            self.keys += [tick * 8 + cls + 1 for tick in ticks]
            self.ids += tokens
            placed.update(ticks)
        for tick in placed.difference(onset.tolist()):  # where no note starts, and so no Position is
            self.keys.append(tick * 8 + self.POS_CLS + 1)
            self.ids.append(base[POSITION] + self._position(tick))
        if not placed or (self.bar and self.bar <= config.max_position):
            return -1  # no position of theirs reaches the limit
        return max(map(self._position, placed))

    def _notes(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept notes' onsets in token order, and their track, pitch, duration and velocity
        rows, clipped to what tokens hold."""
        p, notes = self.piece, self.piece.notes
        if not p.ordered and notes.shape[1]:
            onset = notes[0]
            keep = (onset >= 0) & (onset < self.end)
            if not keep.all():
                warnings.warn(f"{int((~keep).sum())} notes start outside the piece; dropped", stacklevel=4)
            order = np.lexsort(notes[::-1])  # onset, track, pitch, duration, velocity
            notes = notes[:, order[keep[order]]]
        if not notes.shape[1]:
            return _EMPTY, np.zeros((4, 0), dtype=np.int64)
        limit = self.vocab.config.max_duration
        values = notes[1:]  # track, pitch, duration, velocity
        longest = int(values[2].max())
        if longest > limit:
            warnings.warn(f"notes longer than {limit} ticks clipped to {limit} for tokens", stacklevel=4)
        if not p.ordered or longest > limit:
            values = np.clip(values, _LOW, np.asarray([[2**62], [127], [limit], [127]]))
        return notes[0], values


_SLOT_CLASSES = np.asarray([Encoder.POS_CLS + 1] + [Encoder.NOTE_CLS + 1] * 4)
"""Each note slot's class in its key: Position, then the note's four tokens."""

_LOW = np.asarray([[0], [0], [1], [1]])
"""The lowest track, pitch, duration and velocity a token holds."""


def _chord_rows(chords: list[tuple[int, int | None, str]], base: int) -> tuple[list[int], list[int]]:
    """Ticks and ids of `(tick, root, quality)` chord labels (one transpose, one cached id each)."""
    if not chords:
        return [], []
    ticks, roots, qualities = zip(*chords, strict=True)
    return list(ticks), [base + i for i in map(_chord_id, roots, qualities)]


@functools.lru_cache(maxsize=1024)
def _chord_id(root: int | None, quality: str) -> int:
    """:func:`chord_id`, cached: a piece repeats a few chords many times."""
    return chord_id(root, quality)
