"""`midigan train`: a thin click layer over :func:`midigan.train.trainer.train`."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from midigan.cli import run_guarded

if TYPE_CHECKING:
    from midigan.train.trainer import TrainOptions


def _options(
    corpus: str,
    out: str,
    config: str | Path | None,
    epochs: int | None,
    gan_epochs: int | None,
    max_steps: int | None,
    device: str,
    seed: int,
    resume: bool,
    dry_run: bool,
    quiet: bool,
) -> TrainOptions:
    """Resolve the configuration (file or preset, the run's own on --resume, then flags).

    Raises:
        ConfigError: a missing or invalid config file, or an unknown preset.
    """
    from midigan.model.config import load_config
    from midigan.train.trainer import TrainOptions

    out_path = Path(out)
    if config is None and resume and (out_path / "config.toml").exists():
        config = out_path / "config.toml"  # resume with the run's own hyper-parameters
    cfg = load_config(config)
    if epochs is not None:
        cfg = replace(cfg, mle=replace(cfg.mle, epochs=epochs))
    if gan_epochs is not None:
        cfg = replace(cfg, gan=replace(cfg.gan, epochs=gan_epochs))
    if dry_run:
        max_steps = 1
        cfg = replace(
            cfg,
            mle=replace(cfg.mle, epochs=max(cfg.mle.epochs, 1)),
            gan=replace(cfg.gan, epochs=max(cfg.gan.epochs, 1)),
            data=replace(cfg.data, valid_pieces=min(cfg.data.valid_pieces, 8)),
            train=replace(cfg.train, val_samples=min(cfg.train.val_samples, 2)),
        )
    return TrainOptions(Path(corpus), out_path, cfg, device, seed, resume, max_steps, progress=not quiet)


@click.command("train")
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
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds weights, batch order and noise.")
@click.option("--resume", is_flag=True, help="Continue from the run folder's last checkpoint.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="One step of each phase and a tiny validation (still writes the run folder).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(
    corpus: str,
    out: str,
    config: str | None,
    epochs: int | None,
    gan_epochs: int | None,
    max_steps: int | None,
    device: str,
    seed: int,
    resume: bool,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Train the conditional LSTM-GAN: MLE warm start (OUT/mle), then adversarial fine-tuning (OUT/gan).

    Launch under torchrun for several GPUs or machines, e.g.
    `torchrun --nproc_per_node=4 -m midigan.cli.train_cmd --corpus corpora --out runs/x`.
    """
    from midigan.train.trainer import train as run_training

    options = run_guarded(
        _options, corpus, out, config, epochs, gan_epochs, max_steps, device, seed, resume, dry_run, quiet
    )
    result = run_guarded(run_training, options)
    if result is None or os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return
    for phase, folder in result["checkpoints"].items():
        click.echo(f"{phase}: {folder}")
    metrics = {k: round(v, 4) for k, v in result["metrics"].items() if isinstance(v, float)}
    if metrics:
        click.echo(json.dumps(metrics))


if __name__ == "__main__":  # torchrun -m midigan.cli.train_cmd ...
    train()
