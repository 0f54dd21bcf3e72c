"""`midigan play`: send a file, or a piece composed on the spot, to a MIDI output port."""

from __future__ import annotations

import click

from midigan.cli import run_guarded, stopped_cleanly_by_term

EXAMPLES = """Examples:

\b
  midigan play --list-ports
  midigan play song.mid --port "FLUID Synth"
  midigan play song.mid --port IAC --tempo 90
  midigan play --bars 8 --key D --seed 3 --virtual          # compose, then play into port "midigan"
"""


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXAMPLES)
@click.argument("file", required=False)
@click.option(
    "--port", default=None, metavar="NAME", help="Output port (exact or a unique part of its name)."
)
@click.option(
    "--virtual", is_flag=True, help="Open a virtual port (--port names it) for a DAW to connect to."
)
@click.option("--list-ports", is_flag=True, help="List the MIDI output ports and exit.")
@click.option("--tempo", type=float, default=None, help="Play at this many quarter notes per minute.")
@click.option("--bars", type=int, default=8, show_default=True, help="Without FILE: bars to compose.")
@click.option("--key", default=None, help="Without FILE: the key to compose in.")
@click.option("--chords", default=None, help="Without FILE: chords to compose over.")
@click.option("--style", default=None, help="Without FILE: folk, irish, fiddle or chorale.")
@click.option("--seed", type=int, default=None, help="Without FILE: the seed to compose with.")
def play(
    file: str | None, port: str | None, virtual: bool, list_ports: bool, tempo: float | None,
    bars: int, key: str | None, chords: str | None, style: str | None, seed: int | None,
) -> None:  # fmt: skip
    """Play FILE (or a piece composed from the options) into a MIDI output port; Ctrl-C stops it."""
    from midigan.io.live import output_names

    if list_ports:
        for name in run_guarded(output_names):
            click.echo(name)
        return
    request = {"bars": bars, "key": key, "chords": chords, "style": style, "seed": seed}
    with stopped_cleanly_by_term():
        name, sent = run_guarded(_play, file, port, virtual, tempo, request)
    click.echo(f"played {sent} messages to {name}", err=True)


def _play(
    file: str | None, port: str | None, virtual: bool, tempo: float | None, request: dict
) -> tuple[str, int]:
    """Read or compose the piece, open the port, play (the port closed however it ends)."""
    from midigan.io.live import open_output, play

    if file is not None:
        from midigan.io import read_score

        score = read_score(file)
    else:
        from midigan.composer import compose

        score = compose(**request).score  # type: ignore[union-attr]
    output = open_output(port, virtual=virtual)
    try:
        click.echo(f"playing into {output.name} (Ctrl-C stops)", err=True)
        return output.name, play(score, output, tempo=tempo)
    finally:
        output.close()
