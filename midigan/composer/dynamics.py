"""`dynamics=`: how loud a composed melody plays, note by note.

The generator writes pitch and rhythm; its velocity stream, learned from a corpus whose
velocities are a metric template, plays that template (the ``flat`` choice). A model
folder holding a velocity model (``dynamics/`` beside model.safetensors, see
:mod:`midigan.model.dynamics`) gives the melody learned dynamics instead: accents, phrase
arches, crescendi, at an overall level.

============  =================================================================
``None``      the velocity model at the style's usual level (:data:`STYLE_LEVEL`);
              a model without one keeps the template (the output is unchanged)
``'flat'``    the template, always
``'pp'..'ff'``  the velocity model at that level; a model without one shifts the
              template to the level's typical velocity, accents kept
============  =================================================================

The level holds: the velocity model plays a passage's shape (it was trained on passages of
about 16 bars labelled with their own level), and where a sampled piece's mean falls outside
the level's band (:data:`midigan.corpus.dynamics.LEVEL_EDGES`) every note moves by one amount
into it, so mf never comes out ff. When the velocities change, the chords and bass follow
the melody bar by bar
(:func:`midigan.composer.arrange.arrange` with ``follow_dynamics``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from midigan.corpus.dynamics import LEVEL_EDGES, LEVEL_VELOCITY, LEVELS
from midigan.errors import ConfigError
from midigan.music.score import Score

if TYPE_CHECKING:
    from midigan.model.dynamics import DynamicsModel
    from midigan.model.dynamics_features import MelodyGrid

FLAT = "flat"
CHOICES = (FLAT, *LEVELS)

STYLE_LEVEL = {"folk": "mf", "irish": "mf", "fiddle": "mf", "chorale": "mp"}
"""The usual overall level of each style (a sung chorale sits softer than a dance tune)."""

SEED_OFFSET = 0x5D1A_0000
"""Added to a piece's seed for its velocity draws, so they never replay the melody's."""

MIN_BAR_RANGE = 10.0
"""How far a composed piece's bar-mean velocities should move (max - min), at least."""

DRAWS = 4
"""Velocity draws tried per piece before the widest is kept (see :func:`moving_draw`)."""

REDRAW_STRIDE = 0x100_0000
"""Seed step between a piece's velocity draws (far from the next piece's seed)."""


@dataclass(frozen=True)
class DynamicsChoice:
    """What the user asked for: `level` None (the style's), 'flat', or a level name."""

    level: str | None = None

    @property
    def flat(self) -> bool:
        return self.level == FLAT


def check_dynamics(value: object) -> DynamicsChoice:
    """The choice for `dynamics=` / `--dynamics`.

    Raises:
        ConfigError: not None, 'flat' or one of pp, p, mp, mf, f, ff.
    """
    if value is None:
        return DynamicsChoice()
    if not isinstance(value, str) or value.strip().lower() not in CHOICES:
        raise ConfigError(f"dynamics must be one of {', '.join(CHOICES)} (got {value!r})")
    return DynamicsChoice(value.strip().lower())


def apply_dynamics(
    score: Score,
    choice: DynamicsChoice,
    model: DynamicsModel | None,
    style: str,
    seed: int,
    keep_before: int = 0,
) -> bool:
    """Give the melody track of `score` (its only track, as sampled) its velocities, in place.

    Notes starting before `keep_before` (a primer's, which the musician played) keep theirs.

    Returns:
        Whether any velocity changed (then the accompaniment should follow the melody).
    """
    if choice.flat or not score.tracks or not score.tracks[0].notes:
        return False
    if model is None:
        if choice.level is None:
            return False
        return _shift_template(score, LEVEL_VELOCITY[LEVELS.index(choice.level)], keep_before)
    from midigan.model.dynamics_features import MelodyGrid

    level = LEVELS.index(choice.level or STYLE_LEVEL.get(style, "mf"))
    track = score.tracks[0]
    track.notes.sort(key=lambda n: (n.onset, n.pitch))
    grid = MelodyGrid.from_score(score, 0)
    if len(grid.pitch) != len(track.notes):  # the sampler writes one line; anything else: untouched
        return False
    velocities = moving_draw(model, grid, level, seed)
    for note, velocity in zip(track.notes, velocities.tolist(), strict=True):
        if note.onset >= keep_before:
            note.velocity = int(velocity)
    return True


