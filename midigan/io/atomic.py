"""Files that appear whole or not at all, and batches of files that appear together or not at all.

Every writer in midigan goes through :func:`write_atomic` (bytes) or :func:`write_atomic_file`
(a tool such as fluidsynth that writes a file itself): the output is made in a temp file beside
its target, then renamed over it, so an interrupted or failing write never leaves a half-written
file, and an earlier file at the same path survives the failure untouched.

A command that writes several files (`compose --format mid,png`, `render`) wraps its writes in
:func:`all_or_nothing`: each writer then only *stages* its temp file, and the renames happen
together at the end, once every output exists. A failure before that removes the staged temps
and nothing else, so what the user already had is never lost.

Targets are checked first (:func:`check_target`): midigan replaces only regular, writable files,
never a folder, symlink, device or pipe. Temp files a killed run left behind are swept by the
next write into their folder (:func:`sweep_stale_temps`).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from midigan.errors import MidiWriteError

STALE_SECONDS = 3600
"""A temp file of ours older than this belongs to a run that died (a live one renames it sooner)."""

_TEMP_SUFFIXES = (".mid", ".midi", ".smf", ".kar", ".musicxml", ".xml", ".wav", ".png")
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")  # tempfile.mkstemp(prefix=".NAME.")
_SWEPT: set[Path] = set()


@dataclass
class _Batch:
    """Temp files staged inside one :func:`all_or_nothing` block, with the target each replaces."""

    replace: bool
    staged: list[tuple[Path, Path]] = field(default_factory=list)


_BATCH: ContextVar[_Batch | None] = ContextVar("midigan_atomic_batch", default=None)


def write_atomic(path: str | Path, make_bytes: Callable[[], bytes]) -> Path:
    """Write the bytes `make_bytes()` returns to `path` through a temp file + rename.

    The target is checked, then the bytes are produced, before anything touches the disk.

    Raises:
        MidiWriteError: the folder is missing or not writable, the disk is full, or the target
            is not a regular writable file (see :func:`check_target`).
    """
    path = Path(path)
    check_target(path, replace=_replacing())
    data = make_bytes()
    return write_atomic_file(path, lambda tmp: _write_bytes(tmp, data))


def write_atomic_file(path: str | Path, fill: Callable[[Path], None]) -> Path:
    """Have `fill(tmp)` write a temp file beside `path`, then rename it to `path` (or stage it).

    Inside :func:`all_or_nothing` the rename waits for the end of the block.

    Raises:
        MidiWriteError: as :func:`write_atomic`; whatever `fill` raises passes through,
            after the temp file is removed.
    """
    path = Path(path)
    batch = _BATCH.get()
    check_target(path, replace=batch is None or batch.replace)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise MidiWriteError(f"{path}: folder {folder} does not exist; create it or choose another path")
    sweep_stale_temps(folder)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
    except OSError as e:
        raise _cannot_write(path, e) from e
    tmp = Path(name)
    try:
        fill(tmp)
        os.chmod(tmp, new_file_mode())  # mkstemp makes 0600; the user expects what open() gives
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _cannot_write(path, e) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if batch is not None:
        batch.staged.append((tmp, path))
        return path
    _commit([(tmp, path)], replace=True)
    return path


@contextlib.contextmanager
def all_or_nothing(replace: bool = True) -> Iterator[None]:
    """Writes inside the block appear together at its end, or not at all.

    Args:
        replace: whether an existing regular file may be replaced; False refuses it, even
            one that appears while the block runs.

    Raises:
        MidiWriteError: a target became unwritable before the renames; every staged temp
            file is removed and no target was touched.
    """
    if _BATCH.get() is not None:  # nested: the outer block commits
        yield
        return
    batch = _Batch(replace)
    token = _BATCH.set(batch)
    try:
        yield
    except BaseException:
        remove_quietly(tmp for tmp, _ in batch.staged)
        raise
    finally:
        _BATCH.reset(token)
    _commit(batch.staged, replace)


def check_target(path: str | Path, *, replace: bool = True) -> None:
    """Refuse a destination midigan must not write: anything but a missing or regular writable file.

    Args:
        path: the file to be written.
        replace: whether an existing regular file may be replaced.

    Raises:
        MidiWriteError: a folder, symlink, device, pipe or socket; a read-only file; an
            existing file when `replace` is False.
    """
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise _cannot_write(path, e) from e
    if stat.S_ISLNK(mode):
        raise MidiWriteError(f"{path}: is a symbolic link; midigan replaces only regular files")
    if stat.S_ISDIR(mode):
        raise MidiWriteError(f"{path}: is a folder, not a file; choose another path")
    if not stat.S_ISREG(mode):
        raise MidiWriteError(f"{path}: is not a regular file (a device, pipe or socket); choose another path")
    if not replace:
        raise MidiWriteError(f"{path}: already exists; add --force to replace it, or choose another path")
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
        raise MidiWriteError(f"{path}: is read-only; make it writable or choose another path")


def sweep_stale_temps(folder: str | Path, older_than_s: float = STALE_SECONDS) -> list[Path]:
    """Remove temp files a killed midigan run left in `folder` (once per folder per process).

    Only names :func:`write_atomic_file` makes (``.NAME.XXXXXXXX.tmp`` where NAME carries a
    music suffix), regular files owned by this user, and older than `older_than_s`, so a
    run still writing there keeps its temp file.

    Returns:
        The files removed.
    """
    folder = Path(folder)
    key = folder.resolve()
    if key in _SWEPT:
        return []
    _SWEPT.add(key)
    removed: list[Path] = []
    cutoff = time.time() - older_than_s
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _TEMP_NAME.match(entry.name)
            if match is None or not match["target"].lower().endswith(_TEMP_SUFFIXES):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and info.st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def new_file_mode() -> int:
    """Permission bits a plain `open(path, "w")` would give a new file: 0o666 less the umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def remove_quietly(paths: Iterable[Path]) -> None:
    """Delete temp files this run staged before a later step failed (best effort)."""
    for path in paths:
        with contextlib.suppress(OSError):
            Path(path).unlink(missing_ok=True)


