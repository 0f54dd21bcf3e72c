"""Variations of a whole melody: the same rhythm, chords and accompaniment, new pitches.

    python examples/vary_melody.py          # writes examples/output/variation-0.2.mid, -0.5, -1.0

The same from the shell (any MIDI file works; its melody track is found by the melody rule):

    midigan vary song.mid --amount 0.5 --seed 4 -o variation.mid
"""

from __future__ import annotations

from pathlib import Path

import midigan

OUT = Path(__file__).resolve().parent / "output"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    piece = midigan.compose(bars=8, key="G", meter="3/4", seed=5)
    theme = [n.name for n in piece.notes]
    print("theme:        ", " ".join(theme))
    for amount in (0.2, 0.5, 1.0):  # the share of notes re-pitched
        variation = piece.vary(amount, seed=4)
        names = [n.name for n in variation.notes]
        marked = " ".join(n if n == t else f"*{n}" for n, t in zip(names, theme, strict=True))
        print(f"amount {amount:3}:   {marked}")
        variation.save(OUT / f"variation-{amount}.mid")
    print("written to", OUT)


if __name__ == "__main__":
    main()
