"""Files for edited pieces (regenerated bars, variations, interpolations), planned before any work.

The same rules as `midigan compose` (:mod:`midigan.composer.outputs`): paths are planned and
checked, and the formats' tools found, before the model is loaded; the files appear together
or not at all; nothing the user had is replaced without `force`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from midigan.composer.piece import Piece


def pieces_to_files(
    make: Callable[[], Piece | list[Piece]],
    n: int,
    seed: int,
    stem: str,
    out: str | Path | None = None,
    formats: Sequence[str] = (),
    force: bool = False,
) -> tuple[list[Piece], list[Path]]:
    """Plan `n` pieces' files, call `make`, write what it returns.

    Raises:
        MidiganError: a bad output path or format, or any failure of `make` or of writing.
    """
    from midigan.composer.outputs import plan_outputs, write_outputs
    from midigan.io import check_ready, parse_formats

    plans = plan_outputs(out, parse_formats(formats), n, seed, stem=stem, force=force, numbered=True)
    for fmt in plans[0]:
        check_ready(fmt)
    made = make()
    pieces = [made] if isinstance(made, Piece) else made
    return pieces, write_outputs([p.score for p in pieces], plans, force=force)
