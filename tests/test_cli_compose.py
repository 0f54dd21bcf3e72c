"""`midigan compose` end to end through click: files, names, formats, and clean failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_score

import midigan
from midigan.cli import main


def run(*args: str):
    return CliRunner().invoke(main, ["compose", *args])


def assert_clean_failure(result, folder: Path, before: set[str], words: str) -> None:
    """Exit 1, one line naming the problem, no traceback, nothing new in `folder`."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:") and words in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert {p.name for p in folder.rglob("*")} == before


def test_compose_writes_a_daw_ready_file(tmp_path: Path) -> None:
    out = tmp_path / "song.mid"
    result = run("--bars", "8", "--key", "Am", "--chords", "Am F C G", "--seed", "3", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert str(out) in result.output.splitlines()
    assert "8 bars, 4/4, Am" in result.output and "Am | F | C | G" in result.output
    score = midigan.load(out)
    assert [t.name for t in score.tracks] == ["Melody", "Chords", "Bass"]
    assert score.bar_count == 8 and score.last_offset <= 8 * 48
    assert score.key_at(0).name == "Am" and score.meters[0].name == "4/4"
    import mido

    assert mido.MidiFile(out).type == 1


def test_default_name_carries_the_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("--bars", "4", "--seed", "77")
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["midigan-77.mid"]
    assert result.output.splitlines()[0] == "midigan-77.mid"


def test_several_pieces_into_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "jigs"
    args = ["--bars", "4", "--meter", "6/8", "-n", "3", "--seed", "5"]
    result = run(*args, "-o", str(folder), "--format", "mid,png")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"midigan-5-0{i}.{ext}" for i in (1, 2, 3) for ext in ("mid", "png")]
    assert len([line for line in result.output.splitlines() if line.startswith(str(folder))]) == 6
    pieces = [midigan.load(folder / f"midigan-5-0{i}.mid") for i in (1, 2, 3)]
    assert all(p.bar_count == 4 and p.meters[0].name == "6/8" for p in pieces)
    assert len({tuple((n.pitch, n.onset) for n in p.tracks[0].notes) for p in pieces}) == 3


def test_formats_from_one_name(tmp_path: Path) -> None:
    formats = ["--format", "mid", "--format", "musicxml,png"]
    if shutil.which("fluidsynth"):
        formats += ["--format", "wav"]
    result = run("--bars", "4", "--seed", "1", "-o", str(tmp_path / "tune.mid"), *formats)
    assert result.exit_code == 0, result.output
    expected = {"tune.mid", "tune.musicxml", "tune.png"}
    if shutil.which("fluidsynth"):
        expected.add("tune.wav")
    assert {p.name for p in tmp_path.iterdir()} == expected
    assert all((tmp_path / name).stat().st_size > 500 for name in expected)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    for name in ("a.mid", "b.mid"):
        assert run("--bars", "8", "--seed", "99", "-o", str(tmp_path / name)).exit_code == 0
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()


@pytest.mark.parametrize("meter", ["4/4", "3/4", "6/8", "2/4"])
def test_nothing_sounds_past_the_last_barline(tmp_path: Path, meter: str) -> None:
    out = tmp_path / "m.mid"
    assert run("--bars", "6", "--meter", meter, "--seed", "2", "-o", str(out)).exit_code == 0
    score = midigan.load(out)
    numerator, denominator = map(int, meter.split("/"))
    end = 6 * 48 * numerator // denominator
    assert score.bar_count == 6 and score.end == end
    assert max(n.offset for _, n in score.iter_notes()) <= end


