"""An n-gram Markov melody model: the baseline a neural model has to beat.

Events are `(pitch in C, duration in ticks)` pairs, with rests as pitch
:data:`REST`; every piece is transposed so its tonic is C (by
:func:`midigan.representations.ids.shift_to_c`, so the register barely moves). The model counts
which event follows each context of up to `order` events, separately for every
(mode, meter) and, as a fallback for rare meters, for every mode. Sampling backs off
from the longest context seen at least `min_count` times to shorter ones (plain
backoff: the distribution of the longest usable context, renormalized; no
interpolation).

Pieces are exactly the requested length: at each step the events whose duration
would cross the final barline are masked out; if a context has nothing left, the
model backs off further, and if even the unigram has nothing short enough it holds
the last pitch for the remaining ticks. Chords and style are ignored — that is what
makes it a baseline.

Counts live in one sorted int64 array of packed n-gram keys (group, context, next),
so the whole training split fits in a few tens of MB and a lookup is a binary search.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from midigan.errors import ConfigError
from midigan.music.score import KeySignature, Meter, Note, Score, Tempo, Track
from midigan.representations.conditions import Conditions
from midigan.representations.ids import METER_NAMES, meter_id, mode_id, shift_to_c
from midigan.representations.streams import REST, NoteStreams
from midigan.representations.tune import Tune

Event = tuple[int, int]

_PAD, _BOS = 0, 1  # ids for "shorter context" and "start of piece"; real events from 2


def tune_events(tune: Tune) -> list[Event]:
    """The tune as `(pitch in C or REST, duration)` events tiling 0..end (gaps become rests)."""
    shift = shift_to_c(tune.tonic)
    events: list[Event] = []
    tick = 0
    for pitch, onset, duration in zip(tune.pitch, tune.onset, tune.duration, strict=True):
        if onset > tick:
            events.append((REST, int(onset - tick)))
        length = int(min(duration, tune.end_tick - onset))
        if onset < tick or length <= 0:  # overlapping notes in a not-quite-monophonic line
            continue
        events.append((int(pitch) + shift, length))
        tick = int(onset) + length
    if tune.end_tick > tick:
        events.append((REST, tune.end_tick - tick))
    return events


class MarkovModel:
    """Order-`order` Markov chain over (pitch in C, duration) events with backoff.

    Args:
        order: longest context, in events (2 or 3 is usual).
        min_count: a context seen fewer times than this is skipped in favour of a shorter one.
    """

    def __init__(self, order: int = 3, min_count: int = 2) -> None:
        if order < 1:
            raise ConfigError(f"Markov order must be at least 1 (got {order})")
        self.order = order
        self.min_count = max(1, min_count)
        self.events: list[Event] = []
        self._ids: dict[Event, int] = {}
        self.keys = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0, dtype=np.int64)
        self.velocities = np.array([80], dtype=np.int64)
        self._groups: set[int] = set()

    # ----------------------------------------------------------------- fitting
    def fit(self, tunes: Iterable[Tune]) -> MarkovModel:
        """Count every n-gram (orders 0..`order`) of the tunes; returns self.

        Raises:
            ConfigError: no tune has a note, or too many distinct events to pack.
        """
        sequences, velocities = [], []
        for tune in tunes:
            if len(tune):
                sequences.append((self._group_ids(tune.mode, tune.meter), tune_events(tune)))
                velocities.append(tune.velocity)
        if not sequences:
            raise ConfigError("the Markov baseline needs at least one training piece with notes")
        vocabulary = sorted({e for _, events in sequences for e in events})
        self.events = vocabulary
        self._ids = {e: i + 2 for i, e in enumerate(vocabulary)}
        self._bits = max(2, int(len(vocabulary) + 2).bit_length())
        if (self.order + 1) * self._bits + 6 > 63:
            raise ConfigError(
                f"{len(vocabulary)} distinct events are too many for an order-{self.order} model; lower it"
            )
        keys = [self._ngram_keys(groups, events) for groups, events in sequences]
        self.keys, self.counts = np.unique(np.concatenate(keys), return_counts=True)
        self.velocities = np.concatenate(velocities).astype(np.int64)
        self._groups = {int(g) for g in self.keys >> np.int64((self.order + 1) * self._bits)}
        self._durations = np.array([0, 0] + [d for _, d in vocabulary], dtype=np.int64)
        return self

    @staticmethod
    def _group_ids(mode: str, meter: tuple[int, int]) -> tuple[int, int]:
        """The (mode, meter) group and the mode-only fallback group."""
        m = mode_id(mode)
        return m * len(METER_NAMES) + meter_id(*meter), 2 * len(METER_NAMES) + m

    def _pack(self, group: int, context: Sequence[int], nxt: int | np.ndarray) -> np.ndarray:
        """Key = group | context left-padded to `order` ids | next id, `_bits` bits per id."""
        key = np.int64(group)
        padded = [_PAD] * (self.order - len(context)) + list(context)
        for symbol in padded:
            key = (key << np.int64(self._bits)) | np.int64(symbol)
        return (key << np.int64(self._bits)) | np.asarray(nxt, dtype=np.int64)

    def _ngram_keys(self, groups: tuple[int, int], events: list[Event]) -> np.ndarray:
        """Packed keys of every n-gram (context lengths 0..order) of one piece, in both groups."""
        ids = np.array([_BOS] * self.order + [self._ids[e] for e in events], dtype=np.int64)
        windows = np.lib.stride_tricks.sliding_window_view(ids, self.order + 1)  # (T, order+1)
        bits = np.int64(self._bits)
        keys = []
        for group in groups:
            for k in range(self.order + 1):
                key = np.full(len(windows), group, dtype=np.int64)
                for j in range(self.order):  # the first order-k context slots are padding
                    symbol = windows[:, j] if j >= self.order - k else np.int64(_PAD)
                    key = (key << bits) | symbol
                keys.append((key << bits) | windows[:, self.order])
        return np.concatenate(keys)

    # ------------------------------------------------------------ distributions
    def _continuations(self, group: int, context: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(event ids, counts) observed after `context` in `group`."""
        low = self._pack(group, context, 0)
        high = low + (np.int64(1) << np.int64(self._bits))
        lo, hi = np.searchsorted(self.keys, [low, high])
        mask = (np.int64(1) << np.int64(self._bits)) - 1
        return self.keys[lo:hi] & mask, self.counts[lo:hi]

    def _group_for(self, mode: str, meter: tuple[int, int]) -> int:
        specific, fallback = self._group_ids(mode, meter)
        return specific if specific in self._groups else fallback

    def distribution(
        self, context: Sequence[Event], mode: str = "major", meter: tuple[int, int] = (4, 4)
    ) -> dict[Event, float]:
        """P(next event | context) under plain backoff; the probabilities sum to 1.

        Args:
            context: the events so far (only the last `order` matter); [] = start of piece.
            mode: 'major' or 'minor'.
            meter: (numerator, denominator).

        Raises:
            ConfigError: the model is not fitted, or has never seen this mode.
        """
        ids, counts = self._backoff(self._history_ids(context), self._group_for(mode, tuple(meter)), None)
        total = counts.sum()
        return {self.events[i - 2]: float(c / total) for i, c in zip(ids, counts, strict=True)}

    def _history_ids(self, context: Sequence[Event]) -> list[int]:
        return [_BOS] * self.order + [self._ids.get(tuple(e), _PAD) for e in context]

    def _backoff(
        self, history: list[int], group: int, max_ticks: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Continuations of the longest usable context, masked to durations <= `max_ticks`."""
        if not self.keys.size:
            raise ConfigError("the Markov model is not fitted: call fit() with training pieces first")
        for k in range(self.order, -1, -1):
            context = history[len(history) - k :] if k else []
            if _PAD in context:
                continue
            ids, counts = self._continuations(group, context)
            if max_ticks is not None:
                keep = self._durations[ids] <= max_ticks
                ids, counts = ids[keep], counts[keep]
            if counts.sum() >= (self.min_count if k else 1):
                return ids, counts
        if max_ticks is None:
            raise ConfigError(f"the Markov model saw no pieces of group {group}")
        return np.zeros(0, np.int64), np.zeros(0, np.int64)

    # ------------------------------------------------------------------ sampling
    def generate_events(self, conditions: Conditions, rng: np.random.Generator) -> list[Event]:
        """Events (pitch in C) tiling exactly `conditions.bars` bars."""
        group = self._group_for(conditions.key[1], conditions.meter)
        total, tick = conditions.total_ticks(), 0
        history = [_BOS] * self.order
        events: list[Event] = []
        while tick < total:
            ids, counts = self._backoff(history, group, total - tick)
            if ids.size:
                chosen = int(rng.choice(ids, p=counts / counts.sum()))
                event = self.events[chosen - 2]
            else:  # nothing short enough was ever seen: hold the last pitch to the end
                event, chosen = (events[-1][0] if events else REST, total - tick), _PAD
            events.append(event)
            history.append(chosen)
            tick += event[1]
        return events

    def generate_score(self, conditions: Conditions, rng: np.random.Generator) -> Score:
        """One piece for `conditions`: melody in the requested key, chords as requested."""
        tonic, mode = conditions.key
        shift = shift_to_c(tonic)
        notes, tick = [], 0
        for pitch, duration in self.generate_events(conditions, rng):
            if pitch != REST:
                notes.append(Note(pitch - shift, tick, duration, int(rng.choice(self.velocities))))
            tick += duration
        return Score(
            tracks=[Track(name="Melody", notes=notes)],
            tempos=[Tempo(0, float(conditions.qpm))],
            meters=[Meter(0, *conditions.meter)],
            keys=[KeySignature(0, tonic, mode)],
            chords=conditions.chord_labels(),
            end_tick=conditions.total_ticks(),
            title="markov baseline",
        )

    def generate_scores(self, conditions: Sequence[Conditions], seed: int | None = None) -> list[Score]:
        """:meth:`generate_score` for each conditions, from one seeded generator."""
        rng = np.random.default_rng(seed)
        return [self.generate_score(c, rng) for c in conditions]

    def generate(self, conditions: Sequence[Conditions], seed: int | None = None) -> list[NoteStreams]:
        """Pieces as NoteStreams in the requested keys (not moved to C), like the model sampler."""
        scores = self.generate_scores(conditions, seed)
        pairs = zip(scores, conditions, strict=True)
        return [NoteStreams.from_score(s, style=c.style, to_c=False) for s, c in pairs]


def fit_markov(tunes: Iterable[Tune], order: int = 3, min_count: int = 2) -> MarkovModel:
    """A :class:`MarkovModel` fitted on `tunes` (the training split)."""
    return MarkovModel(order, min_count).fit(tunes)
