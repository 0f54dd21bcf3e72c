"""A walk from one seed's piece to another's, in five steps; prints how far each step moves.

    python examples/interpolate_seeds.py    # writes examples/output/walk/midigan-interpolate-1-01.mid ...

The same from the shell:

    midigan interpolate --seeds 1 2 --steps 5 --bars 8 -o examples/output/walk/
"""

from __future__ import annotations

import itertools
from pathlib import Path

import midigan
from midigan.composer.interpolation import note_edit_distance

OUT = Path(__file__).resolve().parent / "output" / "walk"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pieces = midigan.interpolate(seeds=(1, 2), steps=5, bars=8)
    for i, piece in enumerate(pieces, 1):
        piece.save(OUT / f"midigan-interpolate-1-{i:02d}.mid")
    steps = [note_edit_distance(a, b) for a, b in itertools.pairwise(pieces)]
    print("notes changed per step:", steps, "- between the ends:", note_edit_distance(pieces[0], pieces[-1]))
    print("written to", OUT)


if __name__ == "__main__":
    main()
