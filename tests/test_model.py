"""The generator, the discriminator, the condition timeline and the config files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import TINY_VOCAB, tiny_bundle, tiny_model_config

from midigan.errors import ConfigError
from midigan.model.conditioning import ConditionLookup, conditions_timeline, stack_timelines, streams_timeline
from midigan.model.config import DiscriminatorConfig, RunConfig, config_from_dict, load_config
from midigan.model.discriminator import Discriminator
from midigan.model.stepper import FusedStepper
from midigan.representations.conditions import Conditions
from midigan.representations.streams import NoteStreams, condition_track


def random_batch(config, B: int = 3, T: int = 17, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def ids(n: int, low: int = 0) -> torch.Tensor:
        return torch.randint(low, n, (B, T), generator=g)

    conditions = torch.stack(
        [ids(config.n_chord), ids(config.n_position), ids(config.n_bars_remaining, 1), ids(config.n_meter)],
        -1,
    )
    batch = {
        "pitch": ids(config.n_pitch),
        "duration": ids(config.n_duration),
        "velocity": ids(config.n_velocity),
        "conditions": conditions,
        "mask": torch.ones(B, T, dtype=torch.bool),
        "prev": torch.tensor([config.n_pitch, config.n_duration, config.n_velocity]).expand(B, 3),
        "mode": torch.randint(0, 2, (B,), generator=g),
        "style": torch.randint(0, config.n_style, (B,), generator=g),
        "start": torch.zeros(B, dtype=torch.int64),
    }
    if config.lookback:  # random candidates ("none" = n_pitch, n_duration) and repeat states
        L = len(config.lookback)
        cand_pitch = torch.randint(0, config.n_pitch + 1, (B, T, L), generator=g)
        cand_duration = torch.randint(0, config.n_duration, (B, T, L), generator=g)
        cand_duration[cand_pitch == config.n_pitch] = config.n_duration
        batch["lookback"] = torch.stack((cand_pitch, cand_duration), -1)
        batch["repeat"] = torch.randint(0, 3, (B, T, L), generator=g)
    return batch


def randomize_copy_heads(generator, seed: int = 0) -> None:
    """Copy heads start at zero (the plain model); tests give them weight so they count."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (generator.copy_pitch, generator.copy_duration):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))


