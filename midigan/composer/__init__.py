"""`compose`: the Python front door. Names in, finished pieces out.

A musician speaks in bars, key names, meters and chord symbols; the model speaks in
:class:`~midigan.representations.conditions.Conditions` and note streams. The request is
translated by :mod:`midigan.composer.request` (every argument checked at the boundary, the
message naming it; gaps filled with defaults a musician would pick); this module asks
the sampler for all pieces in one batched call and dresses each melody as a
:class:`~midigan.composer.piece.Piece` with tempo, key, chords and an arrangement.

Defaults: no key -> one the style favours, drawn from the seed (so the same seed
gives the same key); no chords -> chords sampled from the model's learned chord model
(also from the seed; a model without one plays a plain folk progression,
:mod:`midigan.composer.progressions`); no tempo -> a tempo typical of the
style and meter; no meter -> the primer's, else 4/4. A primer is read with :func:`midigan.load`, its melody
found by the melody rule (:mod:`midigan.music.melody`), moved into the requested key (or
its own key is kept), and continued; its notes stay exactly as they were.

torch is imported only when a model is loaded; the loaded shipped model is cached
for the life of the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midigan.composer.arrange import arrange
from midigan.composer.dynamics import DynamicsChoice, apply_dynamics, check_dynamics
from midigan.composer.outputs import plan_outputs, write_outputs
from midigan.composer.piece import MELODY_TRACK_NAME, Piece
from midigan.composer.request import (
    check_temperature,
    check_whole,
    key_spelling,
    plan_conditions,
    resolve_seed,
)
from midigan.errors import CheckpointError
from midigan.io import check_ready, parse_formats
from midigan.music.score import KeySignature, Meter, Score, Tempo

if TYPE_CHECKING:
    from midigan.model.checkpoint import ModelBundle
    from midigan.model.dynamics import DynamicsModel
    from midigan.representations.conditions import Conditions
    from midigan.representations.streams import NoteStreams

MAX_PIECES = 4096
"""Most pieces one call may ask for (memory on the device grows with the batch)."""

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
    primer_bars: int | None = None,
    dynamics: str | None = None,
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
            [['C', 'G'], ['Am'], ...] (bars of chords); '?' leaves a bar (or one half of a
            two-chord bar) to the model: 'C ? ? G7'. None = chords sampled by the model's
            chord model from the seed (a model without one: a plain folk progression in
            the key, ending V - I); a primer keeps its own chords (see
            :mod:`midigan.composer.progressions`). 'none' = no chords at all: the
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
        primer_bars: continue only the primer's first N bars (4), or its last N (-4);
            None = the whole primer.
        dynamics: 'pp', 'p', 'mp', 'mf', 'f', 'ff' (the overall level, played by the model's
            velocity model), 'flat' (the generator's metric template), or None = the velocity
            model at the style's usual level, else the template (see :mod:`midigan.composer.dynamics`).

    Returns:
        A Piece (n == 1) or a list of n Pieces.

    Raises:
        ConfigError: a value out of range (bars 0, n 0, temperature <= 0, primer_bars
            0 or longer than the primer...).
        TheoryError: an unknown key, meter, chord symbol or style.
        MidiReadError: the primer cannot be read or holds no notes.
        CheckpointError: the model is missing or not a midigan checkpoint.
    """
    n = check_whole("n", n, 1, MAX_PIECES)
    bars = check_whole("bars", bars, 1, None)
    seed = resolve_seed(seed)
    temperature = None if temperature is None else check_temperature(temperature)
    loudness = check_dynamics(dynamics)
    conditions = plan_conditions(
        bars, key, meter, tempo, chords, style, primer, seed, n, primer_bars,
        harmony=lambda: _resolve_model(model, device, n).harmony,  # loaded once the request is checked
    )  # fmt: skip
    bundle = _resolve_model(model, device, n)
    from midigan.model.sampler import sample

    streams = sample(bundle, conditions, temperature=temperature, seed=seed, key_mask=bool(strict_key))
    spelling = key_spelling(key)
    pieces = [
        finish_piece(s, c, seed + i, accompaniment, spelling, loudness, getattr(bundle, "dynamics", None))
        for i, (s, c) in enumerate(zip(streams, conditions, strict=True))
    ]
    return pieces[0] if n == 1 else pieces


def compose_to_files(
    out: str | Path | None = None, formats: Sequence[str] = (), force: bool = False, **request: Any
) -> tuple[list[Piece], list[Path]]:
    """Compose and write the pieces to files: what `midigan compose` does.

    The output paths are planned and checked, and the formats' tools found, before
    the model is loaded; the files appear together or, on a failure, not at all, and
    nothing the user had is replaced unless `force` (default names never replace anything).

    Args:
        out: a file, a folder, or None (see :mod:`midigan.composer.outputs`).
        formats: format names ('mid', 'musicxml', 'wav', 'png' or comma lists).
        force: replace existing regular files at the path `out` names.
        **request: the arguments of :func:`compose`.

    Returns:
        The pieces and the paths written.

    Raises:
        MidiganError: any failure of :func:`compose` or of writing.
    """
    request["seed"] = resolve_seed(request.get("seed"))
    n = check_whole("n", request.get("n", 1), 1, MAX_PIECES)
    plans = plan_outputs(out, parse_formats(formats), n, request["seed"], force=force)
    for fmt in plans[0]:
        check_ready(fmt)
    made = compose(**request)
    pieces = [made] if isinstance(made, Piece) else made
    return pieces, write_outputs([p.score for p in pieces], plans, force=force)


def finish_piece(
    streams: NoteStreams,
    conditions: Conditions,
    seed: int,
    accompaniment: bool,
    spelling: str | None = None,
    dynamics: DynamicsChoice | None = None,
    dynamics_model: DynamicsModel | None = None,
) -> Piece:
    """A sampled melody -> a Piece with tempo, meter, key, chords, programs and arrangement.

    `spelling` is the key's tonic as the user wrote it ('Db'), kept for notation and summaries;
    `dynamics` and `dynamics_model` set the melody's velocities (:mod:`midigan.composer.dynamics`;
    None and None keep the sampled ones).
    """
    score = streams.to_score()
    style = conditions.style or "folk"
    melody_program, chord_program, bass_program = INSTRUMENTS[style]
    for track in score.tracks:
        track.name = MELODY_TRACK_NAME
        track.program = melody_program
    score.tempos = [Tempo(0, float(conditions.qpm))]
    score.meters = [Meter(0, *conditions.meter)]
    score.keys = [KeySignature(0, *conditions.key, spelling=spelling)]
    labels = conditions.chord_labels()
    score.chords = labels if any(c.root is not None for c in labels) else []  # all N.C.: none
    score.end_tick = conditions.total_ticks()
    score.title = f"midigan {style}, seed {seed}"
    kept = int(conditions.primer.duration.sum()) if conditions.primer is not None else 0
    follow = apply_dynamics(score, dynamics or DynamicsChoice(), dynamics_model, style, seed, kept)
    if accompaniment:
        score = arrange(score, chord_program=chord_program, bass_program=bass_program, follow_dynamics=follow)
    return Piece(score, conditions, seed)


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
