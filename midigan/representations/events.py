"""`EventTokens`: a score as one REMI-like token sequence, and back, grammar checked.

The grammar (every sequence the encoder writes, and the only ones the decoder reads)::

    sequence := BOS header bar* EOS PAD*
    header   := (Track_<i> Program_<p> Drum?)*          # i = 0, 1, 2 ... declares every track
    bar      := Bar Meter_<n>/<d>? group* cut?          # Meter where a meter starts or changes
    group    := Position_<tick> (Tempo | Key | Chord)* note*
    note     := Track_<i>? Pitch_<p> Duration_<ticks> Velocity_<v>
    cut      := Position_<tick>                          # right before Bar or EOS: the bar ends early

Positions are ticks from the barline, strictly increasing within a bar and inside
its meter. At one position the order is tempo, key, chord, then notes sorted by
(track, pitch, duration, velocity). `Track_<i>` appears only when the track changes
from the previous note (the current track persists across positions and bars).
A bar is as long as its meter says unless a `cut` ends it early: that is how a
meter change inside a bar (which starts a new bar in a Score) and an end tick off
the barline survive.

Tempo, key, chord and meter entries at or after the end of the piece, and notes
starting there, have no bar to live in and are dropped (notes with a warning).

What is exact on the TPQ grid: pitch, onset, duration up to
`EventConfig.max_duration` (longer notes clip with a warning), velocity (1-127,
one token each), programs, drum flags, whole-qpm tempos from 20 to 600 (others round to the
nearest qpm), meters, keys, chords (a no-chord label decodes with quality 'maj'),
bar count and end tick. Track names and the title are not tokens: they ride along
as attributes (`track_names`, `title`), and a sequence decoded from bare ids gets
names "Track <i>".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from midigan.errors import TokenGrammarError
from midigan.music.score import ChordLabel, KeySignature, Meter, Note, Score, Tempo, Track
from midigan.representations.event_vocab import (
    BAR,
    BOS,
    CHORD,
    DRUM,
    DURATION,
    EOS,
    KEY,
    KIND_NAMES,
    METER,
    PAD,
    PITCH,
    POSITION,
    PROGRAM,
    TEMPO,
    TRACK,
    VELOCITY,
    EventConfig,
    TokenVocab,
)
from midigan.representations.ids import chord_from_id, chord_id

__all__ = ["EventConfig", "EventTokens", "TokenVocab"]

_DEFAULT_VOCAB: TokenVocab | None = None


def default_vocab() -> TokenVocab:
    """The vocabulary of the default :class:`EventConfig` (built once, then shared)."""
    global _DEFAULT_VOCAB
    if _DEFAULT_VOCAB is None:
        _DEFAULT_VOCAB = TokenVocab()
    return _DEFAULT_VOCAB


@dataclass
class EventTokens:
    """A token-id sequence with its vocabulary and the metadata tokens do not carry.

    Attributes:
        ids: `(N,)` int32 token ids.
        vocab: the vocabulary the ids index.
        track_names: names restored by :meth:`to_score` (None: "Track <i>").
        title: title restored by :meth:`to_score`.
    """

    ids: np.ndarray
    vocab: TokenVocab
    track_names: list[str] | None = None
    title: str = ""

    @property
    def tokens(self) -> list[str]:
        """The sequence as token strings (a fresh list)."""
        names = self.vocab.tokens
        return [names[i] for i in self.ids.tolist()]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_ids(cls, ids: np.ndarray | list[int], vocab: TokenVocab | None = None) -> EventTokens:
        """Wrap ids (no check until :meth:`to_score`)."""
        return cls(np.asarray(ids, dtype=np.int32), vocab or default_vocab())

    @classmethod
    def from_tokens(cls, tokens: list[str], vocab: TokenVocab | None = None) -> EventTokens:
        """Wrap token strings.

        Raises:
            ConfigError: a string that is not a token of the vocabulary.
        """
        vocab = vocab or default_vocab()
        return cls(np.asarray([vocab.id_of(t) for t in tokens], dtype=np.int32), vocab)

    @classmethod
    def from_score(cls, score: Score, vocab: TokenVocab | None = None) -> EventTokens:
        """Tokenize a score (see the module doc for what is exact).

        Raises:
            TokenGrammarError: the score needs tokens the vocabulary lacks (too many
                tracks, a bar longer than `max_position`, an unknown meter).
        """
        vocab = vocab or default_vocab()
        ids = _Encoder(score, vocab).encode()
        return cls(ids, vocab, [t.name for t in score.tracks], score.title)

    def to_score(self) -> Score:
        """Decode, checking the grammar token by token.

        Raises:
            TokenGrammarError: names the index and token where the sequence breaks
                and what was expected there.
        """
        return _Decoder(self.ids, self.vocab, self.track_names, self.title).decode()


# ------------------------------------------------------------------ encoder
class _Encoder:
    """Builds the whole sequence with array sorts: one row per token, keyed by
    (tick, class, order, slot), then a single lexsort. No per-token Python loop."""

    # Classes at one tick, in sequence order.
    CUT, BAR_CLS, METER_CLS, POS_CLS, TEMPO_CLS, KEY_CLS, CHORD_CLS, NOTE_CLS = range(-1, 7)

    def __init__(self, score: Score, vocab: TokenVocab) -> None:
        self.score, self.vocab, self.base = score, vocab, vocab.base
        self.rows: list[tuple[np.ndarray, ...]] = []  # (tick, class, order, slot, id)

    def add(self, tick: object, cls: int, ids: object, order: object = 0, slot: object = 0) -> None:
        tick = np.atleast_1d(np.asarray(tick, dtype=np.int64))
        n = len(tick)
        self.rows.append(
            (
                tick,
                np.full(n, cls, dtype=np.int64),
                np.broadcast_to(np.asarray(order, dtype=np.int64), (n,)),
                np.broadcast_to(np.asarray(slot, dtype=np.int64), (n,)),
                np.broadcast_to(np.asarray(ids, dtype=np.int64), (n,)),
            )
        )

    def encode(self) -> np.ndarray:
        score, vocab = self.score, self.vocab
        if len(score.tracks) > vocab.config.max_tracks:
            raise TokenGrammarError(
                f"score has {len(score.tracks)} tracks; the token vocabulary holds "
                f"{vocab.config.max_tracks} (raise EventConfig.max_tracks)"
            )
        self.end = score.end
        self.starts = np.asarray(score.bar_starts(), dtype=np.int64)
        header = [vocab.base[BOS]]
        for index, track in enumerate(score.tracks):
            header += [self.base[TRACK] + index, self.base[PROGRAM] + min(max(track.program, 0), 127)]
            header += [self.base[DRUM]] if track.is_drum else []
        event_ticks = [self._notes()]
        if len(self.starts) > 1:
            self._bars()
            event_ticks += [self._tempos(), self._keys(), self._chords()]
        ticks = np.unique(np.concatenate(event_ticks))
        if len(ticks):
            self.add(ticks, self.POS_CLS, self.base[POSITION] + self._positions(ticks))
        body = np.zeros(0, dtype=np.int64)
        if self.rows:
            tick, cls, order, slot, ids = (np.concatenate(column) for column in zip(*self.rows, strict=True))
            body = ids[np.lexsort((slot, order, cls, tick))]
        return np.concatenate([header, body, [vocab.base[EOS]]]).astype(np.int32)

    def _positions(self, ticks: np.ndarray) -> np.ndarray:
        bars = np.searchsorted(self.starts, ticks, side="right") - 1
        positions = ticks - self.starts[bars]
        if len(positions) and positions.max() >= self.vocab.config.max_position:
            raise TokenGrammarError(
                f"a bar of {int(positions.max()) + 1}+ ticks exceeds the token vocabulary's "
                f"{self.vocab.config.max_position} positions (raise EventConfig.max_position)"
            )
        return positions

    def _inside(self, ticks: np.ndarray) -> np.ndarray:
        return (ticks >= 0) & (ticks < self.end)

    def _bars(self) -> None:
        starts, end = self.starts[:-1], self.end
        self.add(starts, self.BAR_CLS, self.base[BAR], order=np.arange(len(starts)))
        meters = sorted(self.score.meters or [Meter(0, 4, 4)], key=lambda m: m.tick)
        at_tick = {m.tick: m for m in meters}  # the last of several at one tick wins
        at_tick.setdefault(0, meters[0])
        natural = []
        current = meters[0]
        for b, start in enumerate(starts.tolist()):
            meter = at_tick.get(start)
            if meter is not None:
                current = meter
                key = (meter.numerator, meter.denominator)
                if key not in self.vocab.meter_index:
                    raise TokenGrammarError(f"meter {meter.name} has no token (numerator 1-32, d = 1..32)")
                self.add(start, self.METER_CLS, self.base[METER] + self.vocab.meter_index[key], order=b)
            natural.append(current.bar_ticks)
        stops = np.minimum(self.starts[1:], end)
        lengths = stops - starts
        cut = lengths != np.asarray(natural)
        if cut.any() and lengths[cut].max() >= self.vocab.config.max_position:
            raise TokenGrammarError(
                f"a bar of {int(lengths[cut].max())} ticks exceeds the token vocabulary's "
                f"{self.vocab.config.max_position} positions (raise EventConfig.max_position)"
            )
        self.add(stops[cut], self.CUT, self.base[POSITION] + lengths[cut])

    def _tempos(self) -> np.ndarray:
        config = self.vocab.config
        tempos = self.score.tempos
        ticks = np.asarray([t.tick for t in tempos], dtype=np.int64)
        qpm = np.rint(np.asarray([t.qpm for t in tempos], dtype=np.float64)).astype(np.int64)
        if len(qpm) and (qpm.min() < config.min_qpm or qpm.max() > config.max_qpm):
            warnings.warn(f"tempo clipped to {config.min_qpm}-{config.max_qpm} qpm for tokens", stacklevel=4)
        keep = self._inside(ticks)
        ticks, qpm = ticks[keep], np.clip(qpm[keep], config.min_qpm, config.max_qpm)
        self.add(ticks, self.TEMPO_CLS, self.base[TEMPO] + qpm - config.min_qpm, order=np.arange(len(ticks)))
        return ticks

    def _keys(self) -> np.ndarray:
        ticks = np.asarray([k.tick for k in self.score.keys], dtype=np.int64)
        index = np.asarray([k.tonic % 12 + 12 * (k.mode == "minor") for k in self.score.keys], dtype=np.int64)
        keep = self._inside(ticks)
        self.add(ticks[keep], self.KEY_CLS, self.base[KEY] + index[keep], order=np.arange(int(keep.sum())))
        return ticks[keep]

    def _chords(self) -> np.ndarray:
        chords = self.score.chords
        ticks = np.asarray([c.tick for c in chords], dtype=np.int64)
        index = np.asarray([chord_id(c.root, c.quality) for c in chords], dtype=np.int64)
        keep = self._inside(ticks)
        self.add(
            ticks[keep], self.CHORD_CLS, self.base[CHORD] + index[keep], order=np.arange(int(keep.sum()))
        )
        return ticks[keep]

    def _notes(self) -> np.ndarray:
        rows = [
            (n.onset, index, n.pitch, n.duration, n.velocity)
            for index, track in enumerate(self.score.tracks)
            for n in track.notes
        ]
        if not rows:
            return np.zeros(0, dtype=np.int64)
        onset, track, pitch, duration, velocity = np.asarray(rows, dtype=np.int64).T
        keep = self._inside(onset)
        if not keep.all():
            warnings.warn(f"{int((~keep).sum())} notes start outside the piece; dropped", stacklevel=4)
        order = np.lexsort((velocity, duration, pitch, track, onset))
        order = order[keep[order]]
        onset, track, pitch, duration, velocity = (
            a[order] for a in (onset, track, pitch, duration, velocity)
        )
        limit = self.vocab.config.max_duration
        if len(duration) and duration.max() > limit:
            warnings.warn(f"notes longer than {limit} ticks clipped to {limit} for tokens", stacklevel=4)
        rank = np.arange(len(onset))
        switch = np.ones(len(onset), dtype=bool)
        switch[1:] = track[1:] != track[:-1]
        base = self.base
        self.add(onset[switch], self.NOTE_CLS, base[TRACK] + track[switch], order=rank[switch], slot=0)
        self.add(onset, self.NOTE_CLS, base[PITCH] + np.clip(pitch, 0, 127), order=rank, slot=1)
        self.add(onset, self.NOTE_CLS, base[DURATION] + np.clip(duration, 1, limit) - 1, order=rank, slot=2)
        self.add(onset, self.NOTE_CLS, base[VELOCITY] + np.clip(velocity, 1, 127) - 1, order=rank, slot=3)
        return onset


# ------------------------------------------------------------------ decoder
_AFTER_EVENT = frozenset({TEMPO, KEY, CHORD, TRACK, PITCH, POSITION, BAR, EOS})
# Allowed next kinds in the body, by the kind of the previous token.
_BODY_NEXT = {
    BAR: frozenset({METER, POSITION, BAR, EOS}),
    METER: frozenset({POSITION, BAR, EOS}),
    POSITION: frozenset({TEMPO, KEY, CHORD, TRACK, PITCH, BAR, EOS}),
    TEMPO: _AFTER_EVENT,
    KEY: _AFTER_EVENT,
    CHORD: _AFTER_EVENT,
    TRACK: frozenset({PITCH}),
    PITCH: frozenset({DURATION}),
    DURATION: frozenset({VELOCITY}),
    VELOCITY: frozenset({TRACK, PITCH, POSITION, BAR, EOS}),
}
_HEADER_NEXT = frozenset({BAR, EOS})
_DISPLAY_ORDER = (BOS, METER, POSITION, TEMPO, KEY, CHORD, TRACK, PITCH, DURATION, VELOCITY, BAR, EOS, PAD)


class _Decoder:
    """A small state machine over token kinds; every error names index, token, expectation."""

    def __init__(self, ids: np.ndarray, vocab: TokenVocab, names: list[str] | None, title: str) -> None:
        self.ids = np.asarray(ids).astype(np.int64, copy=False).tolist()
        self.vocab, self.names, self.title = vocab, names, title

    def fail(self, i: int, expected: str) -> TokenGrammarError:
        token = self.vocab.tokens[self.ids[i]]
        after = f" after {self.vocab.tokens[self.ids[i - 1]]!r}" if i > 0 else ""
        return TokenGrammarError(f"token {i} {token!r}: expected {expected}{after}")

    def expected(self, allowed: frozenset[int]) -> str:
        names = [KIND_NAMES[k] for k in _DISPLAY_ORDER if k in allowed]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]

    def _check_ids(self) -> None:
        """Every id inside the vocabulary, and a BOS first."""
        ids, size = self.ids, len(self.vocab)
        for i, token_id in enumerate(ids):
            if not 0 <= token_id < size:
                raise TokenGrammarError(f"token {i} (id {token_id}): not in the vocabulary of {size} tokens")
        if not ids:
            raise TokenGrammarError("empty token sequence: expected BOS")
        if self.vocab.kinds[ids[0]] != BOS:
            raise self.fail(0, "BOS")

    def decode(self) -> Score:
        self._check_ids()
        ids, vocab = self.ids, self.vocab
        kinds, values = vocab.kinds, vocab.values
        tracks, i = self._header()
        score = Score(tracks=tracks, tempos=[], meters=[], title=self.title)
        notes = [t.notes for t in tracks]
        meter = Meter(0, 4, 4)
        bar_start, bar_open, position, cut = 0, False, -1, None
        current_track: int | None = None
        previous: int | None = None  # None: the header just ended
        n = len(ids)
        while i < n:
            kind, value = kinds[ids[i]], values[ids[i]]
            allowed = _HEADER_NEXT if previous is None else _BODY_NEXT[previous]
            if kind not in allowed:
                raise self.fail(i, self.expected(allowed))
            if kind in (BAR, EOS):
                if previous == POSITION:  # a cut: this bar ends early, at `position`
                    cut = position
                if bar_open:
                    bar_start += cut if cut is not None else meter.bar_ticks
                if kind == EOS:
                    break
                bar_open, position, cut = True, -1, None
            elif kind == METER:
                meter = Meter(bar_start, *vocab.meters[value])
                score.meters.append(meter)
            elif kind == POSITION:
                if value <= position or value >= meter.bar_ticks:
                    raise self.fail(i, f"a position after {position} and inside the {meter.name} bar")
                position = value
            elif kind == TEMPO:
                score.tempos.append(Tempo(bar_start + position, float(value)))
            elif kind == KEY:
                score.keys.append(
                    KeySignature(bar_start + position, value % 12, ("major", "minor")[value // 12])
                )
            elif kind == CHORD:
                score.chords.append(ChordLabel(bar_start + position, *chord_from_id(value)))
            elif kind == TRACK:
                if value >= len(tracks):
                    raise self.fail(i, f"a track declared in the header (0..{len(tracks) - 1})")
                current_track = value
            elif kind == PITCH:
                if current_track is None:
                    raise self.fail(i, "Track before the first Pitch")
                i = self._note(i, notes[current_track], bar_start + position)
                kind = VELOCITY
            previous = kind
            i += 1
        else:
            raise TokenGrammarError(f"token sequence ends at token {n - 1} without EOS")
        for j in range(i + 1, n):
            if kinds[ids[j]] != PAD:
                raise self.fail(j, "PAD after EOS")
        return _finished(score, bar_start)

    def _header(self) -> tuple[list[Track], int]:
        """Track declarations after BOS; returns the tracks and the index of the first body token."""
        ids, kinds, values = self.ids, self.vocab.kinds, self.vocab.values
        tracks: list[Track] = []
        i = 1
        while i < len(ids) and kinds[ids[i]] == TRACK:
            if values[ids[i]] != len(tracks):
                raise self.fail(i, f"Track_{len(tracks)} (tracks are declared in order)")
            if i + 1 >= len(ids) or kinds[ids[i + 1]] != PROGRAM:
                raise self.fail(min(i + 1, len(ids) - 1), "Program after a track declaration")
            index = len(tracks)
            is_drum = i + 2 < len(ids) and kinds[ids[i + 2]] == DRUM
            name = self.names[index] if self.names and index < len(self.names) else f"Track {index}"
            tracks.append(Track(name, values[ids[i + 1]], is_drum, []))
            i += 3 if is_drum else 2
        if i < len(ids) and kinds[ids[i]] not in (BAR, EOS):
            raise self.fail(i, "Track, Bar or EOS")
        return tracks, i

    def _note(self, i: int, notes: list[Note], onset: int) -> int:
        """Read Pitch Duration Velocity at `i`; returns the index of the Velocity token."""
        ids, kinds, values = self.ids, self.vocab.kinds, self.vocab.values
        for offset, kind in ((1, DURATION), (2, VELOCITY)):
            if i + offset >= len(ids):
                raise TokenGrammarError(
                    f"token sequence ends at token {len(ids) - 1} inside a note: expected {KIND_NAMES[kind]}"
                )
            if kinds[ids[i + offset]] != kind:
                raise self.fail(i + offset, KIND_NAMES[kind])
        notes.append(Note(values[ids[i]], onset, values[ids[i + 1]], values[ids[i + 2]]))
        return i + 2


def _finished(score: Score, end_tick: int) -> Score:
    """The decoded score with the defaults a token sequence may leave out, notes in order."""
    score.tempos = score.tempos or [Tempo(0, 120.0)]
    score.meters = score.meters or [Meter(0, 4, 4)]
    score.end_tick = end_tick
    for track in score.tracks:
        track.sort()
    return score