def test_no_accompaniment_and_primer(tmp_path: Path) -> None:
    phrase = [(60, 0, 12), (62, 12, 12), (64, 24, 24)]
    primer = make_score(phrase, key=(0, "major")).save(tmp_path / "idea.mid")
    out = tmp_path / "cont.mid"
    result = run("--bars", "4", "--primer", str(primer), "--no-accompaniment", "--seed", "8", "-o", str(out))
    assert result.exit_code == 0, result.output
    score = midigan.load(out)
    assert [t.name for t in score.tracks] == ["Melody"]
    assert [(n.pitch, n.onset, n.duration) for n in score.tracks[0].notes[:3]] == phrase


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--bars", "0"], "bars must be"),
        (["--key", "H#m"], "unknown key 'H#m'"),
        (["--chords", "C Gx Am"], "unknown chord symbol 'Gx'"),
        (["--meter", "7"], "unknown meter"),
        (["--style", "polka"], "unknown style 'polka'"),
        (["--format", "mp3"], "unknown format 'mp3'"),
        (["--temperature", "-1"], "temperature"),
    ],
)
def test_bad_options_fail_in_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    result = run("--bars", "4", *args, "-o", str(tmp_path / "x.mid"))
    assert_clean_failure(result, tmp_path, set(), words)


def test_unreadable_primer(tmp_path: Path) -> None:
    bad = tmp_path / "idea.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    result = run("--bars", "4", "--primer", str(bad), "-o", str(tmp_path / "x.mid"))
    assert_clean_failure(result, tmp_path, {"idea.mid"}, "idea.mid")


def test_missing_primer(tmp_path: Path) -> None:
    result = run("--bars", "4", "--primer", str(tmp_path / "nope.mid"), "-o", str(tmp_path / "x.mid"))
    assert_clean_failure(result, tmp_path, set(), "nope.mid")


@pytest.mark.parametrize("where", ["missing-folder", "under-a-file", "bad-extension"])
def test_unwritable_output_path(tmp_path: Path, where: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    out = {
        "missing-folder": tmp_path / "no" / "such" / "x.mid",
        "under-a-file": tmp_path / "file.txt" / "x.mid",
        "bad-extension": tmp_path / "x.docx",
    }[where]
    result = run("--bars", "4", "-o", str(out))
    assert_clean_failure(
        result, tmp_path, {"file.txt"}, str(out.name if where == "bad-extension" else out.parent)
    )


def test_a_model_that_is_not_ours(tmp_path: Path) -> None:
    fake = tmp_path / "model"
    fake.mkdir()
    (fake / "model.safetensors").write_bytes(b"not safetensors")
    (fake / "config.json").write_text('{"format": "keras"}')
    before = {p.name for p in tmp_path.rglob("*")}
    result = run("--bars", "4", "--model", str(fake), "-o", str(tmp_path / "x.mid"))
    assert_clean_failure(result, tmp_path, before, "not a midigan checkpoint")


def test_a_model_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"\x80\x04pickle")
    result = run("--bars", "4", "--model", str(weights), "-o", str(tmp_path / "x.mid"))
    assert_clean_failure(result, tmp_path, {"model.pt"}, "not a checkpoint")


def test_a_failing_later_format_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from midigan.errors import RenderError
    from midigan.io import png

    def broken(*args: object, **kwargs: object) -> None:
        raise RenderError("matplotlib failed")

    monkeypatch.setattr(png, "write_pianoroll", broken)
    result = run("--bars", "4", "--seed", "1", "-o", str(tmp_path / "t.mid"), "--format", "mid,png")
    assert_clean_failure(result, tmp_path, set(), "matplotlib failed")


# ------------------------------------------------------------------ output planning (no model)
def test_output_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from midigan.composer.outputs import plan_outputs

    monkeypatch.chdir(tmp_path)
    assert plan_outputs(None, [], 1, 7) == [{"mid": Path("midigan-7.mid")}]
    assert plan_outputs("song", [], 1, 7) == [{"mid": Path("song.mid")}]
    assert plan_outputs("a.mid", ["png", "mid"], 1, 7) == [{"png": Path("a.png"), "mid": Path("a.mid")}]
    assert plan_outputs("a.xml", [], 1, 7) == [{"musicxml": Path("a.xml")}]
    assert plan_outputs("new/", [], 1, 7) == [{"mid": Path("new/midigan-7.mid")}]
    many = plan_outputs("set", ["wav"], 12, 7)
    assert [p["wav"] for p in many][:2] == [Path("set/midigan-7-01.wav"), Path("set/midigan-7-02.wav")]
    assert not Path("set").exists() and not Path("new").exists()  # planning creates nothing
