"""The `midigan` command: a thin click layer over the library.

Sub-commands live in sibling modules and are imported only when invoked, so
`midigan --help` and `midigan compose` do not pay for modules they do not use.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Iterator

import click

from midigan import __version__

_COMMANDS: dict[str, tuple[str, str]] = {
    "compose": ("midigan.cli.compose_cmd", "compose"),
    "corpus": ("midigan.cli.corpus_cmd", "corpus"),
    "train": ("midigan.cli.train_cmd", "train"),
    "train-dynamics": ("midigan.cli.dynamics_cmd", "train_dynamics"),
    "evaluate": ("midigan.cli.evaluate_cmd", "evaluate"),
    "evaluate-dynamics": ("midigan.cli.dynamics_cmd", "evaluate_dynamics"),
    "render": ("midigan.cli.render_cmd", "render"),
    "vary": ("midigan.cli.vary_cmd", "vary"),
    "interpolate": ("midigan.cli.vary_cmd", "interpolate"),
    "play": ("midigan.cli.play_cmd", "play"),
    "set-sampling": ("midigan.cli.sampling_cmd", "set_sampling"),
}
_HELP = {
    "compose": "Compose new pieces from the shipped (or your) model.",
    "corpus": "Build the training corpus, or describe a folder of MIDI files.",
    "train": "Train the conditional LSTM-GAN on a corpus or your own MIDI folder.",
    "train-dynamics": "Train the velocity model that gives composed melodies their dynamics.",
    "evaluate": "Compare a model's pieces with held-out music and baselines.",
    "evaluate-dynamics": "Compare a velocity model's playing with held-out real dynamics.",
    "render": "Render a MIDI file to WAV, a piano-roll PNG or MusicXML.",
    "vary": "Regenerate bars of a piece, or vary its whole melody.",
    "interpolate": "A sequence of pieces moving from one seed's piece to another's.",
    "play": "Play a file (or a piece composed on the spot) into a MIDI output port.",
    "set-sampling": "Show or set a checkpoint's tuned temperature and head shares.",
}


class _LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in _COMMANDS:
            return None
        module_name, attr = _COMMANDS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            return None
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _HELP[name]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


_POSITIVE = click.IntRange(min=1)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="midigan")
@click.option(
    "--max-notes", type=_POSITIVE, help="Most notes per input [MIDI 250000, ABC 1500, MusicXML 50000]."
)
@click.option("--max-ticks", type=_POSITIVE, help="Longest MIDI input, in 1/12 quarters [600000].")
@click.option("--max-bars", type=_POSITIVE, help="Most bars of an ABC tune or MusicXML part [600, 5000].")
@click.pass_context
def main(ctx: click.Context, max_notes: int | None, max_ticks: int | None, max_bars: int | None) -> None:
    """midigan: compose, train and evaluate symbolic music with a conditional LSTM-GAN."""
    given = {"max_notes": max_notes, "max_ticks": max_ticks, "max_bars": max_bars}
    if any(value is not None for value in given.values()):
        _raise_read_limits(ctx, given)


def _raise_read_limits(ctx: click.Context, given: dict[str, int | None]) -> None:
    """Set the readers' limits for this command through the environment (:mod:`midigan.io.limits`).

    The environment, not an argument: every read of every command (render input, compose
    --primer, corpus stats, train and evaluate) takes its default from there, and so do the
    worker processes a command starts. The old values come back when the command ends.
    """
    import os

    from midigan.io.limits import ENV_NAMES

    saved = {name: os.environ.get(name) for name in ENV_NAMES.values()}
    for argument, value in given.items():
        if value is not None:
            os.environ[ENV_NAMES[argument]] = str(value)

    def restore() -> None:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old

    ctx.call_on_close(restore)


def run_guarded(func, *args, **kwargs):
    """Call library code; a MidiganError becomes one plain line on stderr and exit 1.

    Warnings on the way become plain lines too (see :func:`plain_warnings`).
    """
    from midigan.errors import MidiganError

    try:
        with plain_warnings():
            return func(*args, **kwargs)
    except MidiganError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


_QUIET_WARNINGS = (
    DeprecationWarning,
    PendingDeprecationWarning,
    FutureWarning,
    ImportWarning,
    ResourceWarning,
)
"""Warnings addressed to programmers (a library's API is changing), never shown to a musician."""


@contextlib.contextmanager
def plain_warnings() -> Iterator[None]:
    """Show each distinct warning once, as one plain line on stderr: 'warning: <message>'.

    Python's default prints the file, line number, class and source line of the
    `warnings.warn` call ("io.py:45: QuantizationWarning ... return read_midi(path)"),
    which tells a musician nothing; our messages already name the file they concern.
    Warnings meant for programmers (deprecations and the like) are not shown.
    """
    seen: set[str] = set()

    def show(
        message: Warning | str, category: type[Warning], filename: str, lineno: int,
        file: object = None, line: str | None = None,
    ) -> None:  # fmt: skip
        text = " ".join(str(message).split())
        if text and text not in seen and not issubclass(category, _QUIET_WARNINGS):
            seen.add(text)
            click.echo(f"warning: {text}", err=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # repeats are dropped by text above, across call sites
        warnings.showwarning = show
        yield


class _EchoHandler(logging.Handler):
    """A library log record as one plain line on stderr ('warning: ...' for warnings)."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        click.echo(f"{prefix}{record.getMessage()}", err=True)


@contextlib.contextmanager
def library_log(verbose: bool = False) -> Iterator[None]:
    """Show what the library logs (`logging`, the `midigan` loggers) as plain lines on stderr.

    The library reports through `logging` (what it did to a corpus, a schedule it changed);
    the command shows those lines: info and warnings always, the per-file detail (debug)
    with `verbose`. Without a handler Python would print warnings bare and drop the rest.
    """
    logger = logging.getLogger("midigan")
    handler = _EchoHandler(logging.DEBUG if verbose else logging.INFO)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(handler.level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


@contextlib.contextmanager
def stopped_cleanly_by_term() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the command like Ctrl-C does, so clean-up code runs.

    Python's default for SIGTERM ends the process at once: no `finally`, so a render
    would leave fluidsynth's temp file behind. Raising KeyboardInterrupt instead lets the
    writers remove their temp files and end their child processes; :func:`run_guarded`
    then prints "interrupted" and exits 130.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
