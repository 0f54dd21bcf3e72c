"""The velocity model: it learns a known rule, saves and loads, and compose applies it to
velocities only; `flat` is today's template; a bad `--dynamics` is one plain line."""

from __future__ import annotations

import io
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from model_helpers import TINY_VOCAB, tiny_bundle

from midigan.composer import compose
from midigan.corpus.dynamics import LEVEL_VELOCITY, deb_members, level_of, parse_level, split_of
from midigan.errors import CheckpointError, ConfigError
from midigan.model.dynamics import (
    DynamicsConfig,
    DynamicsModel,
    load_dynamics,
    sample_velocities,
    save_dynamics,
)
from midigan.model.dynamics_features import MelodyGrid, strength_of
from midigan.model.threads import torch_threads
from midigan.music.score import Meter
from midigan.train.dynamics import DynamicsTraining, fit_dynamics

ACCENT = {0: 12, 1: 6, 2: 0, 3: -6, 4: -8}
"""The rule's accent by metrical strength (downbeat, strong beat, beat, half beat, finer)."""
CRESCENDO = 16
"""The rule's rise over each 4-bar phrase."""


def rule_melody(rng: np.random.Generator, bars: int = 8) -> MelodyGrid:
    """A random 4/4 melody whose velocities follow the rule: level + accent + phrase crescendo."""
    meter = Meter(0, 4, 4)
    bar = meter.bar_ticks
    onsets, durations, tick = [], [], 0
    while tick < bars * bar:
        length = min(int(rng.choice([6, 12, 12, 24])), bars * bar - tick)
        onsets.append(tick)
        durations.append(length)
        tick += length
    onset = np.asarray(onsets, dtype=np.int64)
    pitch = (64 + np.cumsum(rng.integers(-3, 4, len(onset)))).astype(np.int64)
    base = int(rng.choice([50, 64, 78]))
    index, position = onset // bar, onset % bar
    velocity = [
        base + ACCENT[strength_of(int(p), meter)] + CRESCENDO * ((b % 4) + p / bar) / 4
        for b, p in zip(index, position, strict=True)
    ]
    return MelodyGrid(pitch, onset, np.asarray(durations, dtype=np.int64),
                      np.clip(np.round(velocity), 1, 127).astype(np.int64),
                      tuple(range(0, bars * bar + 1, bar)), (meter,) * bars)  # fmt: skip


def tiny_dynamics(seed: int = 0) -> DynamicsModel:
    torch.manual_seed(seed)
    return DynamicsModel(DynamicsConfig(embed=4, hidden=8)).eval()


def test_a_tiny_model_learns_accents_and_phrase_crescendi() -> None:
    rng = np.random.default_rng(0)
    train = [rule_melody(rng) for _ in range(40)]
    valid = [rule_melody(rng) for _ in range(4)]
    held = [rule_melody(rng) for _ in range(8)]
    with torch_threads(1):  # small LSTMs train fastest on one thread
        model, metrics = fit_dynamics(
            train, valid, DynamicsConfig(embed=8, hidden=24),
            DynamicsTraining(steps=200, batch=16, lr=2e-2, eval_every=50),
        )  # fmt: skip
        levels = [level_of(float(g.velocity.mean())) for g in held]
        made = sample_velocities(model, held, levels, list(range(len(held))))
    made_all, rule_all = np.concatenate(made), np.concatenate([g.velocity for g in held])
    assert np.corrcoef(made_all, rule_all)[0, 1] >= 0.8
    assert metrics["best_nll"] < metrics["log"][0]["train_nll"]
    # the shape, not just the level: the downbeat of a phrase's last bar is louder than of its first
    first = [v[(g.onset % 192) == 0] for g, v in zip(held, made, strict=True)]
    last = [v[(g.onset % 192) == 144] for g, v in zip(held, made, strict=True)]
    assert np.mean(np.concatenate(last)) > np.mean(np.concatenate(first)) + 6


