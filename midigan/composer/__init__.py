"""`compose`: the Python front door. Names in, finished pieces out.

A musician speaks in bars, key names, meters and chord symbols; the model speaks in
:class:`~midigan.representations.conditions.Conditions` and note streams. This module translates
one into the other, checking every argument at the boundary (the message names the
argument), fills the gaps with defaults a musician would pick, asks the sampler for
all pieces in one batched call, and dresses each melody as a :class:`~midigan.composer.piece.Piece`
with tempo, key, chords and an arrangement.

Defaults: no key -> one the style favours, drawn from the seed (so the same seed
gives the same key); no chords -> a plain folk progression in that key, also drawn
from the seed (:mod:`midigan.composer.progressions`); no tempo -> a tempo typical of the
style and meter; no meter -> the primer's, else 4/4. A primer is read with :func:`midigan.load`, its melody
found by the melody rule (:mod:`midigan.music.melody`), moved into the requested key (or
its own key is kept), and continued; its notes stay exactly as they were.

torch is imported only when a model is loaded; the loaded shipped model is cached
for the life of the process.
"""

from __future__ import annotations

import numbers
import random
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midigan.composer.piece import MELODY_TRACK_NAME, Piece
from midigan.composer.primer import move_primer, primer_streams, read_primer
from midigan.composer.progressions import NO_CHORDS, bars_of_chords, default_progression
from midigan.errors import CheckpointError, ConfigError, TheoryError
from midigan.music import theory
from midigan.music.score import KeySignature, Meter, Score, Tempo
from midigan.representations.conditions import Conditions, style_id

if TYPE_CHECKING:
    from midigan.model.checkpoint import ModelBundle
    from midigan.representations.streams import NoteStreams

MAX_PIECES = 4096
"""Most pieces one call may ask for (memory on the device grows with the batch)."""

STYLE_KEYS: dict[str, tuple[str, ...]] = {
    "folk": ("C", "G", "F", "D", "G", "C", "Am", "Dm"),
    "irish": ("D", "G", "D", "G", "A", "C", "Em", "Am"),
    "fiddle": ("D", "G", "A", "C", "F", "D", "Em", "Am"),
    "chorale": ("C", "G", "F", "D", "Bb", "A", "Am", "Gm", "Dm", "Em"),
}
"""Keys drawn when none is asked for, repeated to weight them as the collections do."""

_DANCE_TEMPOS = {"4/4": 144, "3/4": 132, "2/4": 120, "6/8": 165, "2/2": 200, "3/8": 150, "9/8": 165}
STYLE_TEMPOS: dict[str, dict[str, float]] = {
    "folk": {"4/4": 108, "3/4": 120, "2/4": 96, "6/8": 150, "2/2": 160, "3/8": 132, "9/8": 150},
    "irish": _DANCE_TEMPOS,
    "fiddle": _DANCE_TEMPOS,
    "chorale": {"4/4": 72, "3/4": 80, "2/4": 72, "6/8": 96, "2/2": 120, "3/8": 90, "9/8": 96},
}
"""Default tempi in quarter notes per minute (the BPM a DAW shows), by style and meter."""

DEFAULT_TEMPO = 110.0

INSTRUMENTS: dict[str, tuple[int, int, int]] = {
    "folk": (73, 0, 32),  # flute, piano, acoustic bass
    "irish": (40, 0, 32),  # violin (fiddle), piano, acoustic bass
    "fiddle": (40, 0, 32),
    "chorale": (52, 48, 42),  # choir aahs, string ensemble, cello
}
"""General MIDI programs (melody, chords, bass) per style."""

_BUNDLES: dict[tuple[str, int, str], ModelBundle] = {}


