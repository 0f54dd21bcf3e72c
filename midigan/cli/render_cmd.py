"""`midigan render`: a MIDI (or ABC/MusicXML) file to WAV, piano-roll PNG and/or MusicXML."""

from __future__ import annotations

import click

from midigan.cli import run_guarded, stopped_cleanly_by_term

EXAMPLES = """Examples:

\b
  midigan render song.mid --wav song.wav
  midigan render song.mid --png roll.png --musicxml song.musicxml
  midigan render tune.abc --musicxml tune.musicxml --force
  midigan render song.mid --wav song.wav --soundfont ~/sf2/GeneralUser.sf2
"""


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXAMPLES)
@click.argument("file")
@click.option(
    "--wav", default=None, metavar="OUT", help="Audio through fluidsynth and a General MIDI SoundFont."
)
@click.option("--png", default=None, metavar="OUT", help="Piano-roll picture.")
@click.option("--musicxml", default=None, metavar="OUT", help="Notation for MuseScore, Sibelius, Finale...")
@click.option(
    "--soundfont", default=None, metavar="SF2", help="SoundFont for --wav [default: the system GM one]."
)
@click.option("--force", is_flag=True, help="Replace existing output files.")
def render(
    file: str, wav: str | None, png: str | None, musicxml: str | None, soundfont: str | None, force: bool
) -> None:
    """Render FILE to --wav, --png and/or --musicxml (at least one)."""
    if not (wav or png or musicxml):
        raise click.UsageError("say what to render: --wav OUT, --png OUT and/or --musicxml OUT")
    from midigan.io.render import render_file

    outputs = {"wav": wav, "png": png, "musicxml": musicxml}
    with stopped_cleanly_by_term():
        paths = run_guarded(render_file, file, soundfont=soundfont, force=force, **outputs)
    for path in paths:
        click.echo(str(path))
