"""Where a command's files go: one path per piece per format, checked before any work.

`midigan compose -o PATH` means a file (its extension picks the format, other
formats take the same name with their own suffix), or a folder when several pieces
are asked for or PATH is a folder (or ends with '/'). Without -o, files land in the
current folder as ``midigan-<seed>.mid`` (then ``midigan-<seed + 1>.mid``... for several),
so the seed that reproduces a piece on its own is in its name.

Nothing is overwritten by surprise: a default name that is taken gets a fresh one
(``midigan-<seed>-2.mid``, ``-3``...), and a path the user names that already exists needs
`force` (`--force`). Folders, symlinks, devices and read-only files are never replaced.

Paths are planned and checked *before* a model is loaded, and the files are written as one
batch (:func:`midigan.io.atomic.all_or_nothing`): they appear together once all of them are
made, or a failure removes only this run's temp files (and folders it made), so every file
the user had is left as it was.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from midigan.errors import MidiWriteError
from midigan.io import FORMATS, format_of, write_score
from midigan.io.atomic import all_or_nothing, check_target

if TYPE_CHECKING:
    from midigan.music.score import Score

Plan = dict[str, Path]
"""Format name -> path, for one piece."""

MAX_FRESH_TRIES = 10_000
"""How far `midigan-7-2`, `midigan-7-3`... go looking for a free default name."""


def plan_outputs(
    out: str | Path | None,
    formats: Sequence[str],
    n: int,
    seed: int,
    stem: str = "midigan",
    force: bool = False,
    numbered: bool = False,
) -> list[Plan]:
    """The files to write for `n` pieces, one Plan each (see the module doc for the rules).

    Args:
        out: file or folder from the user, or None for the current folder.
        formats: format names (already parsed); empty = by `out`'s extension, else 'mid'.
        n: number of pieces.
        seed: the first piece's seed; piece `i` is named (and made) with `seed + i`.
        stem: default file-name prefix.
        force: replace existing regular files at paths the user named.
        numbered: name several pieces `<stem>-<seed>-01`, `-02`... (the steps of one walk,
            the variants of one seed) instead of by their own seeds.

    Raises:
        MidiWriteError: unknown extension, missing or unwritable folder, a named file that
            exists (without `force`), or a target that is not a regular writable file.
    """
    formats = list(formats)
    out_path = Path(out) if out is not None else None
    folder_mode = out_path is None or n > 1 or out_path.is_dir() or str(out).endswith(("/", os.sep))
    if folder_mode:
        folder = out_path if out_path is not None else Path(".")
        _check_folder(folder, may_create=True)
        formats = formats or ["mid"]
        width = max(2, len(str(n)))
        names = [
            f"{stem}-{seed}-{i + 1:0{width}d}" if numbered and n > 1 else f"{stem}-{seed + i}"
            for i in range(n)
        ]
        return [_fresh_plan(folder, name, formats) for name in names]
    assert out_path is not None
    if os.path.lexists(out_path) and not out_path.is_file():
        check_target(out_path)  # `-o /dev/null` is refused, not turned into /dev/null.mid
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
    plan = {fmt: out_path if fmt == own else base.with_name(base.name + FORMATS[fmt]) for fmt in formats}
    for path in plan.values():
        check_target(path, replace=force)
    return [plan]


def _fresh_plan(folder: Path, name: str, formats: Sequence[str]) -> Plan:
    """`name` in every format, or `name-2`, `name-3`... the first for which no file is taken."""
    for attempt in range(1, MAX_FRESH_TRIES + 1):
        base = name if attempt == 1 else f"{name}-{attempt}"
        plan = {fmt: folder / f"{base}{FORMATS[fmt]}" for fmt in formats}
        if not any(os.path.lexists(path) for path in plan.values()):
            return plan
    raise MidiWriteError(f"{folder}: {name} and {MAX_FRESH_TRIES} variants are taken; choose another folder")


def write_outputs(scores: Sequence[Score], plans: Sequence[Plan], force: bool = False) -> list[Path]:
    """Write every score in every planned format; all files appear together, or none does.

    Args:
        scores: one per plan.
        plans: from :func:`plan_outputs`.
        force: replace existing regular files (default: refuse them, even one that
            appears while the files are made).

    Returns:
        The paths written, in order.

    Raises:
        MidiganError: the first failure; this call's temp files (and folders it made) are
            removed, and every file that existed before is as it was.
    """
    written: list[Path] = []
    made: list[Path] = []
    try:
        for folder in dict.fromkeys(p.parent for plan in plans for p in plan.values()):
            made += _make_folder(folder)
        with all_or_nothing(replace=force):
            for score, plan in zip(scores, plans, strict=True):
                for fmt, path in plan.items():
                    written.append(write_score(score, path, fmt))
    except BaseException:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: a folder that gained files is kept
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