def _replacing() -> bool:
    batch = _BATCH.get()
    return batch is None or batch.replace


def _write_bytes(tmp: Path, data: bytes) -> None:
    """The one place bytes reach the disk (tests make it fail to simulate a full disk)."""
    with open(tmp, "wb") as handle:
        handle.write(data)


def _commit(staged: list[tuple[Path, Path]], replace: bool) -> None:
    """Rename every staged temp file onto its target, after checking every target once more.

    When `replace` is False a target is linked, not renamed over, so a file that appeared
    meanwhile is refused rather than replaced; the files this commit placed are then removed.
    """
    placed: list[Path] = []
    try:
        for _, target in staged:
            check_target(target, replace=replace)
        for tmp, target in staged:
            _place(tmp, target, replace)
            placed.append(target)
    except (OSError, MidiWriteError) as e:
        remove_quietly(tmp for tmp, _ in staged)
        if not replace:
            remove_quietly(placed)  # new files only: nothing the user had
        if isinstance(e, MidiWriteError):
            raise
        raise _cannot_write(staged[len(placed)][1], e) from e


def _place(tmp: Path, target: Path, replace: bool) -> None:
    if replace:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # fails if target exists: never replaces
    except FileExistsError:
        raise MidiWriteError(
            f"{target}: appeared while midigan was writing; add --force to replace it, or choose another path"
        ) from None
    except OSError:  # a file system without hard links
        if os.path.lexists(target):
            raise
        os.replace(tmp, target)
        return
    with contextlib.suppress(OSError):
        tmp.unlink()


def _cannot_write(path: Path, e: OSError) -> MidiWriteError:
    return MidiWriteError(f"{path}: cannot write there ({e.strerror or e}); choose another path")