def load_model(path: str | Path | None = None, device: str | None = None) -> ModelBundle:
    """Load a model (cached in-process): the shipped one, or a checkpoint from `midigan train`.

    Args:
        path: a checkpoint folder or its .safetensors file; None = the model shipped
            in the package (midigan/pretrained/).
        device: 'cpu', 'cuda', 'cuda:1'...; None = CPU (:func:`compose` itself moves
            batches of 16 pieces or more to CUDA when there is a GPU).

    Raises:
        CheckpointError: missing, corrupted, or not a midigan checkpoint.
    """
    from midigan.model.checkpoint import load_model as load_checkpoint

    device = device or _default_device(1)
    where = Path(path).resolve() if path is not None else None
    version = where.stat().st_mtime_ns if where is not None and where.exists() else 0  # a retrained folder
    cache_key = (str(where) if where is not None else "<shipped>", version, device)
    if cache_key not in _BUNDLES:
        _BUNDLES[cache_key] = load_checkpoint(path, device=device)
    return _BUNDLES[cache_key]


def compose(
    bars: int = 16,
    key: str | tuple[int, str] | None = None,
    meter: str | tuple[int, int] | None = None,
    tempo: float | None = None,
    chords: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
    style: str | None = None,
    primer: str | Path | Score | None = None,
    seed: int | None = None,
    temperature: float | None = None,
    n: int = 1,
    model: str | Path | ModelBundle | None = None,
    accompaniment: bool = True,
    strict_key: bool = False,
    device: str | None = None,
) -> Piece | list[Piece]:
    """Compose `n` new pieces (one batched sampler call) and return them as Pieces.

    Args:
        bars: length in bars (1-512); the piece is exactly this long.
        key: 'C', 'Am', 'F#m', 'Bb'... or `(tonic_pc, mode)`; None = the primer's key,
            else one the style favours drawn from the seed.
        meter: '4/4', '3/4', '6/8', '2/4'... or `(6, 8)`; None = the primer's, else 4/4.
        tempo: quarter notes per minute; None = typical of the style and meter.
        chords: 'C G Am F' (one a bar, cycled), 'C G | Am | F C' ('|' between bars,
            several chords split a bar), ['C', 'G', ...] (one a bar), or
            [['C', 'G'], ['Am'], ...] (bars of chords). None = a plain folk progression
            in the key drawn from the seed, ending V - I (a primer keeps its own
            chords; see :mod:`midigan.composer.progressions`). 'none' = no chords at all: the
            model writes unconditioned and the arrangement follows chords estimated
            from the melody.
        style: one of 'folk', 'irish', 'fiddle', 'chorale'; None = folk.
        primer: a MIDI/ABC/MusicXML path or a Score whose melody the piece continues.
        seed: makes the result reproducible (same seed and model -> same bytes);
            None draws one, kept in `Piece.seed`.
        temperature: sampling temperature (> 0; below 1 is safer, above 1 bolder);
            None = the model's tuned default (its config's `[sampling] temperature`).
        n: number of pieces; 1 returns a Piece, more return a list.
        model: a checkpoint path or a loaded ModelBundle; None = the shipped model.
        accompaniment: add chord and bass tracks.
        strict_key: forbid every pitch outside the key's scale (minor with its raised
            7th); by default the model follows the key as the corpus does, with the
            occasional chromatic note.
        device: where to sample; None = CUDA for batches of 16+ when available, else CPU.

    Returns:
        A Piece (n == 1) or a list of n Pieces.

    Raises:
        ConfigError: a value out of range (bars 0, n 0, temperature <= 0...).
        TheoryError: an unknown key, meter, chord symbol or style.
        MidiReadError: the primer cannot be read or holds no notes.
        CheckpointError: the model is missing or not a midigan checkpoint.
    """
    n = _check_whole("n", n, 1, MAX_PIECES)
    bars = _check_whole("bars", bars, 1, None)
    seed = resolve_seed(seed)
    temperature = None if temperature is None else _check_temperature(temperature)
    conditions = plan_conditions(bars, key, meter, tempo, chords, style, primer, seed, n)
    bundle = _resolve_model(model, device, n)
    from midigan.model.sampler import sample

    streams = sample(bundle, conditions, temperature=temperature, seed=seed, key_mask=bool(strict_key))
    pieces = [finish_piece(s, c, seed, accompaniment) for s, c in zip(streams, conditions, strict=True)]
    return pieces[0] if n == 1 else pieces