# ----------------------------------------------------------------- config
def test_presets_load_and_round_trip_through_toml(tmp_path):
    config = load_config("tiny")
    assert config.model.hidden < load_config(None).model.hidden
    path = tmp_path / "resolved.toml"
    path.write_text(config.to_toml(), encoding="utf-8")
    assert load_config(path) == config


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": {"hiden": 3}}, "unknown key"),
        ({"optimiser": {}}, "unknown config section"),
        ({"model": {"hidden": "big"}}, "must be int"),
        ({"model": {"layers": True}}, "must be int"),
        ({"gan": {"label_smoothing": 0.7}}, "out of range"),
    ],
)
def test_bad_config_is_refused_with_the_key_named(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_lookback_lags_are_a_list_of_distinct_positive_bars():
    assert config_from_dict({"model": {"lookback": [1, 3]}}).model.lookback == (1, 3)
    assert config_from_dict({"model": {"lookback": []}}).model.lookback == ()
    with pytest.raises(ConfigError, match="must be a list of integers"):
        config_from_dict({"model": {"lookback": 4}})
    for bad in ([0, 1], [2, 2]):
        with pytest.raises(ConfigError, match=r"model\.lookback"):
            config_from_dict({"model": {"lookback": bad}})


def test_ints_are_accepted_for_floats_and_unknown_preset_is_named():
    assert config_from_dict({"mle": {"lr": 1}}).mle.lr == 1.0
    with pytest.raises(ConfigError, match=r"presets: .*tiny"):
        load_config("no-such-preset")
    assert RunConfig() == load_config(None), "dataclass defaults are the shipped preset"


# ----------------------------------------------------------------- generator
def test_forward_shapes():
    bundle = tiny_bundle()
    cfg = bundle.config
    logits = bundle.generator(random_batch(cfg, B=2, T=5))
    assert [tuple(x.shape) for x in logits] == [
        (2, 5, cfg.n_pitch),
        (2, 5, cfg.n_duration),
        (2, 5, cfg.n_velocity),
    ]
    assert cfg.n_pitch == TINY_VOCAB.n_pitch and cfg.n_duration == TINY_VOCAB.n_duration


@pytest.mark.parametrize(("layers", "lookback"), [(1, ()), (2, ()), (1, (1, 2)), (2, (1, 2, 4, 8))])
def test_step_and_fused_step_match_teacher_forcing(layers, lookback):
    """The cached step-by-step passes compute the teacher-forced logits (x-transformers' test)."""
    bundle = tiny_bundle(layers=layers, lookback=lookback)
    g, cfg = bundle.generator, bundle.config
    if lookback:
        randomize_copy_heads(g)
    batch = random_batch(cfg)
    z = torch.randn(3, cfg.z_dim)
    with torch.no_grad():
        expected = g(batch, z)
        state = g.initial_state(3)
        fused = FusedStepper(g, temperature=1.0)
        fused_state = fused.initial_state(3)
        bias = fused.piece_bias(batch["mode"], batch["style"], z)
        piece = g.piece_embedding(batch["mode"], batch["style"], z)
        prev = batch["prev"]
        stepped, fast = [], []
        for t in range(batch["pitch"].shape[1]):
            cand = batch["lookback"][:, t] if lookback else None
            looked = (
                g.lookback_ids(batch["lookback"][:, t : t + 1], batch["repeat"][:, t : t + 1])
                if lookback
                else None
            )
            x = g.inputs(
                tuple(prev[:, i : i + 1] for i in range(3)),
                batch["conditions"][:, t : t + 1],
                piece,
                lookback=looked,
            )
            hidden, state = g.step(x[:, 0], state)
            stepped.append(g.heads(hidden, batch["pitch"][:, t], cand))
            ids = torch.cat((prev + fused.offsets[:3], batch["conditions"][:, t] + fused.offsets[3:7]), 1)
            if lookback:
                ids = torch.cat((ids, fused.lookback_ids(cand, batch["repeat"][:, t])), 1)
            top, fused_state = fused.hidden(ids, bias, fused_state)
            dv = fused.dv_logits(top, batch["pitch"][:, t], cand)
            fast.append(
                (
                    fused.pitch_logits(top, fused.pitch_b.expand(3, -1), cand),
                    dv[:, : cfg.n_duration],
                    dv[:, cfg.n_duration :],
                )
            )
            prev = torch.stack([batch[k][:, t] for k in ("pitch", "duration", "velocity")], 1)
    for i in range(3):
        torch.testing.assert_close(torch.stack([s[i] for s in stepped], 1), expected[i], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(torch.stack([f[i] for f in fast], 1), expected[i], atol=1e-5, rtol=1e-4)


def test_temperature_scales_fused_logits():
    bundle = tiny_bundle()
    warm, cold = FusedStepper(bundle.generator, 1.0), FusedStepper(bundle.generator, 0.5)
    torch.testing.assert_close(cold.pitch_wT, 2 * warm.pitch_wT)


def test_z_changes_the_output():
    bundle = tiny_bundle()
    batch = random_batch(bundle.config, B=1)
    with torch.no_grad():
        a = bundle.generator(batch, torch.zeros(1, 4))[0]
        b = bundle.generator(batch, torch.ones(1, 4))[0]
    assert not torch.allclose(a, b)


def test_unroll_masks_the_final_barline_and_follows_its_clock():
    bundle = tiny_bundle()
    g = bundle.generator.train()
    batch = random_batch(bundle.config, B=4, T=6)
    timeline = stack_timelines([conditions_timeline(Conditions(2, (3, 4)))] * 4)  # 72 ticks
    none_pitch, none_duration = g.none_ids
    batch["history_pitch"] = torch.full((4, 72), none_pitch)
    batch["history_duration"] = torch.full((4, 72), none_duration)
    torch.manual_seed(1)
    out = g.unroll(
        batch | {"mask": torch.ones(4, 6, dtype=torch.bool)}, timeline, prefix=0, steps=80, tau=1.0
    )
    ticks = torch.tensor(TINY_VOCAB.durations, dtype=torch.float32)
    lengths = (out["duration"] @ ticks) * out["mask"]
    assert torch.all(lengths.sum(1) == 72), "every piece fills exactly two 3/4 bars"
    assert not out["mask"][:, -1].any(), "pieces that reached the end emit padding"
    onsets = torch.cumsum(lengths, 1) - lengths
    first = out["conditions"][0, : int(out["mask"][0].sum())]
    assert torch.equal(first[:, 1], (onsets[0, : len(first)] % 36).long()), (
        "positions follow the emitted durations"
    )
    hard = out["pitch"].detach()
    assert torch.all(hard.sum(-1) == 1) and torch.all((hard == 0) | (hard == 1)), (
        "straight-through is one-hot"
    )
    out["pitch"].sum().backward()
    assert g.pitch_head.weight.grad is not None and g.pitch_head.weight.grad.abs().sum() > 0


# ----------------------------------------------------------------- timeline
@pytest.mark.parametrize(
    ("meter", "key", "chords"),
    [
        ((4, 4), (0, "major"), "C F | G C"),
        ((3, 4), (2, "major"), "D G A"),
        ((6, 8), (9, "minor"), "Am | E7 Am"),
        ((5, 4), (7, "major"), None),
        ((2, 2), (5, "minor"), "Fm Bbm C7 Fm"),
    ],
)
def test_torch_timeline_matches_condition_track(meter, key, chords):
    conditions = Conditions.from_text(7, meter, key, chords)
    durations = np.random.default_rng(0).choice([3, 6, 12, 18], size=200)
    onsets = np.cumsum(durations) - durations
    onsets = onsets[onsets < conditions.total_ticks()]
    expected = condition_track(durations[: len(onsets)], conditions)
    timeline = stack_timelines([conditions_timeline(conditions)])
    got = timeline.at(torch.from_numpy(onsets)[None])[0].numpy()
    assert np.array_equal(got[:, 0], expected["chord"])
    assert np.array_equal(got[:, 1], np.minimum(expected["position"], 95))
    assert np.array_equal(got[:, 2], np.clip(expected["bars_remaining"], 1, 32))
    assert np.array_equal(got[:, 3], expected["meter"])
    assert int(timeline.end[0]) == conditions.total_ticks()


def test_timeline_of_real_piece_with_meter_change_matches_its_streams():
    from conftest import make_score

    from midigan.music.score import Meter

    score = make_score([(60 + i % 5, 12 * i, 12) for i in range(20)], chords=[(0, 0, "maj"), (48, 7, "7")])
    score.meters = [Meter(0, 4, 4), Meter(96, 3, 4)]
    score.keys[0] = type(score.keys[0])(0, 2, "major")
    streams = NoteStreams.from_score(score)
    timeline = stack_timelines([streams_timeline(streams)])
    got = timeline.at(torch.from_numpy(streams.onset.astype(np.int64))[None])[0].numpy()
    assert np.array_equal(got[:, 0], streams.chord)
    assert np.array_equal(got[:, 1], streams.position)
    assert np.array_equal(got[:, 3], streams.meter)
    assert len(set(streams.meter.tolist())) == 2


def test_condition_lookup_table_equals_search():
    timeline = stack_timelines(
        [conditions_timeline(Conditions.from_text(b, "6/8", "G", "G D")) for b in (3, 9)]
    )
    ticks = torch.tensor([[0, 0], [5, 100], [35, 323], [36, 400]])
    table = ConditionLookup(timeline)
    search = ConditionLookup(timeline, limit=0)
    assert table.table is not None and search.table is None
    for row in ticks:
        assert torch.equal(table(row), search(row))


# ----------------------------------------------------------------- discriminator
def test_discriminator_features_ignore_what_padding_holds():
    cfg = tiny_model_config()
    torch.manual_seed(0)
    critic = Discriminator(DiscriminatorConfig(embed=8, hidden=8, dropout=0.0), cfg).eval()
    batch = random_batch(cfg, B=2, T=6)
    streams = tuple(
        torch.nn.functional.one_hot(batch[k], n).float()
        for k, n in (("pitch", cfg.n_pitch), ("duration", cfg.n_duration), ("velocity", cfg.n_velocity))
    )
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1] * 6], dtype=torch.bool)
    cand = batch["lookback"]
    logit, features = critic(streams, batch["conditions"], batch["mode"], batch["style"], mask, 0.0, cand)
    assert logit.shape == (2,) and features.shape == (2, 16)
    changed = [s.clone() for s in streams]
    changed[0][0, 4:] = changed[0][0, 4:].flip(-1)  # other pitches in the padding of piece 0
    conditions = batch["conditions"].clone()
    conditions[0, 4:] = 0
    _, features2 = critic(tuple(changed), conditions, batch["mode"], batch["style"], mask, 0.0, cand)
    torch.testing.assert_close(features2, features)
    changed[0][0, 0] = changed[0][0, 0].flip(-1)  # a real event changed: the features move
    _, features3 = critic(tuple(changed), conditions, batch["mode"], batch["style"], mask, 0.0, cand)
    assert not torch.allclose(features3[0], features[0])


