"""`midigan compose`: options in, files out, one line per file and a short summary."""

from __future__ import annotations

import click

from midigan.cli import run_guarded, stopped_cleanly_by_term

EXAMPLES = """Examples:

\b
  midigan compose --bars 16
  midigan compose --bars 8 --key Am --chords "Am F C G" --seed 3 --format mid,png -o tune.mid
  midigan compose --bars 32 --key D --meter 6/8 --style irish -n 4 -o jigs/
  midigan compose --bars 8 --primer my_idea.mid
  midigan compose --bars 16 --primer song.mid --primer-bars -4   # continue its last 4 bars
"""


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXAMPLES)
@click.option("--bars", type=int, default=16, show_default=True, help="Length in bars (exact).")
@click.option(
    "--key", default=None, help="C, Am, F#m, Bb... [default: the primer's, or one the style favours]"
)
@click.option("--meter", default=None, help="4/4, 3/4, 6/8, 2/4... [default: the primer's, or 4/4]")
@click.option(
    "--tempo", type=float, default=None, help="Quarter notes per minute [default: by style and meter]."
)
@click.option("--style", default=None, help="folk, irish, fiddle or chorale [default: folk].")
@click.option(
    "--chords",
    default=None,
    help='One chord a bar, cycled: "C G Am F"; "|" between bars holding several: "C G | Am"; '
    '"?" leaves a bar (or half of a two-chord bar) to the model: "C ? ? G7", "C ? | ? G7"; '
    '"none" for no chords [default: sampled by the model\'s chord model, else a folk progression].',
)
@click.option(
    "--seed", type=int, default=None, help="Same seed, same model -> the same files [default: random]."
)
@click.option(
    "--temperature",
    type=float,
    default=None,
    help="Below 1 safer, above 1 bolder [default: the model's tuned temperature].",
)
@click.option("-n", "count", type=int, default=1, show_default=True, help="Number of pieces.")
@click.option(
    "-o",
    "--out",
    default=None,
    metavar="PATH",
    help="Output file, or folder when -n > 1 [default: ./midigan-SEED.mid].",
)
@click.option("--primer", default=None, metavar="FILE", help="A MIDI/ABC/MusicXML phrase to continue.")
@click.option(
    "--primer-bars",
    type=int,
    default=None,
    metavar="N",
    help="Continue only the primer's first N bars (4) or its last N (-4) [default: all of it].",
)
@click.option(
    "--model", default=None, metavar="PATH", help="A checkpoint from `midigan train` [default: shipped]."
)
@click.option("--no-accompaniment", is_flag=True, help="Melody only: no chord and bass tracks.")
@click.option("--strict-key", is_flag=True, help="Forbid notes outside the key's scale.")
@click.option(
    "--dynamics", default=None, metavar="LEVEL",
    help="pp, p, mp, mf, f, ff (overall level, played by the model's velocity model) or flat "
    "(the metric template) [default: the velocity model at the style's level, else flat].",
)  # fmt: skip
@click.option(
    "--format", "formats", multiple=True, metavar="LIST",
    help="mid, musicxml, wav, png; comma-separated or repeated [default: by -o's extension, else mid].",
)  # fmt: skip
@click.option("--device", default=None, help="cpu or cuda [default: cuda for large batches when present].")
@click.option(
    "--force", is_flag=True, help="Replace existing files at -o's path (default names never replace)."
)
def compose(
    bars: int,
    key: str | None,
    meter: str | None,
    tempo: float | None,
    style: str | None,
    chords: str | None,
    seed: int | None,
    temperature: float | None,
    count: int,
    out: str | None,
    primer: str | None,
    primer_bars: int | None,
    model: str | None,
    no_accompaniment: bool,
    strict_key: bool,
    dynamics: str | None,
    formats: tuple[str, ...],
    device: str | None,
    force: bool,
) -> None:
    """Compose new pieces from the shipped model (or your own with --model)."""
    from midigan.composer import compose_to_files

    with stopped_cleanly_by_term():
        pieces, paths = run_guarded(
            compose_to_files,
            out,
            formats,
            force,
            bars=bars,
            key=key,
            meter=meter,
            tempo=tempo,
            chords=chords,
            style=style,
            primer=primer,
            primer_bars=primer_bars,
            seed=seed,
            temperature=temperature,
            n=count,
            model=model,
            accompaniment=not no_accompaniment,
            strict_key=strict_key,
            dynamics=dynamics,
            device=device,
        )
    for path in paths:
        click.echo(str(path))
    for piece in pieces[:4]:
        click.echo(piece.describe(), err=True)
    if len(pieces) > 4:
        click.echo(f"... and {len(pieces) - 4} more pieces", err=True)
