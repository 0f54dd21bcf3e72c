"""Rewrite bars 5-8 of a piece and keep every other bar exactly as it was.

    python examples/regenerate_bars.py      # writes examples/output/regen-original.mid, regen-take-1..3.mid

The same from the shell:

    midigan vary examples/output/regen-original.mid --bars 5-8 -n 3 -o examples/output/takes/
"""

from __future__ import annotations

from pathlib import Path

import midigan

OUT = Path(__file__).resolve().parent / "output"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    piece = midigan.compose(bars=12, key="D", chords="D G A D", seed=21)
    print("original:", piece.save(OUT / "regen-original.mid"))
    # Three takes of bars 5-8, each the best of 8 fillings at leading into bar 9 (see EVALUATION.md).
    takes = piece.regenerate(bars=range(5, 9), n=3, seed=1)
    start, end = piece.score.bar_starts()[4], piece.score.bar_starts()[8]
    for i, take in enumerate(takes, 1):
        new = [n.name for n in take.notes if start <= n.onset_ticks < end]
        print(f"take {i}: {take.save(OUT / f'regen-take-{i}.mid')}  bars 5-8: {' '.join(new)}")


if __name__ == "__main__":
    main()
