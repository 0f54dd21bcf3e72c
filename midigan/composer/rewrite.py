"""Rewriting part of a piece the musician already has, score in, scores out: bars, or the surface.

The public forms that take and give :class:`~midigan.composer.piece.Piece` objects are in
:mod:`midigan.composer.edit` and on Piece itself; this module sits below Piece (it never
imports it), so `Piece.regenerate` can call it.

**Regenerate** (:func:`regenerate`): bars outside the chosen span stay exactly as they were
(every note of every track; a note sounding into the span from before it is kept whole
and the new material starts where it ends). The model is left-to-right, so to make new
bars that lead *into* what follows as well as out of what precedes, it samples
`candidates` fillings of the span in one batch (the bars before forced like a primer,
durations masked so the last new event ends on the span's closing barline), and keeps
the filling under which the kept bars after the span are most likely (teacher-forced
log-likelihood, :func:`midigan.model.infill.continuation_log_likelihood`). EVALUATION.md
("Regenerated bars: the seam") measures the join against real bar boundaries.

**Variations** (:func:`vary`): same form, harmony and rhythm, new surface. Every duration
(and so every rest and onset), every velocity and the chords are kept; a fraction
`amount` of the melody's notes, chosen from the seed, get new pitches, the model choosing
each one in context (the notes before it, changed or not, and the chord under it).
`amount=0` gives the melody back; `amount=1` re-pitches every note.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from midigan.composer.dynamics import play_regenerated
from midigan.composer.melody_view import EditSource, MelodyView, encode_events, id_notes, melody_view
from midigan.errors import CheckpointError, ConfigError
from midigan.music.score import Score

if TYPE_CHECKING:
    from midigan.model.checkpoint import ModelBundle


DEFAULT_CANDIDATES = 8
"""Fillings sampled per regenerated result; the one that best leads into the kept bars wins."""


def parse_bars(bars: str | range | Sequence[int] | tuple[int, int]) -> tuple[int, int]:
    """'5-8', '5', range(5, 9), [5, 6, 7, 8] or (5, 8) -> (first, last), bar numbers from 1.

    Raises:
        ConfigError: not a contiguous span of whole bar numbers from 1.
    """
    if isinstance(bars, str):
        text = bars.strip()
        first_text, _, last_text = text.partition("-")
        try:
            first, last = int(first_text), int(last_text or first_text)
        except ValueError:
            raise ConfigError(f"bars must be a span like '5-8' or one bar like '5' (got {bars!r})") from None
    elif isinstance(bars, range):
        if bars.step != 1 or not len(bars):
            raise ConfigError(f"bars must be a non-empty range with step 1 (got {bars})")
        first, last = bars.start, bars.stop - 1
    else:
        values = [int(b) for b in bars]
        if not values or (values != list(range(values[0], values[-1] + 1)) and len(values) != 2):
            raise ConfigError(f"bars must be consecutive bar numbers (got {list(bars)})")
        first, last = values[0], values[-1]
    if first < 1 or last < first:
        raise ConfigError(f"bars must run from bar 1 or later forwards, e.g. '5-8' (got {first}-{last})")
    return first, last


def regenerate_scores(
    source: EditSource,
    bars: str | range | Sequence[int] | tuple[int, int],
    n: int = 1,
    candidates: int = DEFAULT_CANDIDATES,
    seed: int = 0,
    temperature: float | None = None,
    model: str | Path | ModelBundle | None = None,
) -> list[Score]:
    """New melody for bars `bars` of `source`; every other note of every track kept verbatim.

    Args:
        source: a Piece, a Score or a file midigan reads.
        bars: the span to rewrite, bar numbers from 1: '5-8', range(5, 9), (5, 8).
        n: how many different results (each the best of `candidates` fillings).
        candidates: fillings sampled per result (1 = no look-ahead: the first sample).
        seed: same seed, source and model -> the same result.
        temperature: sampling temperature; None = the model's tuned default.
        model: a checkpoint path or a loaded ModelBundle; None = the shipped model.

    Returns:
        n Scores, each as long as the source.

    Raises:
        ConfigError: bars outside the piece, or covered by one note from before; n or
            candidates out of range.
        MidiReadError: the source cannot be read or has no melody.
    """
    import torch

    from midigan.model.infill import Infill, continuation_log_likelihood, masked_generate

    n = _whole("n", n, 64)
    candidates = _whole("candidates", candidates, 64)
    bundle, temperature = model_and_temperature(model, temperature)
    view = melody_view(source, bundle.vocab)
    span = _span(view, parse_bars(bars))
    prefix, suffix, gen_start = _split_around(view, bundle, span)
    batch = n * candidates
    end_tick = span[1]
    infill = Infill(
        template=view.streams,
        forced=np.repeat(prefix[None], batch, 0),
        mask=np.ones((batch, len(prefix), 3), dtype=bool),
        stop=np.full(batch, end_tick, dtype=np.int64),
    )
    rng = torch.Generator(device=bundle.device).manual_seed(int(seed) % (1 << 63))
    fillings = masked_generate(bundle, infill, temperature=temperature, rng=rng)
    scores = np.zeros(batch)
    if len(suffix) and candidates > 1:
        whole = [np.concatenate((f, suffix)) for f in fillings]
        scores = continuation_log_likelihood(bundle, view.streams, whole, end_tick)
    out = []
    for group in range(n):
        best = group * candidates + int(np.argmax(scores[group * candidates : (group + 1) * candidates]))
        out.append(_splice(view, bundle, fillings[best], span, gen_start, seed + group))
    return out


def model_and_temperature(
    model: str | Path | ModelBundle | None, temperature: float | None
) -> tuple[ModelBundle, float]:
    """The model (a loaded bundle, or a checkpoint loaded once per process) and the temperature.

    Raises:
        CheckpointError: not a checkpoint path or a loaded model.
        ConfigError: a temperature that is not a number > 0.
    """
    if model is None or isinstance(model, (str, Path)):
        bundle = _load(str(Path(model).resolve()) if model is not None else None)
    elif hasattr(model, "generator") and hasattr(model, "vocab"):
        bundle = model
    else:
        what = type(model).__name__
        raise CheckpointError(f"model must be a checkpoint path or a loaded model (got {what})")
    if temperature is None:
        return bundle, bundle.temperature
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ConfigError(f"temperature must be a number > 0 (got {temperature!r})")
    return bundle, float(temperature)


@functools.lru_cache(maxsize=4)
def _load(path: str | None) -> ModelBundle:
    """Load a checkpoint once per process (the shipped model is a few MB; compose keeps its own)."""
    from midigan.model.checkpoint import load_model

    return load_model(path)


def _whole(name: str, value: object, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ConfigError(f"{name} must be a whole number from 1 to {high} (got {value!r})")
    return value


def _span(view: MelodyView, bars: tuple[int, int]) -> tuple[int, int]:
    """(start, end) ticks of bars `first..last` of the piece."""
    starts = view.streams.bar_starts()
    total = len(starts) - 1
    first, last = bars
    if last > total:
        raise ConfigError(f"bars {first}-{last}: the piece has {total} bar(s)")
    return int(starts[first - 1]), int(starts[last])


def _split_around(
    view: MelodyView, bundle: ModelBundle, span: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, int]:
    """Ids of the kept events before the span and after it, and the tick where new material starts.

    A note sounding into the span from before is kept whole (new material starts at its
    end); a rest is cut at the barline. A note of the span sounding past its end is
    replaced; its tail becomes a rest in the kept part.
    """
    from midigan.representations.streams import REST

    s = view.streams
    start, end = span
    onset, offset = s.onset.astype(np.int64), s.onset.astype(np.int64) + s.duration
    before = onset < start
    pitch, duration, velocity = s.pitch[before], s.duration[before].copy(), s.velocity[before]
    gen_start = start
    if len(pitch) and offset[before][-1] > start:
        if pitch[-1] == REST:
            duration[-1] = start - onset[before][-1]
        else:
            gen_start = int(offset[before][-1])
    if gen_start >= end:
        raise ConfigError(f"bars {_bar_names(view, span)} lie under one note that starts before them")
    prefix = encode_events(bundle.vocab, s, pitch, duration, velocity)
    after = onset >= end
    pitch, duration, velocity = s.pitch[after], s.duration[after], s.velocity[after]
    crossing = np.flatnonzero((onset < end) & (offset > end) & (onset >= start))
    if len(crossing):
        tail = int(offset[crossing[0]] - end)
        pitch, duration, velocity = (np.concatenate(([REST], pitch)), np.concatenate(([tail], duration)),
                                     np.concatenate(([0], velocity)))  # fmt: skip
    return prefix, encode_events(bundle.vocab, s, pitch, duration, velocity), gen_start


def _bar_names(view: MelodyView, span: tuple[int, int]) -> str:
    starts = view.streams.bar_starts().tolist()
    return f"{starts.index(span[0]) + 1}-{starts.index(span[1])}"


def _splice(
    view: MelodyView,
    bundle: ModelBundle,
    filling: np.ndarray,
    span: tuple[int, int],
    gen_start: int,
    seed: int,
) -> Score:
    """A copy of the source with the melody notes starting in the span replaced by the filling's
    (played by the model's velocity model where the kept melody has dynamics of its own)."""
    start, end = span
    score = view.score.copy()
    track = score.tracks[view.track]
    kept = [note for note in track.notes if not start <= note.onset < end]
    track.notes = sorted(kept + id_notes(view, bundle.vocab, filling, gen_start, end), key=_note_order)
    play_regenerated(score, view.track, span, getattr(bundle, "dynamics", None), seed)
    return score


def _note_order(note: object) -> tuple[int, int]:
    return (note.onset, note.pitch)  # type: ignore[attr-defined]


# -------------------------------------------------------------- variations
def vary_scores(
    source: EditSource,
    amount: float = 0.5,
    n: int = 1,
    seed: int = 0,
    temperature: float | None = None,
    model: str | Path | ModelBundle | None = None,
) -> list[Score]:
    """Variations of the whole melody: rhythm, velocities, chords and other tracks kept,
    the pitches of a fraction `amount` of the melody's notes chosen anew by the model.

    Args:
        source: a Piece, a Score or a file midigan reads.
        amount: 0..1, the share of melody notes re-pitched (chosen from the seed).
        n: how many variations (each re-pitches its own choice of notes).
        seed: same seed, source and model -> the same variations.
        temperature: sampling temperature; None = the model's tuned default.
        model: a checkpoint path or a loaded ModelBundle; None = the shipped model.

    Returns:
        n Scores, note for note as long as the source.

    Raises:
        ConfigError: amount outside 0..1, n out of range.
        MidiReadError: the source cannot be read or has no melody.
    """
    import torch

    from midigan.model.infill import Infill, masked_generate

    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or not 0.0 <= amount <= 1.0:
        raise ConfigError(f"amount must be a number from 0 to 1 (got {amount!r})")
    n = _whole("n", n, 256)
    bundle, temperature = model_and_temperature(model, temperature)
    view = melody_view(source, bundle.vocab)
    s = view.streams
    ids = encode_events(bundle.vocab, s, s.pitch, s.duration, s.velocity)
    mask = np.ones((n, len(ids), 3), dtype=bool)
    notes = np.flatnonzero(ids[:, 0] > 0)
    choose = np.random.default_rng(seed)
    for b in range(n):
        mask[b, choose.choice(notes, size=round(amount * len(notes)), replace=False), 0] = False
    infill = Infill(s, np.repeat(ids[None], n, 0), mask, np.full(n, s.total_ticks()), no_rest=True)
    rng = torch.Generator(device=bundle.device).manual_seed(int(seed) % (1 << 63))
    out = masked_generate(bundle, infill, temperature=temperature, rng=rng)
    return [_repitch(view, bundle, ids, made, ~mask[b, :, 0]) for b, made in enumerate(out)]


def _repitch(
    view: MelodyView, bundle: ModelBundle, ids: np.ndarray, made: np.ndarray, free: np.ndarray
) -> Score:
    """A copy of the source whose melody notes at the freed events take the generated pitches."""
    ticks = np.asarray(bundle.vocab.durations, dtype=np.int64)[ids[:, 1]]
    onsets = (np.cumsum(ticks) - ticks)[free].tolist()
    streams = view.streams
    old = dict(zip(streams.onset.tolist(), streams.pitches_in_key().tolist(), strict=True))
    pitches = made[free, 0].tolist()
    new = {o: view.pitch_in_key(bundle.vocab, int(p)) for o, p in zip(onsets, pitches, strict=True)}
    score = view.score.copy()
    for note in score.tracks[view.track].notes:
        if note.onset in new and old.get(note.onset) == note.pitch:
            note.pitch = new[note.onset]
    return score
