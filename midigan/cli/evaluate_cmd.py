"""`midigan evaluate`: compare a model's pieces with held-out music and baselines."""

from __future__ import annotations

from pathlib import Path

import click

from midigan.cli import run_guarded

EXAMPLES = """Examples:

\b
  midigan evaluate --n 200                       # the shipped model against corpora/'s test split
  midigan evaluate runs/x                        # a training run: its mle/ and gan/ each get a row
  midigan evaluate --model runs/x/gan --n 500 --out eval-gan
  midigan evaluate --no-model --corpus my_midi/  # the baselines only, on a folder of your own
  midigan evaluate --user-path --n 200 --split valid   # as `midigan compose` makes them, per style
"""


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXAMPLES)
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
@click.option(
    "--split",
    default=None,
    metavar="SPLIT",
    help="valid or test: the split real pieces come from (valid to choose settings on, test "
    "reported once) [default: test]; or split a plain folder by shares, e.g. "
    "train=0.8,valid=0.1,test=0.1 [default: the model's training split, else 90/5/5 by file name].",
)
@click.option(
    "--user-path",
    is_flag=True,
    help="Compose as `midigan compose --bars B --style S --meter M` does (default key, chords, "
    "temperature) for each style/meter cell, against that cell's real tunes; writes user_path.json.",
)
@click.option(
    "--cells",
    default=None,
    metavar="LIST",
    help="User-path cells as style:meter, comma-separated, e.g. folk:4/4,irish:6/8 "
    "[default: the common meters of every style].",
)
@click.option(
    "--min-real",
    type=int,
    default=8,
    show_default=True,
    help="User path: skip a cell with fewer real tunes than this.",
)
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
    split: str | None,
    user_path: bool,
    cells: str | None,
    min_real: int,
) -> None:
    """Compare a model's pieces with the held-out test split and baselines.

    RUN (or --model) is a training run folder: its mle/ and gan/ checkpoints both get a row.
    With --user-path, each style/meter cell gets the model's (and its MLE sibling's) pieces
    made as `midigan compose` makes them, judged by a random forest and a logistic
    two-sample test and by form statistics against the cell's real tunes.
    """
    from midigan.errors import ConfigError
    from midigan.evaluate.runner import EvaluationSettings
    from midigan.evaluate.runner import evaluate as run_evaluation

    def report_on_settings() -> None:
        if run is not None and model is not None:
            raise ConfigError("give the model either as RUN or as --model, not both")
        named = split if split in ("valid", "test") else None
        shares = None if named else split
        if user_path:
            report_on_user_path(named or "valid", shares)
            return
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
            split=shares,
            reference_split=named or "test",
        )
        report = run_evaluation(settings, out_dir=out, progress=True)
        click.echo(report.format_table())
        split_used = f" (split {report.settings['split']})" if report.settings.get("split") else ""
        pieces = report.settings["reference_pieces"]
        click.echo(f"\n{pieces} {named or 'test'} pieces of up to {bars} bars{split_used}; wrote {out}/")

    def report_on_user_path(named: str, shares: str | None) -> None:
        from midigan.evaluate.user_path import CELLS, UserPathSettings, evaluate_user_path, parse_cells

        if no_model:
            raise ConfigError("--user-path evaluates a model: leave out --no-model")
        settings = UserPathSettings(
            corpus=corpus,
            model=model or run,
            n=n,
            bars=bars,
            split=named,
            seed=seed,
            temperature=temperature,
            device=device,
            cells=parse_cells(cells) if cells else CELLS,
            min_real=min_real,
            ceiling=baselines,
            shares=shares,
        )
        report = evaluate_user_path(settings, out_dir=out, progress=True)
        click.echo(report.format_table())
        click.echo(f"\nwrote {out}/user_path.json and user_path.md")

    run_guarded(report_on_settings)