def compose_to_files(
    out: str | Path | None = None, formats: Sequence[str] = (), **request: Any
) -> tuple[list[Piece], list[Path]]:
    """Compose and write the pieces to files: what `midigan compose` does.

    The output paths are planned and checked, and the formats' tools found, before
    the model is loaded; a failure removes whatever this call wrote.

    Args:
        out: a file, a folder, or None (see :mod:`midigan.composer.outputs`).
        formats: format names ('mid', 'musicxml', 'wav', 'png' or comma lists).
        **request: the arguments of :func:`compose`.

    Returns:
        The pieces and the paths written.

    Raises:
        MidiganError: any failure of :func:`compose` or of writing.
    """
    from midigan.composer.outputs import plan_outputs, write_outputs
    from midigan.io.export import check_ready, parse_formats

    request["seed"] = resolve_seed(request.get("seed"))
    n = _check_whole("n", request.get("n", 1), 1, MAX_PIECES)
    plans = plan_outputs(out, parse_formats(formats), n, request["seed"])
    for fmt in plans[0]:
        check_ready(fmt)
    made = compose(**request)
    pieces = [made] if isinstance(made, Piece) else made
    return pieces, write_outputs([p.score for p in pieces], plans)


def resolve_seed(seed: int | None) -> int:
    """The seed to use: `seed` checked, or a fresh one (short enough for a file name).

    Raises:
        ConfigError: not a whole number in 0..2**63-1.
    """
    if seed is None:
        return secrets.randbelow(1_000_000)
    return _check_whole("seed", seed, 0, 2**63 - 1)


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
) -> list[Conditions]:
    """Turn a musician's request into one validated Conditions per piece.

    Raises:
        ConfigError, TheoryError, MidiReadError: see :func:`compose`.
    """
    style_id(style)  # an unknown style fails here, before any file is read
    free = isinstance(chords, str) and chords.strip().lower() in NO_CHORDS
    progression = [] if free else parse_chords(chords)
    meter_pair = _parse_meter(meter)
    asked_key = _parse_key(key)
    melody = read_primer(primer) if primer is not None else None
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
                f"(e.g. {melody.bar_count + 8}) so there is something to continue"
            )
    meter_pair = meter_pair or (4, 4)
    qpm = _check_tempo(tempo) if tempo is not None else _default_tempo(style, meter_pair, melody)
    out = []
    primers: dict[tuple[int, str], Score] = {}  # one transposition per key, not per piece
    streams: dict[tuple[int, str], NoteStreams] = {}
    for index in range(n):
        piece_key = asked_key or (_key_of(melody) if melody is not None else _drawn_key(style, seed, index))
        if melody is not None and piece_key not in primers:
            primers[piece_key] = move_primer(melody, piece_key)
            streams[piece_key] = primer_streams(primers[piece_key], style)
        bar_chords = progression
        if chords is None:
            bar_chords = default_progression(piece_key, bars, seed, index)
            if melody is not None:
                own = bars_of_chords(primers[piece_key])  # the primer keeps its own harmony
                bar_chords = own + bar_chords[len(own) :]
        made = Conditions(bars, meter_pair, piece_key, bar_chords, style, qpm, streams.get(piece_key))
        made.validate()
        out.append(made)
    return out


