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

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from midigan.errors import TokenGrammarError
from midigan.music.score import ChordLabel, KeySignature, Meter, Note, Score, Tempo, Track
from midigan.representations.event_encoder import Encoder, PieceArrays
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
from midigan.representations.ids import chord_from_id

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
        ids = Encoder(PieceArrays.from_score(score, vocab), vocab).encode()
        return cls(ids, vocab, [t.name for t in score.tracks], score.title)

    @classmethod
    def from_midi(
        cls,
        path: str | Path,
        vocab: TokenVocab | None = None,
        *,
        max_ticks: int | None = None,
        max_notes: int | None = None,
    ) -> EventTokens:
        """Tokenize a MIDI file: ``from_score(read_midi(path))``, the same ids, without `Note` objects.

        The reader's arrays (:func:`~midigan.io.midi.read_midi_arrays`) go to the encoder in
        bulk, which makes tokenizing a corpus several times faster. Quantization is not
        warned about (as :func:`~midigan.io.midi.read_midi_report`).

        Raises:
            MidiReadError: as :func:`~midigan.io.midi.read_midi` (the same checks and limits).
            TokenGrammarError: as :meth:`from_score`.
        """
        from midigan.io.midi import read_midi_arrays  # here: mido and symusic load only for reading

        vocab = vocab or default_vocab()
        piece, _ = read_midi_arrays(path, max_ticks=max_ticks, max_notes=max_notes, measure=False)
        ids = Encoder(PieceArrays.from_arrays(piece, vocab), vocab).encode()
        return cls(ids, vocab, list(piece.names), piece.title)

    def to_score(self) -> Score:
        """Decode, checking the grammar token by token.

        Raises:
            TokenGrammarError: names the index and token where the sequence breaks
                and what was expected there.
        """
        return _Decoder(self.ids, self.vocab, self.track_names, self.title).decode()


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
