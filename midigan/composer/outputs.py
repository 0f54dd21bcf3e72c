"""Where a command's files go: one path per piece per format, checked before any work.

`midigan compose -o PATH` means a file (its extension picks the format, other
formats take the same name with their own suffix), or a folder when several pieces
are asked for or PATH is a folder (or ends with '/'). Without -o, files land in the
current folder as ``midigan-<seed>.mid`` (``midigan-<seed>-01.mid``... for several),
so the seed that reproduces a piece is in its name.

Paths are planned and the folder checked *before* a model is loaded, and a failure
while writing removes what this run already wrote: an error leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from midigan.errors import MidiganError, MidiWriteError
from midigan.io.export import FORMATS, export, format_of, remove_quietly

if TYPE_CHECKING:
    from midigan.music.score import Score

Plan = dict[str, Path]
"""Format name -> path, for one piece."""


def plan_outputs(
    out: str | Path | None, formats: Sequence[str], n: int, seed: int, stem: str = "midigan"
) -> list[Plan]:
    """The files to write for `n` pieces, one Plan each (see the module doc for the rules).

    Args:
        out: file or folder from the user, or None for the current folder.
        formats: format names (already parsed); empty = by `out`'s extension, else 'mid'.
        n: number of pieces.
        seed: the seed, used in default names.
        stem: default file-name prefix.

    Raises:
        MidiWriteError: unknown extension, missing or unwritable folder.
    """
    formats = list(formats)
    out_path = Path(out) if out is not None else None
    folder_mode = out_path is None or n > 1 or out_path.is_dir() or str(out).endswith(("/", os.sep))
    if folder_mode:
        folder = out_path if out_path is not None else Path(".")
        _check_folder(folder, may_create=True)
        formats = formats or ["mid"]
        width = len(str(n))
        names = [f"{stem}-{seed}" if n == 1 else f"{stem}-{seed}-{i + 1:0{max(2, width)}d}" for i in range(n)]
        return [{fmt: folder / f"{name}{FORMATS[fmt]}" for fmt in formats} for name in names]
    assert out_path is not None
    own = format_of(out_path)
    if not formats and out_path.suffix == "":
        formats = ["mid"]  # `-o song` means song.mid
    if not formats:
        if own is None:
            raise MidiWriteError(
                f"{out_path}: unknown extension {out_path.suffix!r}; use .mid, .musicxml, .wav or .png "
                "(or choose formats with --format)"
            )
        formats = [own]
    base = out_path.with_suffix("") if own is not None else out_path
    _check_folder(out_path.parent if str(out_path.parent) else Path("."), may_create=False)
    return [{fmt: out_path if fmt == own else base.with_name(base.name + FORMATS[fmt]) for fmt in formats}]


def write_outputs(scores: Sequence[Score], plans: Sequence[Plan]) -> list[Path]:
    """Write every score in every planned format; all or nothing.

    Returns:
        The paths written, in order.

    Raises:
        MidiganError: the first failure; files this call wrote (and folders it made) are removed.
    """
    written: list[Path] = []
    made: list[Path] = []
    try:
        for folder in dict.fromkeys(p.parent for plan in plans for p in plan.values()):
            made += _make_folder(folder)
        for score, plan in zip(scores, plans, strict=True):
            for fmt, path in plan.items():
                written.append(export(score, path, fmt))
    except MidiganError:
        remove_quietly(written)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return written


def _check_folder(folder: Path, may_create: bool) -> None:
    """The folder exists and is writable; or, when `may_create`, its nearest existing ancestor is."""
    probe = folder
    if not probe.exists():
        if not may_create:
            raise MidiWriteError(f"{folder}: folder does not exist; create it or choose another path")
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
    if not probe.is_dir():
        raise MidiWriteError(f"{folder}: {probe} is a file, not a folder; choose another path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise MidiWriteError(f"{folder}: no permission to write in {probe}; choose another path")


def _make_folder(folder: Path) -> list[Path]:
    """Create `folder` and missing parents; returns those created (deepest last)."""
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MidiWriteError(f"{folder}: cannot create the folder ({e.strerror}); choose another path") from e
    return list(reversed(missing))
