"""Compose over a chord progression you choose; save MIDI and a piano roll (and audio with --wav).

    python examples/compose_with_chords.py            # writes examples/output/with_chords.{mid,png}
    python examples/compose_with_chords.py --wav      # also with_chords.wav (needs fluidsynth)

The same from the shell:

    midigan compose --bars 16 --key Am --chords "Am F C G Dm E7 Am Am" --seed 3 -o with_chords.mid
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import midigan

OUT = Path(__file__).resolve().parent / "output"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    # One chord a bar, cycled over the 16 bars. A string works too: "Am F C G Dm E7 Am Am",
    # and "|" separates bars that hold several chords: "Am F | C G | Dm E7 | Am".
    piece = midigan.compose(bars=16, key="Am", chords=["Am", "F", "C", "G", "Dm", "E7", "Am", "Am"], seed=3)
    print(piece)
    for note in piece.notes[:4]:
        print(f"  {note.name:4} at {note.onset_seconds:5.2f} s for {note.duration_seconds:.2f} s")
    print("written:", piece.save(OUT / "with_chords.mid"), piece.save(OUT / "with_chords.png"))
    if "--wav" in sys.argv and shutil.which("fluidsynth"):
        print("written:", piece.save(OUT / "with_chords.wav"))


if __name__ == "__main__":
    main()
