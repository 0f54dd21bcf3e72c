"""`midigan vary` and `midigan interpolate`: work on a piece the musician already has."""

from __future__ import annotations

import functools

import click

from midigan.cli import run_guarded, stopped_cleanly_by_term

VARY_EXAMPLES = """Examples:

\b
  midigan vary song.mid --bars 5-8 -o song-new.mid       # new bars 5-8, the rest kept
  midigan vary song.mid --bars 5-8 -n 4 -o takes/        # four takes of bars 5-8
  midigan vary song.mid --amount 0.3 --seed 2            # re-pitch 30% of the notes
"""

INTERPOLATE_EXAMPLES = """Examples:

\b
  midigan interpolate --seeds 1 2 --steps 5 -o walk/
  midigan interpolate --seeds 3 9 --steps 8 --bars 16 --key D --chords "D G A D" -o walk/
"""

_HELP = {"help_option_names": ["-h", "--help"]}


def _output_options(func):
    func = click.option("--force", is_flag=True, help="Replace existing files at -o's path.")(func)
    func = click.option(
        "--format", "formats", multiple=True, metavar="LIST",
        help="mid, musicxml, wav, png; comma-separated or repeated [default: by -o's extension, else mid].",
    )(func)  # fmt: skip
    func = click.option("-o", "--out", default=None, metavar="PATH", help="Output file, or folder.")(func)
    func = click.option("--model", default=None, metavar="PATH", help="A checkpoint [default: shipped].")(
        func
    )
    func = click.option("--temperature", type=float, default=None, help="[default: the model's tuned one]")(
        func
    )
    return click.option("--seed", type=int, default=None, help="Same seed -> the same files.")(func)


def _echo(pieces: list, paths: list) -> None:
    for path in paths:
        click.echo(str(path))
    for piece in pieces[:4]:
        click.echo(piece.describe(), err=True)


@click.command(context_settings=_HELP, epilog=VARY_EXAMPLES)
@click.argument("source", metavar="FILE")
@click.option("--bars", default=None, metavar="A-B", help="Regenerate these bars (from 1), keep the rest.")
@click.option("--amount", type=float, default=None, help="0..1: share of notes re-pitched [default 0.5].")
@click.option("-n", "count", type=int, default=1, show_default=True, help="Number of results.")
@click.option(
    "--candidates", type=int, default=8, show_default=True,
    help="With --bars: fillings tried per result; the one leading best into the kept bars wins.",
)  # fmt: skip
@_output_options
def vary(
    source: str, bars: str | None, amount: float | None, count: int, candidates: int,
    seed: int | None, temperature: float | None, model: str | None, out: str | None,
    formats: tuple[str, ...], force: bool,
) -> None:  # fmt: skip
    """Regenerate bars of FILE (--bars), or make variations of its whole melody (--amount)."""
    if bars is not None and amount is not None:
        raise click.UsageError("--bars regenerates bars, --amount varies the whole melody: choose one")
    from midigan.composer import edit
    from midigan.composer.edit_outputs import pieces_to_files
    from midigan.composer.request import resolve_seed

    seed = resolve_seed(seed)
    common = {"n": count, "seed": seed, "temperature": temperature, "model": model}
    if bars is not None:
        make = functools.partial(edit.regenerate, source, bars, candidates=candidates, **common)
    else:
        make = functools.partial(edit.vary, source, 0.5 if amount is None else amount, **common)
    with stopped_cleanly_by_term():
        pieces, paths = run_guarded(pieces_to_files, make, count, seed, "midigan-vary", out, formats, force)
    _echo(pieces, paths)


@click.command(context_settings=_HELP, epilog=INTERPOLATE_EXAMPLES)
@click.option("--seeds", type=int, nargs=2, default=(1, 2), show_default=True, help="The two ends.")
@click.option("--steps", type=int, default=5, show_default=True, help="Pieces, both ends included.")
@click.option("--bars", type=int, default=8, show_default=True, help="Length in bars (exact).")
@click.option("--key", default=None, help="C, Am, F#m... [default: drawn from the first seed]")
@click.option("--meter", default=None, help="4/4, 3/4, 6/8... [default: 4/4]")
@click.option("--tempo", type=float, default=None, help="Quarter notes per minute.")
@click.option("--chords", default=None, help='One chord a bar, cycled: "C G Am F".')
@click.option("--style", default=None, help="folk, irish, fiddle or chorale [default: folk].")
@click.option("--temperature", type=float, default=None, help="[default: the model's tuned one]")
@click.option("--model", default=None, metavar="PATH", help="A checkpoint [default: shipped].")
@click.option("-o", "--out", default=None, metavar="PATH", help="Output folder (or file for one format).")
@click.option("--format", "formats", multiple=True, metavar="LIST", help="mid, musicxml, wav, png.")
@click.option("--force", is_flag=True, help="Replace existing files at -o's path.")
def interpolate(
    seeds: tuple[int, int], steps: int, bars: int, key: str | None, meter: str | None,
    tempo: float | None, chords: str | None, style: str | None, temperature: float | None,
    model: str | None, out: str | None, formats: tuple[str, ...], force: bool,
) -> None:  # fmt: skip
    """A sequence of pieces moving from one seed's piece to another's, in files numbered in order."""
    from midigan.composer.edit_outputs import pieces_to_files
    from midigan.composer.interpolation import interpolate as walk

    request = {"bars": bars, "key": key, "meter": meter, "tempo": tempo, "chords": chords, "style": style}

    make = functools.partial(walk, seeds, steps, temperature=temperature, model=model, **request)
    with stopped_cleanly_by_term():
        pieces, paths = run_guarded(
            pieces_to_files, make, max(steps, 1), seeds[0], "midigan-interpolate", out, formats, force
        )
    _echo(pieces, paths)