def test_critic_sees_which_events_repeat_their_lookback_candidates():
    """Same notes, same conditions: only whether they repeat a candidate differs, and the critic
    tells (with a gradient to the soft one-hots, so the generator learns from it)."""
    cfg = tiny_model_config(lookback=(1, 2))
    torch.manual_seed(0)
    critic = Discriminator(DiscriminatorConfig(embed=8, hidden=8, dropout=0.0), cfg).eval()
    batch = random_batch(cfg, B=1, T=4)
    pitch = torch.nn.functional.one_hot(batch["pitch"], cfg.n_pitch).float().requires_grad_()
    duration = torch.nn.functional.one_hot(batch["duration"], cfg.n_duration).float()
    velocity = torch.nn.functional.one_hot(batch["velocity"], cfg.n_velocity).float()
    none = torch.tensor([cfg.n_pitch, cfg.n_duration])
    repeats = torch.stack((batch["pitch"], batch["duration"]), -1)[:, :, None, :]  # (1, 4, 1, 2)
    cand_repeat = torch.cat((repeats, none.expand(1, 4, 1, 2)), 2)  # lag 1 repeats, lag 2 has none
    cand_other = cand_repeat.clone()
    cand_other[..., 0, 0] = (batch["pitch"] + 1) % cfg.n_pitch  # lag 1 offers another pitch
    flags = critic._repeats(pitch, duration, cand_repeat)
    assert flags[0].tolist() == [[1.0, 0.0, 1.0, 0.0]] * 4, "per lag: has a candidate, repeats it"
    assert critic._repeats(pitch, duration, cand_other)[0, :, 2].tolist() == [0.0] * 4
    mask = torch.ones(1, 4, dtype=torch.bool)
    args = (batch["conditions"], batch["mode"], batch["style"], mask, 0.0)
    _, same = critic((pitch, duration, velocity), *args, cand_repeat)
    _, other = critic((pitch, duration, velocity), *args, cand_other)
    assert not torch.allclose(same, other)
    same.sum().backward()
    at_candidate = pitch.grad[0, torch.arange(4), batch["pitch"][0]]
    assert at_candidate.abs().sum() > 0
