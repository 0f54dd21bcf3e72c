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
        return bar * np.arange(-(-until // bar) + 1, dtype=np.int64)
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
    """Builds the whole sequence with one sort: a row per token, keyed by (tick, class, order).

    Every row's key is the one int `(tick * 8 + class + 1) * span + order` (`span` exceeds
    every order), so one argsort puts the tokens in sequence order. The notes, nearly all
    of the tokens, are numpy columns; bars, meters, cuts, tempos, keys and chords are Python
    rows (a few dozen a piece: cheaper as list entries than as a dozen tiny numpy calls
    each). No per-note Python loop. Keys are int64 where they fit (any piece the reader's
    limits admit), Python ints in an object array where not.
    """

    # Classes at one tick, in sequence order.
    CUT, BAR_CLS, METER_CLS, POS_CLS, TEMPO_CLS, KEY_CLS, CHORD_CLS, NOTE_CLS = range(-1, 7)

    def __init__(self, piece: PieceArrays, vocab: TokenVocab) -> None:
        self.piece, self.vocab, self.base = piece, vocab, vocab.base
        self.end, self.starts = piece.end, piece.starts
        longest = max(piece.notes.shape[1], len(piece.starts), len(piece.tempos), len(piece.keys))
        self.span = 4 * max(longest, len(piece.chords)) + 4  # orders are 4 * index + slot
        self.top = (max(self.end, 0) + 2) * 8 * self.span  # above every row's key
        self.dtype = np.int64 if self.top < 2**62 else object
        self.rows: list[int] = []  # flat: key, id; then the next row

    def encode(self) -> np.ndarray:
        piece, base, rows = self.piece, self.base, self.rows
        header = [base[BOS]]
        for index, (program, drum) in enumerate(zip(piece.programs, piece.drums, strict=True)):
            header += [base[TRACK] + index, base[PROGRAM] + min(max(program, 0), 127)]
            header += [base[DRUM]] if drum else []
        for index, token in enumerate(header):  # before every body row (keys >= 0)
            rows += (index - len(header), token)
        rows += (self.top, base[EOS])
        onset, slots, note_ids = self._notes()
        map_ticks: list[int] = []
        bar_keys = bar_ids = _EMPTY
        if len(self.starts) > 1:
            bar_keys, bar_ids = self._bars()
            map_ticks = self._maps()
        ticks = _unique_ticks(onset, map_ticks)
        positions = base[POSITION] + self._positions(ticks)
        if self.dtype is object:
            ticks, onset = ticks.astype(object), onset.astype(object)
        key_ticks = ticks * 8
        flat = np.asarray(rows, dtype=self.dtype)  # a flat list converts fastest
        keys = np.concatenate(
            [
                flat[0::2],
                bar_keys,
                (key_ticks + self.POS_CLS + 1) * self.span,
                (onset[slots >> 2] * 8 + 7) * self.span + slots,
            ]
        )
        ids = np.concatenate([flat[1::2], bar_ids, positions, note_ids])
        return ids[np.argsort(keys)].astype(np.int32)

    def _positions(self, ticks: np.ndarray) -> np.ndarray:
        bars = np.searchsorted(self.starts, ticks, side="right") - 1
        positions = ticks - self.starts[bars]
        if len(positions) and positions.max() >= self.vocab.config.max_position:
            raise TokenGrammarError(
                f"a bar of {int(positions.max()) + 1}+ ticks exceeds the token vocabulary's "
                f"{self.vocab.config.max_position} positions (raise EventConfig.max_position)"
            )
        return positions

    def _bars(self) -> tuple[np.ndarray, np.ndarray]:
        """Bar rows, a Meter row where a meter starts on a barline, a cut where a bar ends early.

        Returns the keys and ids of rows made in numpy (the Bar rows of a piece in one meter);
        the others go to :attr:`rows`.
        """
        meters = sorted(self.piece.meters or [Meter(0, 4, 4)], key=lambda m: m.tick)
        if len(meters) == 1 and meters[0].tick <= 0 and self.dtype is not object:
            return self._bars_in_one_meter(meters[0])
        starts, end, base, rows, span = self.starts.tolist(), self.end, self.base, self.rows, self.span
        at_tick = {m.tick: m for m in meters}  # the last of several at one tick wins
        at_tick.setdefault(0, meters[0])
        natural = meters[0].bar_ticks
        cuts: list[int] = []
        longest = 0
        for b, start in enumerate(starts[:-1]):
            key = (start * 8 + self.BAR_CLS + 1) * span + 4 * b
            rows += (key, base[BAR])
            meter = at_tick.get(start)
            if meter is not None:
                natural = meter.bar_ticks
                pair = (meter.numerator, meter.denominator)
                if pair not in self.vocab.meter_index:
                    raise TokenGrammarError(f"meter {meter.name} has no token (numerator 1-32, d = 1..32)")
                rows += (key + span, base[METER] + self.vocab.meter_index[pair])  # METER_CLS
            stop = min(starts[b + 1], end)
            if stop - start != natural:
                cuts += ((stop * 8 + self.CUT + 1) * span, base[POSITION] + stop - start)
                longest = max(longest, stop - start)
        if longest >= self.vocab.config.max_position:
            raise TokenGrammarError(
                f"a bar of {longest} ticks exceeds the token vocabulary's "
                f"{self.vocab.config.max_position} positions (raise EventConfig.max_position)"
            )
        rows += cuts
        return _EMPTY, _EMPTY

    def _bars_in_one_meter(self, meter: Meter) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_bars` for one meter from tick 0: whole bars up to the last, which the end may cut."""
        starts, base, span = self.starts, self.base, self.span
        pair = (meter.numerator, meter.denominator)
        if pair not in self.vocab.meter_index:
            raise TokenGrammarError(f"meter {meter.name} has no token (numerator 1-32, d = 1..32)")
        self.rows += ((self.METER_CLS + 1) * span, base[METER] + self.vocab.meter_index[pair])  # tick 0
        last = int(starts[-2])
        length = min(int(starts[-1]), self.end) - last
        if length != meter.bar_ticks:
            if length >= self.vocab.config.max_position:
                raise TokenGrammarError(
                    f"a bar of {length} ticks exceeds the token vocabulary's "
                    f"{self.vocab.config.max_position} positions (raise EventConfig.max_position)"
                )
            self.rows += (((last + length) * 8 + self.CUT + 1) * span, base[POSITION] + length)
        count = len(starts) - 1
        keys = (starts[:-1] * 8 + self.BAR_CLS + 1) * span + 4 * np.arange(count)
        return keys, np.full(count, base[BAR], dtype=np.int64)

    def _maps(self) -> list[int]:
        """Tempo, key and chord rows inside the piece; returns their ticks."""
        config, base, rows, end, span = self.vocab.config, self.base, self.rows, self.end, self.span
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
            (
                self.CHORD_CLS,
                [c[0] for c in chords],
                [base[CHORD] + _chord_id(c[1], c[2]) for c in chords],
            ),
        )
        ticks = []
        for cls, map_ticks, ids in kinds:
            order = 0
            for tick, token in zip(map_ticks, ids, strict=True):
                if 0 <= tick < end:
                    rows += ((tick * 8 + cls + 1) * span + 4 * order, token)
                    ticks.append(tick)
                    order += 1
        return ticks

    def _notes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The kept notes' onsets in token order, and per note token its `rank * 4 + slot` and id."""
        p, notes = self.piece, self.piece.notes
        if not p.ordered and notes.shape[1]:
            onset = notes[0]
            keep = (onset >= 0) & (onset < self.end)
            if not keep.all():
                warnings.warn(f"{int((~keep).sum())} notes start outside the piece; dropped", stacklevel=4)
            order = np.lexsort(notes[::-1])  # onset, track, pitch, duration, velocity
            notes = notes[:, order[keep[order]]]
        n = notes.shape[1]
        if not n:
            return _EMPTY, _EMPTY, _EMPTY
        limit = self.vocab.config.max_duration
        values = notes[1:]  # track, pitch, duration, velocity
        longest = int(values[2].max())
        if longest > limit:
            warnings.warn(f"notes longer than {limit} ticks clipped to {limit} for tokens", stacklevel=4)
        if not p.ordered or longest > limit:
            values = np.clip(values, _LOW, np.asarray([[2**62], [127], [limit], [127]]))
        base = self.base
        offsets = np.asarray([base[TRACK], base[PITCH], base[DURATION] - 1, base[VELOCITY] - 1])
        ids = values.T + offsets  # (n, 4): Track Pitch Duration Velocity per note, in order
        present = np.ones((n, 4), dtype=bool)  # Track only where the track changes
        np.not_equal(values[0, 1:], values[0, :-1], out=present[1:, 0])
        slots = np.flatnonzero(present)  # rank * 4 + slot
        return notes[0], slots, ids.ravel()[slots]


_LOW = np.asarray([[0], [0], [1], [1]])
"""The lowest track, pitch, duration and velocity a token holds."""


def _unique_ticks(onset: np.ndarray, map_ticks: list[int]) -> np.ndarray:
    """The sorted distinct ticks of `onset` and `map_ticks`: where the Position rows go.

    An in-place sort and a neighbour compare (`np.unique` costs twice as much on arrays this short).
    """
    extra = np.asarray(map_ticks, dtype=np.int64)
    merged = np.concatenate([onset, extra]) if len(extra) else onset.copy()
    merged.sort()
    first = np.empty(len(merged), dtype=bool)
    first[:1] = True
    np.not_equal(merged[1:], merged[:-1], out=first[1:])
    return merged[first]


@functools.lru_cache(maxsize=1024)
def _chord_id(root: int | None, quality: str) -> int:
    """:func:`chord_id`, cached: a piece repeats a few chords many times."""
    return chord_id(root, quality)
