"""Working on a piece the musician already has: regenerate bars, variations (Pieces in, Pieces out).

`midigan.regenerate(song, bars=range(5, 9))` and `midigan.vary(song, amount=0.3)` take a
Piece, a Score or a file and return Pieces; a Piece's own methods (`piece.regenerate(...)`,
`piece.vary(...)`) do the same. The music is made in :mod:`midigan.composer.rewrite`; this
module draws the seed (kept in `Piece.seed` when none is given) and carries a Piece's request
over to the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from midigan.composer.piece import Piece
from midigan.composer.request import resolve_seed
from midigan.composer.rewrite import DEFAULT_CANDIDATES, regenerate_scores, vary_scores
from midigan.music.score import Score

if TYPE_CHECKING:
    from midigan.model.checkpoint import ModelBundle


def regenerate(
    source: Piece | Score | str | Path,
    bars: str | range | Sequence[int] | tuple[int, int],
    n: int = 1,
    candidates: int = DEFAULT_CANDIDATES,
    seed: int | None = None,
    temperature: float | None = None,
    model: str | Path | ModelBundle | None = None,
) -> Piece | list[Piece]:
    """New melody for bars `bars` (numbered from 1: '5-8', range(5, 9), (5, 8)) of `source`,
    every other note of every track kept verbatim; see :func:`midigan.composer.rewrite.regenerate_scores`.

    Returns:
        A Piece (n == 1) or a list of n Pieces, as long as the source.

    Raises:
        ConfigError, MidiReadError, CheckpointError: see `regenerate_scores`.
    """
    seed = resolve_seed(seed)
    scores = regenerate_scores(source, bars, n, candidates, seed, temperature, model)
    return _pieces(source, scores, seed)


def vary(
    source: Piece | Score | str | Path,
    amount: float = 0.5,
    n: int = 1,
    seed: int | None = None,
    temperature: float | None = None,
    model: str | Path | ModelBundle | None = None,
) -> Piece | list[Piece]:
    """Variations of the whole melody: rhythm, velocities, chords and other tracks kept, the
    pitches of a share `amount` (0..1) of the notes chosen anew; see
    :func:`midigan.composer.rewrite.vary_scores`.

    Returns:
        A Piece (n == 1) or a list of n Pieces.

    Raises:
        ConfigError, MidiReadError, CheckpointError: see `vary_scores`.
    """
    seed = resolve_seed(seed)
    return _pieces(source, vary_scores(source, amount, n, seed, temperature, model), seed)


def _pieces(source: object, scores: list[Score], seed: int) -> Piece | list[Piece]:
    conditions = source.conditions if isinstance(source, Piece) else None
    pieces = [Piece(score, conditions, seed) for score in scores]
    return pieces[0] if len(pieces) == 1 else pieces
