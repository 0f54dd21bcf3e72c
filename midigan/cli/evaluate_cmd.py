"""`midigan evaluate`: compare a model's pieces with held-out music and baselines."""

from __future__ import annotations

from pathlib import Path

import click

from midigan.cli import run_guarded


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run", required=False, type=click.Path(path_type=Path), metavar="[RUN]")
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    default=None,
    metavar="PATH",
    help="A checkpoint, or a training run folder with mle/ and gan/ [default: the shipped model].",
)
@click.option("--no-model", is_flag=True, help="Evaluate the baselines only (no model needed).")
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    default=Path("corpora"),
    show_default=True,
    help="corpora/ (with manifest.jsonl) or any folder of MIDI files.",
)
@click.option("--n", "n", type=int, default=500, show_default=True, help="Pieces per set.")
@click.option(
    "--bars",
    type=int,
    default=16,
    show_default=True,
    help="Bars a piece: real ones are cut to it, generated ones asked for it.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("evaluation"),
    show_default=True,
    help="Folder for report.json, table.md and the plots.",
)
@click.option(
    "--baselines/--no-baselines", default=True, show_default=True, help="Include the ceiling and Markov rows."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Draws the pieces and seeds sampling.")
@click.option(
    "--temperature",
    type=float,
    default=None,
    help="Model sampling temperature [default: each checkpoint's tuned temperature].",
)
@click.option(
    "--markov-order", type=int, default=3, show_default=True, help="Context length of the Markov row."
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
def evaluate(
    run: Path | None,
    model: Path | None,
    no_model: bool,
    corpus: Path,
    n: int,
    bars: int,
    out: Path,
    baselines: bool,
    seed: int,
    temperature: float | None,
    markov_order: int,
    device: str,
) -> None:
    """Compare a model's pieces with the held-out test split and baselines.

    RUN (or --model) is a training run folder: its mle/ and gan/ checkpoints both get a row.
    """
    from midigan.errors import ConfigError
    from midigan.evaluate.runner import EvaluationSettings
    from midigan.evaluate.runner import evaluate as run_evaluation

    def go() -> None:
        if run is not None and model is not None:
            raise ConfigError("give the model either as RUN or as --model, not both")
        settings = EvaluationSettings(
            corpus=corpus,
            model=model or run,
            use_model=not no_model,
            n=n,
            bars=bars,
            baselines=baselines,
            seed=seed,
            markov_order=markov_order,
            temperature=temperature,
            device=device,
        )
        report = run_evaluation(settings, out_dir=out, progress=True)
        click.echo(report.format_table())
        click.echo(f"\n{report.settings['reference_pieces']} test pieces of up to {bars} bars; wrote {out}/")

    run_guarded(go)
