"""`midigan train`: a thin click layer over :func:`midigan.train.trainer.train`."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from midigan.cli import run_guarded


@click.command(
    "train",
    epilog="""Examples:

\b
  midigan train --corpus corpora --out runs/x
  midigan train --corpus my_midi/ --out runs/mine --config tiny   # a small folder of your own
  midigan train --corpus corpora --out runs/smoke --dry-run       # one step of each phase
  midigan train --corpus corpora --out runs/x --resume            # continue an interrupted run
  midigan train --corpus corpora --out runs/x --gan-epochs 0 --force   # MLE only, start over
""",
)
@click.option(
    "--corpus",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="corpora/ (with manifest.jsonl) or any folder of MIDI files.",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Run folder for checkpoints and logs."
)
@click.option(
    "--config",
    default=None,
    metavar="FILE|PRESET",
    help="TOML config file, or a shipped preset name (default, tiny). Default: default.",
)
@click.option(
    "--epochs", type=click.IntRange(min=0), default=None, help="MLE epochs (overrides [mle] epochs)."
)
@click.option(
    "--gan-epochs",
    type=click.IntRange(min=0),
    default=None,
    help="Adversarial epochs (overrides [gan] epochs; 0 = MLE only).",
)
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many optimizer steps per phase (smoke runs).",
)
@click.option(
    "--split",
    default=None,
    metavar="SHARES",
    help="Split a plain folder by shares, e.g. train=0.8,valid=0.1,test=0.1 (recorded in the run: "
    "evaluate takes it from there). Default: 90/5/5 by a hash of each file name.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seeds weights, batch order and noise. [default: 0; on --resume: the run's own]",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue from the run folder's last checkpoint, with the run's own config and seed.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Start over in a run folder that holds an earlier run (that run's files are removed).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="One step of each phase and a tiny validation (still writes the run folder).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--verbose", is_flag=True, help="Show every file left out (and why) and each file's melody track."
)
def train(verbose: bool = False, **options: Any) -> None:
    """Train the conditional LSTM-GAN: MLE warm start (OUT/mle), then adversarial fine-tuning (OUT/gan).

    Launch under torchrun for several GPUs or machines, e.g.
    `torchrun --nproc_per_node=4 -m midigan.cli.train_cmd --corpus corpora --out runs/x`.
    """
    from midigan.cli import library_log
    from midigan.train.config import TrainOptions
    from midigan.train.trainer import train as run_training

    resolved = run_guarded(TrainOptions.resolve, **options)  # the flags, exactly as click parsed them
    with library_log(verbose and os.environ.get("RANK", "0") == "0"):
        result = run_guarded(run_training, resolved)
    if result is None or os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return
    for phase, folder in result["checkpoints"].items():
        click.echo(f"{phase}: {folder}")
    metrics = {k: round(v, 4) for k, v in result["metrics"].items() if isinstance(v, float)}
    if metrics:
        click.echo(json.dumps(metrics))


if __name__ == "__main__":  # torchrun -m midigan.cli.train_cmd ...
    train()
