"""Atomic writes and format dispatch: nothing lost or half-written on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from midigan.errors import MidiReadError, MidiWriteError
from midigan.io import read_score, write_score
from midigan.io.atomic import write_atomic


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    write_atomic(target, lambda: b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]  # no temp file left


def test_failure_while_producing_bytes_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")

    def explode() -> bytes:
        raise MidiWriteError("boom")

    with pytest.raises(MidiWriteError):
        write_atomic(target, explode)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MidiWriteError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "a.mid", lambda: b"x")


def test_unknown_extension_refused(tmp_path: Path, twinkle) -> None:
    with pytest.raises(MidiWriteError, match="unknown extension"):
        write_score(twinkle, tmp_path / "a.txt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make", ["missing", "folder", "empty"])
def test_load_refuses_what_is_not_a_file_of_music(tmp_path: Path, make: str) -> None:
    path = tmp_path / "x.mid"
    if make == "folder":
        path.mkdir()
    elif make == "empty":
        path.write_bytes(b"")
    with pytest.raises(MidiReadError, match=str(path.name)):
        read_score(path)


def test_compressed_musicxml_is_not_written_as_plain_xml(tmp_path: Path, twinkle) -> None:
    with pytest.raises(MidiWriteError, match=r"\.mxl"):
        write_score(twinkle, tmp_path / "a.mxl")
    assert list(tmp_path.iterdir()) == []


def test_top_level_save_and_load_go_through_the_one_dispatcher(tmp_path: Path, twinkle) -> None:
    import midigan

    assert midigan.save is write_score and midigan.load is read_score
    written = midigan.save(twinkle, tmp_path / "tune")  # no extension: MIDI
    assert written == tmp_path / "tune.mid"
    assert midigan.load(written).tracks[0].notes == twinkle.tracks[0].notes
    assert midigan.save(twinkle, tmp_path / "tune.png").read_bytes()[:4] == b"\x89PNG"
