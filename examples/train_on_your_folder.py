"""Train a (tiny) model on a folder of your own MIDI files, then compose with it.

    python examples/train_on_your_folder.py path/to/midi/folder
    python examples/train_on_your_folder.py         # demo: a folder of tunes made by the shipped model

This is a smoke run (the `tiny` preset, --max-steps 20: a minute on a laptop CPU); for a real
model drop --max-steps (a small folder then trains enough epochs to reach `[mle] min_steps`,
and the run says so). The run starts by saying what it trains on: pieces per split, the
melody tracks taken, the files left out (`--verbose` names each; the run folder's
data_log.jsonl keeps them). `--split` deals the folder out in shares, so a small folder still
has enough test pieces for `midigan evaluate`. The same from the shell:

    midigan train --corpus path/to/midi/folder --out runs/mine --config tiny --max-steps 20 \
        --split train=0.8,valid=0.1,test=0.1
    midigan compose --model runs/mine --bars 8
    midigan evaluate runs/mine --corpus path/to/midi/folder --n 20   # the run's split, its test files
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import midigan
from midigan.cli import main as midigan_cli


def demo_folder(folder: Path) -> Path:
    """24 short tunes in several keys and meters, standing in for your own files."""
    folder.mkdir(parents=True, exist_ok=True)
    for meter in ("4/4", "3/4", "6/8"):
        for index, piece in enumerate(midigan.compose(bars=8, meter=meter, n=8, seed=7, accompaniment=False)):
            piece.save(folder / f"tune-{meter.replace('/', '')}-{index}.mid")
    return folder


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="midigan-example-"))
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else demo_folder(work / "my_midi")
    run = work / "run"
    args = ["train", "--corpus", str(corpus), "--out", str(run), "--config", "tiny", "--max-steps", "20"]
    args += ["--split", "train=0.8,valid=0.1,test=0.1"]  # enough test pieces to evaluate the run later
    midigan_cli(args, standalone_mode=False)  # the same as typing `midigan train ...`
    piece = midigan.compose(bars=8, model=run, seed=1)
    print(piece)
    print("written:", piece.save(work / "from_my_model.mid"))


if __name__ == "__main__":
    main()
