"""Interpolation: a sequence of pieces moving from one seed's piece to another's.

A sampled piece is fixed by its latent code z and by the sampling noise of every step;
the shipped generator listens to the noise far more than to z (EVALUATION.md,
"Interpolation": with the noise held, sliding z alone changes almost nothing). So
:func:`interpolate` takes both from each of the two seeds (:mod:`midigan.model.latent`),
walks the great circle between them (spherical interpolation: a straight line would pass
near the origin, where Gaussian draws never lie; the noise travels as Gaussian quantiles,
so every interpolated draw is still uniform) and samples all steps in one batch under one
request (bars, key, chords, tempo drawn from seed a when left open). The first piece is
seed a's latent, the last seed b's.

Smoothness (EVALUATION.md): the note-level edit distance between neighbouring steps
against that between the two ends (:func:`note_edit_distance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from midigan.composer.dynamics import DynamicsChoice
from midigan.composer.piece import Piece
from midigan.composer.request import check_temperature, check_whole, key_spelling, plan_conditions
from midigan.errors import ConfigError

if TYPE_CHECKING:
    from midigan.model.checkpoint import ModelBundle

MAX_STEPS = 64


def interpolate(
    seeds: Sequence[int] = (1, 2),
    steps: int = 5,
    bars: int = 8,
    key: str | tuple[int, str] | None = None,
    meter: str | tuple[int, int] | None = None,
    tempo: float | None = None,
    chords: str | Sequence[str] | None = None,
    style: str | None = None,
    temperature: float | None = None,
    model: str | Path | ModelBundle | None = None,
    accompaniment: bool = True,
) -> list[Piece]:
    """`steps` pieces from seed a's latent code to seed b's (see the module docstring).

    Args:
        seeds: the two seeds (a, b); key and chords left open are drawn from seed a.
        steps: pieces in the sequence, the two ends included (2-64).
        bars, key, meter, tempo, chords, style, temperature, model, accompaniment:
            as for :func:`midigan.compose`; one request shared by every step.

    Returns:
        `steps` Pieces, all with the same bars, key, chords and tempo.

    Raises:
        ConfigError: not two seeds, steps out of range, a model without latent codes;
            the errors of :func:`midigan.compose` for the request.
    """
    from midigan.composer import _resolve_model, finish_piece
    from midigan.model.latent import draw_latent, generate_with_latents, slerp_latent, steps_needed
    from midigan.model.sampler import build_request

    if len(seeds) != 2:
        raise ConfigError(f"seeds must be two seeds (got {list(seeds)})")
    seed_a, seed_b = (check_whole("seeds", s, 0, None) for s in seeds)
    steps = check_whole("steps", steps, 2, MAX_STEPS)
    conditions = plan_conditions(check_whole("bars", bars, 1, None), key, meter, tempo, chords, style,
                                 None, seed_a, 1, harmony=lambda: _resolve_model(model, None, steps).harmony,
                                 )[0]  # fmt: skip
    bundle = _resolve_model(model, None, steps)
    if bundle.config.step_noise:
        raise ConfigError("interpolation needs a model without per-step input noise (step_noise 0)")
    temperature = bundle.temperature if temperature is None else check_temperature(temperature)
    request = build_request(bundle.generator, bundle.vocab, [conditions] * steps)
    length = steps_needed(bundle, request)
    ends = draw_latent(bundle, seed_a, length), draw_latent(bundle, seed_b, length)
    latents = [slerp_latent(*ends, t) for t in np.linspace(0.0, 1.0, steps).tolist()]
    pieces = []
    for ids in generate_with_latents(bundle, request, latents, temperature):
        streams = bundle.vocab.decode({"pitch": ids[:, 0], "duration": ids[:, 1], "velocity": ids[:, 2]},
                                      conditions)  # fmt: skip
        pieces.append(finish_piece(streams, conditions, seed_a, accompaniment, key_spelling(key),
                                  DynamicsChoice(), bundle.dynamics))  # fmt: skip
    return pieces


def note_edit_distance(a: Piece, b: Piece) -> int:
    """Levenshtein distance between two melodies as sequences of (pitch, onset, duration) notes."""
    x = [(n.pitch, n.onset_ticks, n.duration_ticks) for n in a.notes]
    y = [(n.pitch, n.onset_ticks, n.duration_ticks) for n in b.notes]
    row = list(range(len(y) + 1))
    for i, left in enumerate(x, 1):
        previous, row[0] = row[0], i
        for j, right in enumerate(y, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (left != right))
    return row[-1]
