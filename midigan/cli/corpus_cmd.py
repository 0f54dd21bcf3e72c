"""`midigan corpus build`, `resplit` and `stats`: thin wrappers over midigan.corpus."""

from __future__ import annotations

import json

import click

from midigan.cli import run_guarded

BUILD_EXAMPLES = """\
  midigan corpus build --out my-corpus                      # all four collections
  midigan corpus build --out sample --limit 50 --sources essen,chorales
  midigan corpus build --force                              # rebuild the tracked corpora/ in place
"""
STATS_EXAMPLES = """\
  midigan corpus stats path/to/midi/folder
  midigan corpus stats corpora --json
"""
RESPLIT_EXAMPLES = "  midigan corpus resplit --corpus corpora\n"


def _examples(*blocks: str) -> str:
    """A click epilog: 'Examples:', then the lines as written (click's \\b keeps them unwrapped)."""
    return "Examples:\n\n\b\n" + "".join(blocks)


@click.group("corpus", epilog=_examples(BUILD_EXAMPLES, STATS_EXAMPLES, RESPLIT_EXAMPLES))
def corpus() -> None:
    """Build the training corpus, or describe a folder of MIDI files."""


@corpus.command("build", epilog=_examples(BUILD_EXAMPLES))
@click.option(
    "--out",
    default="corpora",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder to write <style>/<id>.mid, manifest.jsonl and build_report.json into.",
)
@click.option(
    "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: all CPU cores)."
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many tunes from each source (a quick sample build).",
)
@click.option(
    "--sources",
    default=None,
    metavar="NAMES",
    help="Comma-separated sources: essen,oneills,ryans,chorales (default: all).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--force", is_flag=True, help="Write over a folder that already holds files (e.g. the tracked corpora/)."
)
def build(
    out: str, jobs: int | None, limit: int | None, sources: str | None, quiet: bool, force: bool
) -> None:
    """Build the corpora from the collections inside music21 (no network needed).

    An --out folder that already holds files is refused unless --force.
    """
    from midigan.corpus.build import build_corpus, existing_contents

    names = [s.strip() for s in sources.split(",") if s.strip()] if sources else None
    found = existing_contents(out) if force else None
    if found is not None:
        click.echo(f"overwriting {out}: {found}", err=True)
    report = run_guarded(
        build_corpus, out, sources=names, jobs=jobs, limit=limit, progress=not quiet, force=force
    )
    click.echo(f"built {report['built']} of {report['tunes']} tunes in {report['seconds']} s -> {out}")
    for name, info in report["sources"].items():
        skipped = sum(info["skipped"].values())
        click.echo(f"  {name:<9} {info['style']:<8} built {info['built']:>5}  skipped {skipped:>4}")
        for reason, count in info["skipped"].items():
            click.echo(f"      {count:>5}  {reason}")


@corpus.command("resplit", epilog=_examples(RESPLIT_EXAMPLES))
@click.option(
    "--corpus",
    "folder",
    default="corpora",
    show_default=True,
    type=click.Path(exists=True, file_okay=False),
    help="A built corpus (with manifest.jsonl).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def resplit(folder: str, quiet: bool) -> None:
    """Put variants of a tune in one split (tune families) in a built corpus's manifest.

    Reads the MIDI files only (seconds, no music21); ids and paths do not change.
    """
    from tqdm import tqdm

    from midigan.corpus.families import resplit_corpus

    def bar(items: list) -> tqdm:
        return tqdm(items, desc="families", unit="tune", disable=quiet, mininterval=1.0)

    summary = run_guarded(resplit_corpus, folder, progress=bar)
    splits = ", ".join(f"{name} {count}" for name, count in summary["splits"].items())
    click.echo(
        f"{summary['pieces']} pieces in {summary['families']} families "
        f"({summary['pieces_in_families_of_several']} pieces in {summary['families_of_several']} "
        f"families of two or more); {summary['moved']} changed split -> {splits}"
    )
    skipped = summary.get("skipped", [])
    if skipped:
        names = ", ".join(row["path"] for row in skipped)
        click.echo(f"{len(skipped)} unreadable file(s) skipped, keeping their split: {names}")
        for row in skipped:
            click.echo(f"  {row['error']}")


@corpus.command("stats", epilog=_examples(STATS_EXAMPLES))
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON instead of tables.")
def stats(folder: str, as_json: bool) -> None:
    """Describe every MIDI file under FOLDER (recursively); unreadable files are counted and named."""
    from midigan.corpus.stats import corpus_stats, format_stats

    result = run_guarded(corpus_stats, folder)
    click.echo(json.dumps(result, indent=2) if as_json else format_stats(result))


def _add_dynamics() -> None:
    """`corpus dynamics` lives in its own module (the velocity model's commands)."""
    from midigan.cli.dynamics_cmd import corpus_dynamics

    corpus.add_command(corpus_dynamics)


_add_dynamics()
