"""`midigan compose` end to end through click: files, names, formats, and clean failures."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import full_disk_on_write, make_score

import midigan
from midigan.cli import main
from midigan.io import atomic


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
    assert names == [f"midigan-{seed}.{ext}" for seed in (5, 6, 7) for ext in ("mid", "png")]
    assert len([line for line in result.output.splitlines() if line.startswith(str(folder))]) == 6
    pieces = [midigan.load(folder / f"midigan-{seed}.mid") for seed in (5, 6, 7)]
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
    primer = midigan.save(make_score(phrase, key=(0, "major")), tmp_path / "idea.mid")
    out = tmp_path / "cont.mid"
    result = run("--bars", "4", "--primer", str(primer), "--no-accompaniment", "--seed", "8", "-o", str(out))
    assert result.exit_code == 0, result.output
    score = midigan.load(out)
    assert [t.name for t in score.tracks] == ["Melody"]
    assert [(n.pitch, n.onset, n.duration) for n in score.tracks[0].notes[:3]] == phrase


def test_primer_bars_and_a_warning_as_one_plain_line(tmp_path: Path) -> None:
    import mido

    song = mido.MidiFile(ticks_per_beat=480)  # eight bars of quarter notes, all a little late
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4)])
    for index in range(32):
        track.append(mido.Message("note_on", note=60 + index % 8, velocity=80, time=7 if index == 0 else 0))
        track.append(mido.Message("note_off", note=60 + index % 8, velocity=0, time=480))
    song.tracks.append(track)
    song.save(tmp_path / "song.mid")
    out = tmp_path / "cont.mid"
    result = run("--bars", "6", "--primer", str(tmp_path / "song.mid"), "--primer-bars", "-2", "-o", str(out))
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if "moved to the grid" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: ") and "song.mid" in warned[0]
    assert "Warning" not in result.output and ".py:" not in result.output  # no class name, no source line
    notes = midigan.load(out).tracks[0].notes
    assert [n.pitch for n in notes[:8]] == [60, 61, 62, 63, 64, 65, 66, 67]  # the last two bars, first


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
    assert [p["wav"] for p in many][:2] == [Path("set/midigan-7.wav"), Path("set/midigan-8.wav")]  # seeds
    assert not Path("set").exists() and not Path("new").exists()  # planning creates nothing


# ------------------------------------------------------------------ nothing lost, nothing overwritten


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_in_the_way_of_a_later_format_keeps_the_old_file(tmp_path: Path, force: bool) -> None:
    """Issue 12: `printf OLD > s.mid; mkdir s.png; compose --format mid,png -o s.mid` lost s.mid."""
    (tmp_path / "s.mid").write_bytes(b"OLD")
    (tmp_path / "s.png").mkdir()
    extra = ["--force"] if force else []
    result = run("--bars", "4", "--format", "mid,png", "-o", str(tmp_path / "s.mid"), *extra)
    words = "s.png: is a folder" if force else "s.mid: already exists; add --force"
    assert_clean_failure(result, tmp_path, {"s.mid", "s.png"}, words)
    assert (tmp_path / "s.mid").read_bytes() == b"OLD"


def test_a_full_disk_on_the_second_format_keeps_both_old_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.mid").write_bytes(b"OLD MIDI")
    (tmp_path / "s.png").write_bytes(b"OLD PNG")
    full_disk_on_write(monkeypatch, failing_call=2)
    result = run(
        "--bars", "4", "--seed", "1", "--format", "mid,png", "-o", str(tmp_path / "s.mid"), "--force"
    )
    assert_clean_failure(result, tmp_path, {"s.mid", "s.png"}, "No space left on device")
    assert (tmp_path / "s.mid").read_bytes() == b"OLD MIDI"
    assert (tmp_path / "s.png").read_bytes() == b"OLD PNG"


def test_a_full_disk_in_a_batch_removes_the_folder_it_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_disk_on_write(monkeypatch, failing_call=3)
    result = run("--bars", "4", "--seed", "1", "-n", "2", "--format", "mid,png", "-o", str(tmp_path / "new"))
    assert_clean_failure(result, tmp_path, set(), "No space left on device")


def test_default_names_never_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "midigan-7.png").write_bytes(b"mine")  # one format of the name is enough to take it
    (tmp_path / "midigan-7-2.mid").mkdir()  # so is anything at all under the name
    result = run("--bars", "4", "--seed", "7", "--format", "mid,png")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == ["midigan-7-3.mid", "midigan-7-3.png"]
    assert (tmp_path / "midigan-7.png").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "midigan-7-2.mid", "midigan-7-3.mid", "midigan-7-3.png", "midigan-7.png",
    ]  # fmt: skip


def test_default_names_in_a_folder_never_overwrite(tmp_path: Path) -> None:
    (tmp_path / "midigan-5.mid").write_bytes(b"mine")
    result = run("--bars", "4", "--seed", "5", "-n", "2", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["midigan-5-2.mid", "midigan-5.mid", "midigan-6.mid"]
    assert (tmp_path / "midigan-5.mid").read_bytes() == b"mine"


def test_each_piece_of_a_batch_is_the_piece_its_own_seed_makes(tmp_path: Path) -> None:
    """`-n 4 --seed 20` writes midigan-20..23; `--seed 22` alone writes the same bytes as the third."""
    args = ["--bars", "8", "--meter", "3/4", "--style", "irish"]
    assert run(*args, "--seed", "20", "-n", "4", "-o", str(tmp_path / "batch")).exit_code == 0
    assert run(*args, "--seed", "22", "-o", str(tmp_path / "alone.mid")).exit_code == 0
    batch = {p.name: p.read_bytes() for p in (tmp_path / "batch").iterdir()}
    assert sorted(batch) == [f"midigan-{seed}.mid" for seed in (20, 21, 22, 23)]
    assert batch["midigan-22.mid"] == (tmp_path / "alone.mid").read_bytes()
    assert len(set(batch.values())) == 4


def test_a_named_existing_file_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "song.mid"
    out.write_bytes(b"OLD")
    refused = run("--bars", "4", "--seed", "3", "-o", str(out))
    assert_clean_failure(refused, tmp_path, {"song.mid"}, "song.mid: already exists; add --force")
    assert out.read_bytes() == b"OLD"
    forced = run("--bars", "4", "--seed", "3", "-o", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert midigan.load(out).bar_count == 4


def test_dev_null_is_refused_not_turned_into_dev_null_mid() -> None:
    result = CliRunner().invoke(main, ["compose", "--bars", "4", "-o", "/dev/null", "--force"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "error: /dev/null: is not a regular file (a device, pipe or socket); choose another path"
    ]
    assert not os.path.lexists("/dev/null.mid")


@pytest.mark.parametrize("kind", ["symlink", "read-only"])
def test_force_never_replaces_a_link_or_a_read_only_file(tmp_path: Path, kind: str) -> None:
    real = tmp_path / "real.mid"
    real.write_bytes(b"OLD")
    out = tmp_path / "out.mid"
    if kind == "symlink":
        out.symlink_to(real)
    else:
        real.rename(out)
        real = out
        out.chmod(0o444)
    before = {p.name for p in tmp_path.iterdir()}
    result = run("--bars", "4", "-o", str(out), "--force")
    assert_clean_failure(result, tmp_path, before, "symbolic link" if kind == "symlink" else "read-only")
    assert real.read_bytes() == b"OLD"


def test_a_killed_runs_temp_file_is_swept_by_the_next_compose(tmp_path: Path) -> None:
    stale = tmp_path / ".midigan-7.mid.abcdefgh.tmp"  # what `kill -9` during a write leaves
    fresh = tmp_path / ".midigan-8.mid.abcdefgh.tmp"  # maybe another run writing right now
    for path in (stale, fresh):
        path.write_bytes(b"half a file")
    then = time.time() - 2 * atomic.STALE_SECONDS
    os.utime(stale, (then, then))
    result = run("--bars", "4", "--seed", "9", "-o", str(tmp_path / "next.mid"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, "next.mid"]


# ------------------------------------------------------------------ help and make demo
@pytest.mark.parametrize(
    "command",
    ["compose", "render", "train", "evaluate", "corpus", "corpus build", "corpus stats", "corpus resplit"],
)
def test_every_help_shows_examples_that_parse(command: str) -> None:
    import shlex

    shown = CliRunner().invoke(main, [*command.split(), "--help"])
    assert shown.exit_code == 0, shown.output
    examples = [line.strip() for line in shown.output.split("Examples:")[1].splitlines() if line.strip()]
    assert examples and all(line.startswith(f"midigan {command.split()[0]} ") for line in examples)
    for line in examples:  # every option an example uses exists (--help stops before running it)
        args = shlex.split(line.split("  #")[0])[1:]
        parsed = CliRunner().invoke(main, [*args, "--help"])
        assert parsed.exit_code == 0, f"{line}: {parsed.output}"


def test_make_demo_writes_under_an_ignored_folder() -> None:
    import re
    import subprocess

    root = Path(__file__).resolve().parents[1]
    recipe = re.search(r"^demo:.*\n\t(.*)$", (root / "Makefile").read_text(), flags=re.M)
    assert recipe is not None and "midigan compose" in recipe.group(1)
    out = re.search(r"-o (\S+)", recipe.group(1))
    assert out is not None and out.group(1).endswith("/"), recipe.group(1)  # a folder, not the root
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout: cannot ask git what it ignores")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", f"{out.group(1)}midigan-1.mid"], cwd=root, check=False
    )
    assert ignored.returncode == 0  # git ignores the demo's piece
