"""`midigan set-sampling`: show or record a checkpoint's tuned temperature and head shares."""

from __future__ import annotations

import click

from midigan.cli import run_guarded

EXAMPLES = """Examples:

\b
  midigan set-sampling runs/x/gan                      # show what compose samples it at
  midigan set-sampling runs/x/gan --temperature 0.9 --pitch 1.2 --duration 1.2
  midigan evaluate --user-path --model runs/x --split valid   # compare choices first
"""

_SHARE = click.FloatRange(min=0, max=10, min_open=True)


@click.command("set-sampling", context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXAMPLES)
@click.argument("checkpoint")
@click.option("--temperature", type=_SHARE, default=None, help="Softmax temperature of every head.")
@click.option("--pitch", type=_SHARE, default=None, help="Fresh pitches: temperature x this.")
@click.option("--duration", type=_SHARE, default=None, help="Fresh durations: temperature x this.")
@click.option("--copy", type=_SHARE, default=None, help="The lookback's copy weights: temperature x this.")
def set_sampling(
    checkpoint: str,
    temperature: float | None,
    pitch: float | None,
    duration: float | None,
    copy: float | None,
) -> None:
    """Show, or set, the sampling a checkpoint uses when none is asked for.

    The values go into CHECKPOINT's config.json (`run.sampling`); the weights are untouched.
    Without options, prints the current values.
    """
    from midigan.model.sampling_settings import read_sampling
    from midigan.model.sampling_settings import set_sampling as write

    values = {"temperature": temperature, "pitch": pitch, "duration": duration, "copy": copy}
    if all(v is None for v in values.values()):
        found = run_guarded(read_sampling, checkpoint)
    else:
        found = run_guarded(write, checkpoint, **values)
    click.echo(" ".join(f"{key} {value:g}" for key, value in found.items()))
