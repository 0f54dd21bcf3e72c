"""Many pieces in one batched call: 64 sixteen-bar melodies, timed, saved, and summarised.

    python examples/batch_generation.py             # writes examples/output/batch/*.mid

All pieces go through the sampler together (one batch on the GPU when there is one).
The same from the shell:

    midigan compose --bars 16 --key G --meter 3/4 -n 64 --seed 1 -o batch/
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import midigan
from midigan.music.theory import scale_pitch_classes

OUT = Path(__file__).resolve().parent / "output" / "batch"


def main(n: int = 64) -> None:
    start = time.perf_counter()
    pieces = midigan.compose(bars=16, key="G", meter="3/4", n=n, seed=1)
    seconds = time.perf_counter() - start
    print(f"{n} pieces in {seconds:.2f} s ({n / seconds:.0f} pieces/s, arrangement included)")

    scale = scale_pitch_classes(7, "major")
    notes = [note for piece in pieces for note in piece.notes]
    in_key = sum(note.pitch % 12 in scale for note in notes) / len(notes)
    print(f"{len(notes)} melody notes, {in_key:.1%} in G major")
    print("most common opening notes:", Counter(piece.notes[0].name for piece in pieces).most_common(3))

    OUT.mkdir(parents=True, exist_ok=True)
    for piece in pieces[:4]:  # keep the example folder small; piece i has seed 1 + i
        piece.save(OUT / f"waltz-{piece.seed}.mid")  # `midigan compose ... --seed 3` makes waltz-3 alone
    print(f"first 4 saved in {OUT}")


if __name__ == "__main__":
    main()
