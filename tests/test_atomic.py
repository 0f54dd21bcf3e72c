"""Batches that appear together or not at all, targets midigan refuses, and stale temp files swept."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import full_disk_on_write

from midigan.errors import MidiWriteError, RenderError
from midigan.io import atomic
from midigan.io.atomic import all_or_nothing, check_target, sweep_stale_temps, write_atomic


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_batch_appears_only_at_its_end(tmp_path: Path) -> None:
    with all_or_nothing():
        write_atomic(tmp_path / "a.mid", lambda: b"A")
        write_atomic(tmp_path / "b.png", lambda: b"B")
        assert not (tmp_path / "a.mid").exists()  # staged, not yet placed
    assert (tmp_path / "a.mid").read_bytes() == b"A" and (tmp_path / "b.png").read_bytes() == b"B"
    assert names(tmp_path) == ["a.mid", "b.png"]


def test_a_full_disk_mid_batch_keeps_every_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.mid").write_bytes(b"OLD A")
    (tmp_path / "b.png").write_bytes(b"OLD B")
    full_disk_on_write(monkeypatch, failing_call=2)
    with pytest.raises(MidiWriteError, match="No space left on device"), all_or_nothing():
        write_atomic(tmp_path / "a.mid", lambda: b"NEW A")
        write_atomic(tmp_path / "b.png", lambda: b"NEW B")
    assert (tmp_path / "a.mid").read_bytes() == b"OLD A" and (tmp_path / "b.png").read_bytes() == b"OLD B"
    assert names(tmp_path) == ["a.mid", "b.png"]  # the staged temp files are gone


def test_a_failing_writer_outside_a_batch_leaves_no_temp(tmp_path: Path) -> None:
    def fill(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RenderError("fluidsynth died")

    with pytest.raises(RenderError):
        atomic.write_atomic_file(tmp_path / "x.wav", fill)
    assert names(tmp_path) == []


def test_a_batch_without_replace_refuses_a_file_that_appears_meanwhile(tmp_path: Path) -> None:
    with pytest.raises(MidiWriteError, match="already exists"), all_or_nothing(replace=False):
        write_atomic(tmp_path / "a.mid", lambda: b"A")
        write_atomic(tmp_path / "b.png", lambda: b"B")
        (tmp_path / "b.png").write_bytes(b"someone else's")
    assert names(tmp_path) == ["b.png"]  # nothing of this batch was placed
    assert (tmp_path / "b.png").read_bytes() == b"someone else's"


def test_a_file_appearing_between_check_and_rename_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(MidiWriteError, match="appeared while"), all_or_nothing(replace=False):
        write_atomic(tmp_path / "a.mid", lambda: b"A")
        write_atomic(tmp_path / "b.png", lambda: b"B")
        monkeypatch.setattr(atomic, "check_target", lambda *args, **kwargs: None)  # the race window
        (tmp_path / "b.png").write_bytes(b"someone else's")
    assert names(tmp_path) == ["b.png"]  # a.mid, placed by this batch, was taken back
    assert (tmp_path / "b.png").read_bytes() == b"someone else's"


def test_plain_write_replaces_a_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "a.mid"
    target.write_bytes(b"old")
    write_atomic(target, lambda: b"new")
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize("kind", ["folder", "symlink", "dangling-symlink", "fifo", "read-only"])
def test_what_is_not_a_plain_writable_file_is_never_replaced(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "x.mid"
    aim = tmp_path / "real.mid"
    aim.write_bytes(b"kept")
    if kind == "folder":
        target.mkdir()
    elif kind == "symlink":
        target.symlink_to(aim)
    elif kind == "dangling-symlink":
        target.symlink_to(tmp_path / "nowhere.mid")
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.write_bytes(b"kept")
        target.chmod(0o444)
    words = {
        "folder": "is a folder",
        "symlink": "is a symbolic link",
        "dangling-symlink": "is a symbolic link",
        "fifo": "is not a regular file",
        "read-only": "is read-only",
    }
    with pytest.raises(MidiWriteError, match=words[kind]):
        write_atomic(target, lambda: b"new")
    assert aim.read_bytes() == b"kept"
    assert names(tmp_path) == ["real.mid", "x.mid"]  # no temp file either
    if kind in ("symlink", "dangling-symlink"):
        assert target.is_symlink()


def test_a_device_is_refused() -> None:
    with pytest.raises(MidiWriteError, match="not a regular file"):
        check_target("/dev/null")


def test_an_existing_file_needs_replace(tmp_path: Path) -> None:
    (tmp_path / "a.mid").write_bytes(b"x")
    check_target(tmp_path / "a.mid")
    check_target(tmp_path / "new.mid", replace=False)
    with pytest.raises(MidiWriteError, match="already exists; add --force"):
        check_target(tmp_path / "a.mid", replace=False)


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_stale_temp_files_of_ours_are_swept_and_nothing_else(tmp_path: Path) -> None:
    hour = atomic.STALE_SECONDS
    stale = [".midigan-7.mid.k2x_9abq.tmp", ".song.wav.abcdefgh.tmp", ".b.png.0123abcd.tmp"]
    kept = [
        ".midigan-8.mid.zzzzzzzz.tmp",  # fresh: a run may still be writing it
        ".notes.txt.abcdefgh.tmp",  # not a music file of ours
        ".x.mid.short.tmp",  # not mkstemp's eight characters
        "x.mid.abcdefgh.tmp",  # not hidden
        "song.mid",
    ]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
        if name != kept[0]:
            _age(tmp_path / name, 2 * hour)
    removed = sweep_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted(stale)
    assert names(tmp_path) == sorted(kept)
    assert sweep_stale_temps(tmp_path) == []  # once per folder per process


def test_the_next_write_into_a_folder_sweeps_it(tmp_path: Path) -> None:
    leftover = tmp_path / ".midigan-7.mid.abcdefgh.tmp"
    leftover.write_bytes(b"killed mid-write")
    _age(leftover, 2 * atomic.STALE_SECONDS)
    write_atomic(tmp_path / "new.mid", lambda: b"x")
    assert names(tmp_path) == ["new.mid"]
