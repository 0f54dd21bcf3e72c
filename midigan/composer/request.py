"""A musician's request -> validated :class:`~midigan.representations.conditions.Conditions`.

The one text -> Conditions parser: key names ('Am', 'F#', or `(tonic, mode)`), meters
('6/8' or `(6, 8)`), chord progressions in every accepted shape (``?`` leaves a chord to
the model), tempo, style and a primer, each checked at the boundary with a message that
names the argument. Gaps are filled with defaults a musician would pick: a key the style
favours and chords sampled by the model's chord model (else a plain folk progression)
drawn from the seed, a tempo typical of the style and meter, the primer's
meter, key and chords when there is one. :func:`midigan.compose` plans its pieces here;
:func:`conditions_from_text` serves callers that name every condition themselves.
"""

from __future__ import annotations

import numbers
import random
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midigan.composer.primer import move_primer, primer_streams, read_primer
from midigan.composer.progressions import (
    NO_CHORDS,
    OPEN,
    HarmonyRequest,
    bars_of_chords,
    cycled,
    default_progression,
    fill_open,
    has_open,
    learned_progressions,
)
from midigan.errors import ConfigError, TheoryError
from midigan.io.spelling import parse_spelled, spelled_name
from midigan.music import theory
from midigan.music.harmony import key_of_chords
from midigan.music.score import Score
from midigan.representations.conditions import MAX_QPM, MIN_QPM, Conditions
from midigan.representations.ids import Chord, style_id

if TYPE_CHECKING:
    from midigan.model.harmony import HarmonyModel
    from midigan.representations.streams import NoteStreams

OPEN_SYMBOL = "?"
"""A chord left to the model in a progression: a whole bar ('C ? ? G7'), or one half of a
two-chord bar ('C | ? G7')."""

STYLE_KEYS: dict[str, dict[str, int]] = {
    "folk": {"G": 2273, "F": 1462, "C": 823, "D": 530, "Bb": 413, "Gm": 376, "A": 316, "Dm": 237,
             "Am": 232, "Eb": 214, "Em": 170},
    "irish": {"G": 645, "D": 482, "A": 193, "Am": 83, "Gm": 82, "Em": 72, "C": 49, "Dm": 43},
    "fiddle": {"G": 272, "D": 259, "A": 149, "Bb": 85, "F": 59, "C": 44, "Am": 33, "Em": 25},
    "chorale": {"Am": 46, "G": 32, "Dm": 30, "A": 29, "C": 27, "D": 25, "Bb": 22, "Gm": 22, "Em": 21,
                "F": 21, "Bm": 18, "Eb": 10, "E": 6},
}  # fmt: skip
"""Keys drawn when none is asked for, weighted as the collections use them: the tunes of each
key in the train split of ``corpora/manifest.jsonl``, the most common keys that together hold
95% of the style's tunes (tests/test_compose.py checks the counts against the manifest). The
mode is a condition of the model, so drawing minor as often as the collection does matters:
an even-handed list drew minor keys 20-34% of the time where the collections have 9-17%."""

_DANCE_TEMPOS = {"4/4": 144, "3/4": 132, "2/4": 120, "6/8": 165, "2/2": 200, "3/8": 150, "9/8": 165}
STYLE_TEMPOS: dict[str, dict[str, float]] = {
    "folk": {"4/4": 108, "3/4": 120, "2/4": 96, "6/8": 150, "2/2": 160, "3/8": 132, "9/8": 150},
    "irish": _DANCE_TEMPOS,
    "fiddle": _DANCE_TEMPOS,
    "chorale": {"4/4": 72, "3/4": 80, "2/4": 72, "6/8": 96, "2/2": 120, "3/8": 90, "9/8": 96},
}
"""Default tempi in quarter notes per minute (the BPM a DAW shows), by style and meter."""

DEFAULT_TEMPO = 110.0


def resolve_seed(seed: int | None) -> int:
    """The seed to use: `seed` checked, or a fresh one (short enough for a file name).

    Raises:
        ConfigError: not a whole number in 0..2**63-1.
    """
    if seed is None:
        return secrets.randbelow(1_000_000)
    return check_whole("seed", seed, 0, 2**63 - 1)