def parse_chords(
    chords: str | Sequence[str] | Sequence[Sequence[str]] | None,
) -> list[list[tuple[int | None, str]]]:
    """Chord progression in any accepted shape -> bars of `(root, quality)`.

    Raises:
        TheoryError: an unknown chord symbol or an empty progression.
        ConfigError: not a string or a list of strings / lists of strings.
    """
    if chords is None:
        return []
    if isinstance(chords, str):
        return theory.parse_progression(chords)
    if not isinstance(chords, Sequence) or not chords:
        raise ConfigError(f"chords must be a string like 'C G Am F' or a list of symbols (got {chords!r})")
    bars = []
    for bar in chords:
        symbols = [bar] if isinstance(bar, str) else bar
        if not isinstance(symbols, Sequence) or not symbols or not all(isinstance(s, str) for s in symbols):
            raise ConfigError(
                f"chords: each bar must be a symbol or a non-empty list of symbols (got {bar!r})"
            )
        bars.append([theory.parse_chord(symbol) for symbol in symbols])
    return bars


def finish_piece(streams: NoteStreams, conditions: Conditions, seed: int, accompaniment: bool) -> Piece:
    """A sampled melody -> a Piece with tempo, meter, key, chords, programs and arrangement."""
    score = streams.to_score()
    style = conditions.style or "folk"
    melody_program, chord_program, bass_program = INSTRUMENTS[style]
    for track in score.tracks:
        track.name = MELODY_TRACK_NAME
        track.program = melody_program
    score.tempos = [Tempo(0, float(conditions.qpm))]
    score.meters = [Meter(0, *conditions.meter)]
    score.keys = [KeySignature(0, *conditions.key)]
    labels = conditions.chord_labels()
    score.chords = labels if any(c.root is not None for c in labels) else []  # all N.C.: none
    score.end_tick = conditions.total_ticks()
    score.title = f"midigan {style}, seed {seed}"
    if accompaniment:
        from midigan.composer.arrange import arrange

        score = arrange(score, chord_program=chord_program, bass_program=bass_program)
    return Piece(score, conditions, seed)


# ---------------------------------------------------------------- helpers
def _key_of(melody: Score) -> tuple[int, str]:
    key = melody.keys[0]
    return key.tonic, key.mode


def _drawn_key(style: str | None, seed: int, index: int) -> tuple[int, str]:
    """A key the style favours, drawn from (seed, index): reproducible, varied across a batch."""
    name = random.Random(f"midigan-key:{seed}:{index}").choice(STYLE_KEYS[style or "folk"])
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
        tonic = _check_whole("key tonic", key[0], 0, 11)
        return tonic, str(key[1])
    raise TheoryError(f"unknown key {key!r}: write a name like 'C', 'Am', 'F#m' or 'Bb'")


def _check_whole(name: str, value: Any, low: int, high: int | None) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ConfigError(f"{name} must be a whole number (got {value!r})")
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{name} must be {bound} (got {value})")
    return int(value)


def _check_temperature(temperature: Any) -> float:
    if not isinstance(temperature, numbers.Real) or not 0 < float(temperature) <= 10:
        raise ConfigError(f"temperature must be a number above 0 and at most 10 (got {temperature!r})")
    return float(temperature)


def _check_tempo(tempo: Any) -> float:
    from midigan.representations.conditions import MAX_QPM, MIN_QPM

    if not isinstance(tempo, numbers.Real) or not MIN_QPM <= float(tempo) <= MAX_QPM:
        raise ConfigError(f"tempo must be between {MIN_QPM:g} and {MAX_QPM:g} bpm (got {tempo!r})")
    return float(tempo)


def _default_device(n: int) -> str:
    """CUDA for batches (an LSTM step per kernel launch only pays off with many pieces)."""
    import torch

    return "cuda" if n >= 16 and torch.cuda.is_available() else "cpu"


def _resolve_model(model: str | Path | ModelBundle | None, device: str | None, n: int) -> ModelBundle:
    if model is None or isinstance(model, (str, Path)):
        return load_model(model, device or _default_device(n))
    if hasattr(model, "generator") and hasattr(model, "vocab"):
        return model
    raise CheckpointError(f"model must be a checkpoint path or a loaded model (got {type(model).__name__})")
