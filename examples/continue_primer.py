"""Continue your own phrase: the primer's notes are kept exactly, the model writes what follows.

    python examples/continue_primer.py              # uses examples/primer.mid (made here if missing)
    python examples/continue_primer.py my_idea.mid  # or your own MIDI/ABC/MusicXML file

The same from the shell:

    midigan compose --bars 8 --primer examples/primer.mid --seed 11 -o continued.mid

A whole song is too long to continue: take its first bars, or its last ones, with
`--primer-bars 4` / `--primer-bars -4` (`primer_bars=-4` in Python).
"""

from __future__ import annotations

import sys
from pathlib import Path

import midigan
from midigan.music.score import KeySignature, Meter, Note, Score, Tempo, Track

HERE = Path(__file__).resolve().parent
OUT = HERE / "output"


def make_primer(path: Path) -> Path:
    """Two bars in D major, 6/8: a jig-like opening that stops on the dominant."""
    e = 6  # ticks in an eighth note (12 per quarter)
    pitches = [62, 66, 69, 71, 69, 66, 64, 67, 71, 69]
    lengths = [e, e, e, e, e, e, e, e, e, 3 * e]
    onsets = [sum(lengths[:i]) for i in range(len(lengths))]
    accents = [96 if onset % (3 * e) == 0 else 80 for onset in onsets]  # lean on each dotted-quarter pulse
    notes = [Note(*fields) for fields in zip(pitches, onsets, lengths, accents, strict=True)]
    score = Score(
        tracks=[Track("Melody", 73, False, notes)],
        tempos=[Tempo(0, 165.0)],
        meters=[Meter(0, 6, 8)],
        keys=[KeySignature(0, 2, "major")],
        title="primer",
    )
    return midigan.save(score, path)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    primer = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "primer.mid"
    if not primer.exists():
        make_primer(primer)
    # Key, meter and tempo come from the primer unless given; pass key="G" to move it.
    piece = midigan.compose(bars=8, primer=primer, style="irish", seed=11)
    print(piece)
    kept = len(midigan.load(primer).tracks[0].notes)
    print(f"the first {kept} melody notes are the primer's; {len(piece.notes) - kept} follow")
    print("written:", piece.save(OUT / "continued.mid"), piece.save(OUT / "continued.png"))


if __name__ == "__main__":
    main()