def plan_conditions(
    bars: int,
    key: str | tuple[int, str] | None,
    meter: str | tuple[int, int] | None,
    tempo: float | None,
    chords: str | Sequence[str] | Sequence[Sequence[str]] | None,
    style: str | None,
    primer: str | Path | Score | None,
    seed: int,
    n: int,
    primer_bars: int | None = None,
    harmony: Callable[[], HarmonyModel | None] | None = None,
) -> list[Conditions]:
    """Turn a musician's request into one validated Conditions per piece.

    `primer_bars` keeps only the primer's first N bars (negative: its last N). `harmony`
    gives the model's chord model (called only once the request is checked, and only when
    a chord is left open: no chords, or ``?`` in them); without one, open chords follow
    the hand-written progressions.

    Raises:
        ConfigError, TheoryError, MidiReadError: see :func:`compose`.
    """
    style_id(style)  # an unknown style fails here, before any file is read
    free = isinstance(chords, str) and chords.strip().lower() in NO_CHORDS
    progression = [] if free else parse_chords(chords)
    meter_pair = _parse_meter(meter)
    asked_key = _parse_key(key)
    if primer_bars is not None:
        if primer is None:
            raise ConfigError("primer_bars: give a primer to take bars from")
        check_whole("primer_bars", primer_bars, -(2**31), 2**31)
    melody = read_primer(primer, primer_bars) if primer is not None else None
    if melody is not None:
        primer_meter = melody.meters[0]
        if meter_pair and meter_pair != (primer_meter.numerator, primer_meter.denominator):
            raise ConfigError(
                f"meter: the primer is in {primer_meter.name} but {meter_pair[0]}/{meter_pair[1]} was asked; "
                "leave the meter out to continue in the primer's"
            )
        meter_pair = (primer_meter.numerator, primer_meter.denominator)
        if melody.bar_count >= bars:
            raise ConfigError(
                f"bars: the primer fills {melody.bar_count} bar(s); ask for more than that "
                f"(e.g. {melody.bar_count + 8}) so there is something to continue, or take only "
                "its first or last bars with primer_bars (--primer-bars 4, --primer-bars -4)"
            )
    meter_pair = meter_pair or (4, 4)
    qpm = _check_tempo(tempo) if tempo is not None else _default_tempo(style, meter_pair, melody)
    primers: dict[tuple[int, str], Score] = {}  # one transposition per key, not per piece
    streams: dict[tuple[int, str], NoteStreams] = {}
    keys, plans = [], []
    for index in range(n):
        piece_seed = seed + index  # piece `index` of a batch is the piece this seed gives alone
        piece_key = asked_key or _implied_key(melody, progression) or _drawn_key(style, piece_seed)
        if melody is not None and piece_key not in primers:
            primers[piece_key] = move_primer(melody, piece_key)
            streams[piece_key] = primer_streams(primers[piece_key], style)
        bar_chords = progression
        if chords is None:
            bar_chords = [[OPEN]] * bars
            if melody is not None:
                own = bars_of_chords(primers[piece_key])  # the primer keeps its own harmony
                bar_chords = own + bar_chords[len(own) :]
        elif has_open(progression):
            bar_chords = cycled(progression, bars)
        keys.append(piece_key)
        plans.append(bar_chords)
    plans = _fill_open(plans, keys, meter_pair, style, seed, harmony)
    out = []
    for piece_key, bar_chords in zip(keys, plans, strict=True):
        made = Conditions(bars, meter_pair, piece_key, bar_chords, style, qpm, streams.get(piece_key))
        made.validate()
        out.append(made)
    return out


def _fill_open(
    plans: list[list[list[Chord]]],
    keys: list[tuple[int, str]],
    meter: tuple[int, int],
    style: str | None,
    seed: int,
    harmony: Callable[[], HarmonyModel | None] | None,
) -> list[list[list[Chord]]]:
    """Every piece's open chords chosen: sampled by the chord model, else the hand-written pattern's."""
    open_pieces = [i for i, plan in enumerate(plans) if has_open(plan)]
    if not open_pieces:
        return plans
    model = harmony() if harmony is not None else None
    out = list(plans)
    if model is None:
        for i in open_pieces:
            out[i] = fill_open(plans[i], default_progression(keys[i], len(plans[i]), seed + i))
        return out
    requests = [HarmonyRequest(keys[i], meter, style, seed + i, plans[i]) for i in open_pieces]
    for i, sampled in zip(open_pieces, learned_progressions(model, requests), strict=True):
        out[i] = sampled
    return out


def parse_chords(
    chords: str | Sequence[str] | Sequence[Sequence[str]] | None,
) -> list[list[tuple[int | None, str]]]:
    """Chord progression in any accepted shape -> bars of `(root, quality)`.

    A ``?`` leaves a chord to the model (:data:`~midigan.composer.progressions.OPEN`): a whole
    bar, or one half of a bar of two chords.

    Raises:
        TheoryError: an unknown chord symbol, an empty progression, or a ``?`` in a bar of
            more than two chords.
        ConfigError: not a string or a list of strings / lists of strings.
    """
    if chords is None:
        return []
    if isinstance(chords, str):
        if OPEN_SYMBOL not in chords:
            return theory.parse_progression(chords)
        text = chords
        split = [bar.split() for bar in text.split("|")] if "|" in text else [[s] for s in text.split()]
        chords = [bar for bar in split if bar]
        if not chords:
            raise TheoryError(f"empty chord progression {text!r}: give chord symbols like 'C G Am F'")
    if not isinstance(chords, Sequence) or not chords:
        raise ConfigError(f"chords must be a string like 'C G Am F' or a list of symbols (got {chords!r})")
    bars = []
    for bar in chords:
        symbols = [bar] if isinstance(bar, str) else bar
        if not isinstance(symbols, Sequence) or not symbols or not all(isinstance(s, str) for s in symbols):
            raise ConfigError(
                f"chords: each bar must be a symbol or a non-empty list of symbols (got {bar!r})"
            )
        bars.append([_parse_symbol(symbol) for symbol in symbols])
        if len(symbols) > 2 and OPEN in bars[-1]:
            raise TheoryError(
                f"chords: bar {len(bars)} ({' '.join(symbols)}): '?' stands for a whole bar or one half "
                "of a two-chord bar; write at most two chords in a bar with '?'"
            )
    return bars