def moving_draw(model: DynamicsModel, grid: MelodyGrid, level: int, seed: int) -> np.ndarray:
    """The melody's velocities at `level`: the first of :data:`DRAWS` draws whose bar means move.

    Scores mark dynamics in terraces (a p holds until the next mark), and the velocity model
    learned them: about one draw in twelve holds a 16-bar tune at one velocity throughout,
    which plays flatter than the metric template. So a piece of four or more bars takes the
    first draw whose bar-mean velocity moves by :data:`MIN_BAR_RANGE` or more, else the one
    that moves most. The first draw is the piece's seed's own, so a piece whose first draw
    moves is played exactly as it was.
    """
    from midigan.model.dynamics import sample_velocities

    bar = grid.bar_index()
    (first,) = sample_velocities(model, [grid], [level], [seed + SEED_OFFSET])
    draws = [hold_level(first, level)]
    if grid.bars < 4 or bar_mean_range(draws[0], bar) >= MIN_BAR_RANGE:
        return draws[0]
    seeds = [seed + SEED_OFFSET + k * REDRAW_STRIDE for k in range(1, DRAWS)]
    more = sample_velocities(model, [grid] * len(seeds), [level] * len(seeds), seeds)
    draws += [hold_level(v, level) for v in more]
    moving = [v for v in draws if bar_mean_range(v, bar) >= MIN_BAR_RANGE]
    return moving[0] if moving else max(draws, key=lambda v: bar_mean_range(v, bar))


def bar_mean_range(velocities: np.ndarray, bar: np.ndarray) -> float:
    """Max - min over bars of the mean velocity of each bar's notes (0 for one bar)."""
    means = [float(velocities[bar == b].mean()) for b in np.unique(bar)]
    return max(means) - min(means) if means else 0.0


def hold_level(velocities: np.ndarray, level: int) -> np.ndarray:
    """`velocities` moved by one amount so their mean lies in `level`'s band (unchanged if it does)."""
    low = LEVEL_EDGES[level - 1] if level > 0 else 1
    high = LEVEL_EDGES[level] - 1 if level < len(LEVEL_EDGES) else 127
    out = np.asarray(velocities, dtype=np.int64)
    for _ in range(8):  # clipping at 1 or 127 takes back part of a shift: shift again
        mean = float(out.mean())
        shift = math.ceil(low - mean) if mean < low else math.floor(high - mean) if mean > high else 0
        if shift == 0:
            break
        out = np.clip(out + shift, 1, 127)
    return out


def _shift_template(score: Score, target: int, keep_before: int = 0) -> bool:
    """Move every melody velocity by one amount so their mean is `target` (accents kept)."""
    notes = [note for note in score.tracks[0].notes if note.onset >= keep_before]
    if not notes:
        return False
    shift = round(target - sum(n.velocity for n in notes) / len(notes))
    for note in notes:
        note.velocity = max(1, min(127, note.velocity + shift))
    return shift != 0


def play_regenerated(
    score: Score, track_index: int, span: tuple[int, int], model: DynamicsModel | None, seed: int
) -> None:
    """Give the melody notes that start in `span` (regenerated bars) learned velocities, in place.

    Only where the kept melody plays dynamics of its own (four or more distinct velocities): a
    melody on the metric template keeps the template in its new bars too, so they match. The
    level is the kept notes' own; the notes outside `span` are untouched.
    """
    start, end = span
    track = score.tracks[track_index]
    kept = [n.velocity for n in track.notes if not start <= n.onset < end]
    if model is None or len(set(kept)) < 4:
        return
    from midigan.corpus.dynamics import level_of
    from midigan.model.dynamics import sample_velocities
    from midigan.model.dynamics_features import MelodyGrid

    track.notes.sort(key=lambda n: (n.onset, n.pitch))
    grid = MelodyGrid.from_score(score, track_index)
    if len(grid.pitch) != len(track.notes):  # not one line: the grid would not match note for note
        return
    level = level_of(sum(kept) / len(kept))
    (velocities,) = sample_velocities(model, [grid], [level], [seed + SEED_OFFSET])
    for note, velocity in zip(track.notes, velocities.tolist(), strict=True):
        if start <= note.onset < end:
            note.velocity = int(velocity)