def test_sampling_is_seeded_per_melody() -> None:
    rng = np.random.default_rng(1)
    grids = [rule_melody(rng) for _ in range(3)]
    model = tiny_dynamics()
    alone = sample_velocities(model, grids[1:2], [3], [7])[0]
    together = sample_velocities(model, grids, [3, 3, 3], [5, 7, 9])[1]
    assert np.array_equal(alone, together)
    assert not np.array_equal(alone, sample_velocities(model, grids[1:2], [3], [8])[0])
    assert all(1 <= v <= 127 for v in alone)


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    grids = [rule_melody(rng)]
    model = tiny_dynamics(3)
    folder = save_dynamics(model, tmp_path / "dynamics", {"note": "test"})
    loaded = load_dynamics(folder)
    assert loaded.config == model.config and loaded.meta["note"] == "test"
    assert np.array_equal(
        sample_velocities(model, grids, [2], [4])[0], sample_velocities(loaded, grids, [2], [4])[0]
    )
    assert not list(tmp_path.glob("*.pkl")) and (folder / "dynamics.safetensors").is_file()


def test_load_refuses_what_is_not_a_velocity_model(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no dynamics\.json"):
        load_dynamics(tmp_path)
    folder = save_dynamics(tiny_dynamics(), tmp_path / "d")
    text = (folder / "dynamics.json").read_text().replace('"hidden": 8', '"hidden": 9')
    (folder / "dynamics.json").write_text(text)
    with pytest.raises(CheckpointError, match="shape"):
        load_dynamics(folder)


def bundle_with_dynamics() -> object:
    return replace(tiny_bundle(0), dynamics=tiny_dynamics(1))


def notes_of(piece: object) -> list[tuple[int, int, int]]:
    return [(n.pitch, n.onset, n.duration) for n in piece.score.tracks[0].notes]  # type: ignore[attr-defined]


def test_compose_with_dynamics_changes_only_velocities() -> None:
    bundle = bundle_with_dynamics()
    flat = compose(bars=8, seed=11, model=bundle, dynamics="flat", accompaniment=True)
    learned = compose(bars=8, seed=11, model=bundle, dynamics="f", accompaniment=True)
    assert notes_of(flat) == notes_of(learned)
    assert [n.velocity for n in flat.melody.notes] != [n.velocity for n in learned.melody.notes]
    for a, b in zip(flat.score.tracks[1:], learned.score.tracks[1:], strict=True):  # chords, bass
        assert [(n.pitch, n.onset, n.duration) for n in a.notes] == [
            (n.pitch, n.onset, n.duration) for n in b.notes
        ]
    assert compose(bars=8, seed=11, model=bundle, dynamics="f").to_midi_bytes() == learned.to_midi_bytes()


def test_flat_is_the_template_and_the_default_without_a_velocity_model() -> None:
    bundle = tiny_bundle(0)  # no velocity model
    default = compose(bars=6, seed=5, model=bundle)
    assert compose(bars=6, seed=5, model=bundle, dynamics="flat").to_midi_bytes() == default.to_midi_bytes()
    assert compose(bars=6, seed=5, model=bundle_with_dynamics(), dynamics="flat").to_midi_bytes() == (
        default.to_midi_bytes()
    )
    # the sampled velocities are the vocabulary's bin centres: the template the generator plays
    centres = set(TINY_VOCAB.velocity_centres.tolist())
    assert {n.velocity for n in default.melody.notes} <= centres


def test_a_level_without_a_velocity_model_shifts_the_template() -> None:
    bundle = tiny_bundle(0)
    flat = compose(bars=6, seed=5, model=bundle, dynamics="flat", accompaniment=False)
    soft = compose(bars=6, seed=5, model=bundle, dynamics="pp", accompaniment=False)
    a = np.asarray([n.velocity for n in flat.melody.notes])
    b = np.asarray([n.velocity for n in soft.melody.notes])
    shift = round(LEVEL_VELOCITY[0] - a.mean())  # one amount for every note: the accents stay
    assert shift < -5 and np.array_equal(b, np.clip(a + shift, 1, 127))


def test_chords_and_bass_follow_the_melody_bar_by_bar() -> None:
    piece = compose(bars=8, seed=2, model=bundle_with_dynamics(), dynamics="mf")
    melody, chords = piece.score.tracks[0], piece.score.tracks[1]
    bar = piece.score.meters[0].bar_ticks
    for index in range(8):
        inside = [n.velocity for n in melody.notes if index * bar <= n.onset < (index + 1) * bar]
        hits = [n.velocity for n in chords.notes if n.onset == index * bar]
        if inside and hits:  # the downbeat chord: the bar's level - 22 + 6, clamped to 25..110
            assert hits[0] == max(25, min(110, round(sum(inside) / len(inside)) - 16))


@pytest.mark.parametrize("value", ["loud", "FFF", 3])
def test_a_bad_dynamics_value_is_a_config_error(value: object) -> None:
    with pytest.raises(ConfigError, match="dynamics must be one of flat, pp, p, mp, mf, f, ff"):
        compose(bars=2, seed=1, model=tiny_bundle(0), dynamics=value)  # type: ignore[arg-type]


def test_cli_bad_dynamics_is_one_line(tmp_path: Path) -> None:
    from midigan.cli import main

    result = CliRunner().invoke(main, ["compose", "--dynamics", "loud", "-o", str(tmp_path / "x.mid")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: dynamics must be one of flat, pp, p, mp, mf, f, ff (got 'loud')"
    ]
    assert not (tmp_path / "x.mid").exists()


def test_load_model_attaches_a_dynamics_folder(tmp_path: Path) -> None:
    from midigan.model.checkpoint import checkpoint_files, load_model, write_folder

    bundle = tiny_bundle(0)
    folder = write_folder(tmp_path / "ckpt", checkpoint_files(bundle.generator, bundle.vocab, {}))
    assert load_model(folder).dynamics is None
    save_dynamics(tiny_dynamics(4), folder / "dynamics")
    loaded = load_model(folder)
    assert isinstance(loaded.dynamics, DynamicsModel) and loaded.dynamics.config.hidden == 8


def test_levels_and_splits() -> None:
    assert [level_of(v) for v in (30, 50, 64, 76, 90, 110)] == [0, 1, 2, 3, 4, 5]
    assert [level_of(v) for v in LEVEL_VELOCITY] == [0, 1, 2, 3, 4, 5]
    assert parse_level("mp") == 2
    with pytest.raises(ConfigError):
        parse_level("mezzo")
    splits = [split_of(f"deb-{i}") for i in range(400)]
    assert 0.6 < splits.count("train") / 400 < 0.8 and splits.count("test") > 30
    assert split_of("m21-beethoven-opus132") == split_of("m21-beethoven-opus132")


def test_deb_members_reads_a_debian_package(tmp_path: Path) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as archive:
        for name, body in (("./usr/share/x/song.mid", b"MThd"), ("./usr/share/doc/x/copyright", b"GPL")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))

    def member(name: str, body: bytes) -> bytes:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode()
        return header + body + (b"\n" if len(body) % 2 else b"")

    deb = tmp_path / "x_1.0_all.deb"
    deb.write_bytes(b"!<arch>\n" + member("debian-binary", b"2.0\n") + member("data.tar.xz", data.getvalue()))
    assert deb_members(deb, (".mid",)) == {"./usr/share/x/song.mid": b"MThd"}


@pytest.mark.parametrize("level", ["pp", "mf", "ff"])
def test_the_level_asked_for_holds(level: str) -> None:
    from midigan.corpus.dynamics import LEVELS

    pieces = compose(bars=8, seed=4, n=3, model=bundle_with_dynamics(), dynamics=level, accompaniment=False)
    for piece in pieces:  # an untrained velocity model: only the level hold keeps it in the band
        mean = np.mean([n.velocity for n in piece.melody.notes])
        assert level_of(mean) == LEVELS.index(level)


@pytest.mark.parametrize("command", ["corpus dynamics", "train-dynamics", "evaluate-dynamics"])
def test_the_dynamics_commands_show_examples_that_parse(command: str) -> None:
    import shlex

    from midigan.cli import main

    shown = CliRunner().invoke(main, [*command.split(), "--help"])
    assert shown.exit_code == 0, shown.output
    examples = [line.strip() for line in shown.output.split("Examples:")[1].splitlines() if line.strip()]
    assert examples and all(line.startswith(f"midigan {command} ") for line in examples)
    for line in examples:  # every option an example uses exists (--help stops before running it)
        args = shlex.split(line.split("  #")[0])[1:]
        parsed = CliRunner().invoke(main, [*args, "--help"])
        assert parsed.exit_code == 0, (line, parsed.output)


def test_regenerated_bars_are_played_like_the_rest_of_the_piece() -> None:
    """Learned dynamics in the kept bars -> learned dynamics in the new ones; a template melody
    keeps the template there too. The kept notes never change."""
    from midigan.composer.edit import regenerate

    def melody(piece):
        return [(n.onset, n.pitch, n.velocity) for n in piece.score.tracks[0].notes]

    template = set()
    for dynamics in ("flat", None):
        source = compose(bars=16, key="C", seed=4, dynamics=dynamics, accompaniment=False)
        new = regenerate(source, "9-12", seed=1, candidates=1)
        span = (source.score.bar_starts()[8], source.score.bar_starts()[12])
        outside = [n for n in melody(source) if not span[0] <= n[0] < span[1]]
        assert [n for n in melody(new) if not span[0] <= n[0] < span[1]] == outside
        inside = {v for onset, _, v in melody(new) if span[0] <= onset < span[1]}
        if dynamics == "flat":
            template = {v for _, _, v in outside}
            assert inside <= template  # the template's own values
        else:  # the shipped model carries a velocity model, and the kept bars play it
            assert len({v for _, _, v in outside}) >= 4
            assert not inside <= template


def test_a_piece_that_would_hold_one_velocity_takes_a_draw_that_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first draw is kept when its bar means move by 10; otherwise the first later draw that
    moves, and when none does, the one that moves most."""
    from midigan.composer import dynamics as composer_dynamics
    from midigan.model import dynamics as model_dynamics

    grid = rule_melody(np.random.default_rng(3), bars=8)
    bar = grid.bar_index()
    n = len(grid.pitch)

    def by_draw(ranges: dict[int, float]):
        def fake(model, grids, levels, seeds, temperature=None):
            draw = [
                (seed - 100 - composer_dynamics.SEED_OFFSET) // composer_dynamics.REDRAW_STRIDE
                for seed in seeds
            ]
            return [np.clip(70 + np.round(ranges[k] * bar / 7), 1, 127).astype(np.int64) for k in draw]

        monkeypatch.setattr(model_dynamics, "sample_velocities", fake)
        return composer_dynamics.moving_draw(tiny_dynamics(), grid, 3, 100)

    for ranges, expected in (
        ({0: 14.0}, 14.0),  # the first draw moves: kept (nothing else drawn)
        ({0: 0.0, 1: 4.0, 2: 12.0, 3: 20.0}, 12.0),  # the first later draw that moves
        ({0: 0.0, 1: 6.0, 2: 2.0, 3: 5.0}, 6.0),  # none moves: the widest
    ):
        velocities = by_draw(ranges)
        assert len(velocities) == n
        assert composer_dynamics.bar_mean_range(velocities, bar) == pytest.approx(expected, abs=1.0)


def test_default_compositions_move_over_ten_velocities_bar_to_bar() -> None:
    """The shipped velocity model: every one of 16 default pieces moves its bar-mean velocity by
    10 or more (with the model shipped before, seeds 14, 16 and 25 held one velocity throughout)."""
    from midigan.composer.dynamics import MIN_BAR_RANGE, bar_mean_range

    with torch_threads(1):
        pieces = compose(bars=16, seed=10, n=16, accompaniment=False)
    for piece in pieces:
        grid = MelodyGrid.from_score(piece.score, 0)
        assert bar_mean_range(grid.velocity.astype(float), grid.bar_index()) >= MIN_BAR_RANGE, piece.seed