def _parse_symbol(symbol: str) -> Chord:
    """One chord symbol, or :data:`~midigan.composer.progressions.OPEN` for '?'."""
    return OPEN if symbol.strip() == OPEN_SYMBOL else theory.parse_chord(symbol)


def conditions_from_text(
    bars: int,
    *,
    meter: str | tuple[int, int] = "4/4",
    key: str | tuple[int, str] = "C",
    chords: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
    style: str | None = None,
    tempo: float = 120.0,
) -> Conditions:
    """One piece's Conditions from the names a user types, with nothing drawn from a seed.

    What :func:`plan_conditions` makes of a full request (the same parsing, checks and
    messages), for callers that ask for exact conditions: tests, benchmarks, evaluation.
    Unlike :func:`~midigan.compose`, no chords (None) means no chord conditioning.

    Raises:
        ConfigError, TheoryError: see :func:`midigan.compose`.
    """
    progression = NO_CHORDS[0] if chords is None else chords
    return plan_conditions(bars, key, meter, tempo, progression, style, None, seed=0, n=1)[0]


def key_spelling(key: str | tuple[int, str] | None) -> str | None:
    """How the user wrote the key's tonic ('Db' from 'Dbm', 'D#' from 'd#'), for notation and summaries.

    None for a `(tonic, mode)` pair or no key: the usual spelling is used. Call it on a key
    :func:`plan_conditions` accepted (the spelling only, never a check).
    """
    if not isinstance(key, str) or not key.strip():
        return None
    tonic = key.strip()[:1] + "".join(c for c in key.strip()[1:2] if c in "#♯b♭")
    spelled = parse_spelled(tonic)
    return spelled_name(spelled) if spelled is not None else None


def _key_of(melody: Score) -> tuple[int, str]:
    key = melody.keys[0]
    return key.tonic, key.mode


def _implied_key(melody: Score | None, progression: list[list[Chord]]) -> tuple[int, str] | None:
    """The key the user's material is in: the primer's, else the chords' (None: neither says)."""
    if melody is not None:
        return _key_of(melody)
    return key_of_chords(progression)


def _drawn_key(style: str | None, seed: int) -> tuple[int, str]:
    """A key the style favours, drawn from the piece's seed (':1': the weighted draw; ':0' was an
    unweighted list)."""
    weights = STYLE_KEYS[style or "folk"]
    name = random.Random(f"midigan-key:{seed}:1").choices(list(weights), list(weights.values()))[0]
    return theory.parse_key(name)


def _default_tempo(style: str | None, meter: tuple[int, int], melody: Score | None) -> float:
    if melody is not None and melody.tempos:
        return float(melody.tempos[0].qpm)
    return float(STYLE_TEMPOS[style or "folk"].get(f"{meter[0]}/{meter[1]}", DEFAULT_TEMPO))


def _parse_meter(meter: str | tuple[int, int] | None) -> tuple[int, int] | None:
    if meter is None:
        return None
    if isinstance(meter, str):
        return theory.parse_meter(meter)
    if isinstance(meter, Sequence) and len(meter) == 2:
        return theory.parse_meter(f"{meter[0]}/{meter[1]}")
    raise TheoryError(f"unknown meter {meter!r}: write it as N/D, e.g. '4/4', '3/4', '6/8'")


def _parse_key(key: str | tuple[int, str] | None) -> tuple[int, str] | None:
    if key is None:
        return None
    if isinstance(key, str):
        return theory.parse_key(key)
    if isinstance(key, Sequence) and len(key) == 2 and key[1] in ("major", "minor"):
        tonic = check_whole("key tonic", key[0], 0, 11)
        return tonic, str(key[1])
    raise TheoryError(f"unknown key {key!r}: write a name like 'C', 'Am', 'F#m' or 'Bb'")


def check_whole(name: str, value: Any, low: int, high: int | None) -> int:
    """`value` as an int in low..high (None: no upper bound).

    Raises:
        ConfigError: not a whole number (bools refused), or out of range; names `name`.
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ConfigError(f"{name} must be a whole number (got {value!r})")
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{name} must be {bound} (got {value})")
    return int(value)


def check_temperature(temperature: Any) -> float:
    """A sampling temperature in (0, 10].

    Raises:
        ConfigError: not a number, or out of range.
    """
    if not isinstance(temperature, numbers.Real) or not 0 < float(temperature) <= 10:
        raise ConfigError(f"temperature must be a number above 0 and at most 10 (got {temperature!r})")
    return float(temperature)


def _check_tempo(tempo: Any) -> float:
    if not isinstance(tempo, numbers.Real) or not MIN_QPM <= float(tempo) <= MAX_QPM:
        raise ConfigError(f"tempo must be between {MIN_QPM:g} and {MAX_QPM:g} bpm (got {tempo!r})")
    return float(tempo)
