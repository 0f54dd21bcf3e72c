"""`midigan vary` and `midigan interpolate`: files out, one plain line for bad input, nothing half-written."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import midigan
from midigan.cli import main

BAR = 48


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    path = tmp_path_factory.mktemp("song") / "song.mid"
    return midigan.compose(bars=12, seed=8).save(path)


def _kept(score, start, end):
    return [
        sorted((n.pitch, n.onset, n.duration) for n in t.notes if not start <= n.onset < end)
        for t in score.tracks
    ]


def test_vary_bars_writes_the_takes(song, tmp_path):
    result = CliRunner().invoke(
        main, ["vary", str(song), "--bars", "5-8", "-n", "2", "-o", f"{tmp_path}/takes/"]
    )
    assert result.exit_code == 0, result.output
    paths = sorted((tmp_path / "takes").glob("*.mid"))
    assert len(paths) == 2
    before = midigan.load(song)
    for path in paths:
        after = midigan.load(path)
        assert _kept(after, 4 * BAR, 8 * BAR) == _kept(before, 4 * BAR, 8 * BAR)
        assert after.end == before.end


def test_vary_amount_writes_one_file(song, tmp_path):
    out = tmp_path / "var.mid"
    result = CliRunner().invoke(main, ["vary", str(song), "--amount", "0.4", "--seed", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [n.onset for n in midigan.load(out).tracks[0].notes] == [
        n.onset for n in midigan.load(song).tracks[0].notes
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bars", "11-14"], "error: bars 11-14: the piece has 12 bar(s)"),
        (["--amount", "3"], "error: amount must be a number from 0 to 1"),
        (["--bars", "x"], "error: bars must be a span"),
    ],
)
def test_bad_input_is_one_line_and_no_file(song, tmp_path, args, message):
    out = tmp_path / "out.mid"
    result = CliRunner().invoke(main, ["vary", str(song), *args, "-o", str(out)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith(message)
    assert not out.exists()


def test_bars_and_amount_together_is_a_usage_error(song):
    result = CliRunner().invoke(main, ["vary", str(song), "--bars", "1-2", "--amount", "0.5"])
    assert result.exit_code == 2 and "choose one" in result.output


def test_interpolate_writes_the_steps_in_order(tmp_path):
    result = CliRunner().invoke(main, ["interpolate", "--seeds", "1", "2", "--steps", "3", "--bars", "4",
                                       "-o", f"{tmp_path}/walk/"])  # fmt: skip
    assert result.exit_code == 0, result.output
    names = [p.name for p in sorted((tmp_path / "walk").glob("*.mid"))]
    assert names == [f"midigan-interpolate-1-0{i}.mid" for i in (1, 2, 3)]
