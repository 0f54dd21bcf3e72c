"""The generator, the discriminator and the condition timeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import TINY_VOCAB, random_batch, tiny_bundle, tiny_model_config

from midigan.composer.request import conditions_from_text
from midigan.model.conditioning import ConditionLookup, Timeline
from midigan.model.config import DiscriminatorConfig
from midigan.model.discriminator import Discriminator
from midigan.model.lookback import piece_lookback
from midigan.model.sampler import build_request, generate_ids
from midigan.model.stepper import FusedStepper
from midigan.model.unroll import unroll
from midigan.representations.conditions import Conditions
from midigan.representations.streams import NoteStreams, PieceTimeline, condition_track
from midigan.train.batch import Batch


def randomize_copy_heads(generator, seed: int = 0) -> None:
    """Copy heads start at zero (the plain model); tests give them weight so they count."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (generator.copy_pitch, generator.copy_duration):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))


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


@pytest.mark.parametrize(
    ("layers", "lookback", "form"),
    [(1, (), 0), (2, (), 0), (1, (1, 2), 0), (2, (1, 2, 4, 8), 0), (1, (), 32), (2, (1, 2, 4, 8), 32)],
)
def test_step_and_fused_step_match_teacher_forcing(layers, lookback, form):
    """The cached step-by-step passes compute the teacher-forced logits (x-transformers' test),
    with and without the form table (the bar index: a fifth condition column)."""
    bundle = tiny_bundle(layers=layers, lookback=lookback, n_bar_index=form)
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
        bias = fused.piece_bias(batch.mode, batch.style, z)
        piece = g.piece_embedding(batch.mode, batch.style, z)
        prev = batch.prev
        stepped, fast = [], []
        for t in range(batch.pitch.shape[1]):
            cand = batch.candidates[:, t] if lookback else None
            looked = (
                g.lookback_ids(batch.candidates[:, t : t + 1], batch.repeat_states[:, t : t + 1])
                if lookback
                else None
            )
            x = g.inputs(
                tuple(prev[:, i : i + 1] for i in range(3)),
                batch.conditions[:, t : t + 1],
                piece,
                lookback=looked,
            )
            hidden, state = g.step(x[:, 0], state)
            stepped.append(g.heads(hidden, batch.pitch[:, t], cand))
            width = fused.condition_offsets.shape[0]
            assert width == (5 if form else 4)
            ids = torch.cat(
                (prev + fused.offsets[:3], batch.conditions[:, t, :width] + fused.condition_offsets), 1
            )
            if lookback:
                ids = torch.cat((ids, fused.lookback_ids(cand, batch.repeat_states[:, t])), 1)
            top, fused_state = fused.hidden(ids, bias, fused_state)
            both = fused.duration_velocity_logits(top, batch.pitch[:, t], cand)
            fast.append(
                (
                    fused.pitch_logits(top, fused.pitch_b.expand(3, -1), cand),
                    both[:, : cfg.n_duration],
                    both[:, cfg.n_duration :],
                )
            )
            prev = torch.stack([batch.pitch[:, t], batch.duration[:, t], batch.velocity[:, t]], 1)
    for i in range(3):
        torch.testing.assert_close(torch.stack([s[i] for s in stepped], 1), expected[i], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(torch.stack([f[i] for f in fast], 1), expected[i], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("lookback", "form"), [((), 0), ((1, 2), 0), ((), 32), ((1, 2), 32)])
def test_greedy_free_run_is_what_teacher_forcing_would_choose(lookback, form):
    """The free-running loop with the fused step, against the teacher-forced pass of its own output:
    the clock, the conditions at each onset (the bar index too, for a model with the form table),
    the end-of-piece mask and the lookback history of the loop are those the training data gives
    the same events."""
    bundle = tiny_bundle(seed=4, lookback=lookback, n_bar_index=form)
    g, cfg = bundle.generator, bundle.config
    if lookback:
        randomize_copy_heads(g, seed=2)
    if form:  # a form table with weight, so a wrong bar index would change the choices
        with torch.no_grad():
            g.bar_in.weight.mul_(4.0)
    requests = [conditions_from_text(6, meter="3/4", key="D", chords="D G | A"), Conditions(2)]
    request = build_request(g, TINY_VOCAB, requests)
    pieces = generate_ids(g, request, temperature=0)
    ticks = np.asarray(TINY_VOCAB.durations)
    for b, ids in enumerate(pieces):
        timeline = PieceTimeline.of(requests[b])
        onset = np.concatenate(([0], np.cumsum(ticks[ids[:, 1]])[:-1]))
        assert onset[-1] + ticks[ids[-1, 1]] == timeline.bar_starts[-1], "the piece ends on its barline"
        events = torch.from_numpy(ids)[None]  # (1, N, 3)
        batch = Batch(
            pitch=events[..., 0],
            duration=events[..., 1],
            velocity=events[..., 2],
            conditions=Timeline.stack([timeline]).at(torch.from_numpy(onset)[None]),
            mask=torch.ones(events.shape[:2], dtype=torch.bool),
            prev=torch.tensor([g.bos]),
            mode=request.mode[b : b + 1],
            style=request.style[b : b + 1],
            start=torch.zeros(1, dtype=torch.int64),
        )
        if lookback:
            candidates, states = piece_lookback(
                onset, ids[:, 0], ids[:, 1], timeline.bar_starts, lookback, g.none_ids
            )
            batch.candidates = torch.from_numpy(candidates)[None]
            batch.repeat_states = torch.from_numpy(np.concatenate((np.zeros_like(states[:1]), states[:-1])))[
                None
            ]
        with torch.no_grad():
            pitch, duration, velocity = (x[0] for x in g(batch, torch.zeros(1, cfg.z_dim)))
        room = torch.from_numpy(timeline.bar_starts[-1] - onset)[:, None]
        duration = duration.masked_fill(torch.from_numpy(ticks)[None, :] > room, float("-inf"))
        chosen = torch.stack((pitch.argmax(-1), duration.argmax(-1), velocity.argmax(-1)), 1)
        assert chosen.tolist() == ids.tolist()


def test_temperature_scales_fused_logits():
    bundle = tiny_bundle()
    warm, cold = FusedStepper(bundle.generator, 1.0), FusedStepper(bundle.generator, 0.5)
    torch.testing.assert_close(cold.pitch_wT, 2 * warm.pitch_wT)


def test_head_temperatures_scale_only_their_own_head():
    """Shares of 1 are the one temperature bit for bit; a pitch share of 2 halves only the pitch
    head, a duration share only the duration columns (not velocity's), a copy share only the
    copy weights."""
    from midigan.model.stepper import HeadTemperatures

    g = tiny_bundle(lookback=(1, 2)).generator
    n_d = g.config.n_duration
    plain, ones = FusedStepper(g, 0.8), FusedStepper(g, 0.8, HeadTemperatures())
    names = ("pitch_wT", "duration_velocity_wT", "pitch_duration_velocity", "copy_pitch_wT", "pitch_copy")
    for name in names:
        assert torch.equal(getattr(plain, name), getattr(ones, name)), name
    bold = FusedStepper(g, 0.8, HeadTemperatures(pitch=2.0, duration=4.0, copy=0.5))
    torch.testing.assert_close(bold.pitch_wT, plain.pitch_wT / 2)
    torch.testing.assert_close(bold.duration_velocity_wT[:, :n_d], plain.duration_velocity_wT[:, :n_d] / 4)
    torch.testing.assert_close(bold.duration_velocity_wT[:, n_d:], plain.duration_velocity_wT[:, n_d:])
    torch.testing.assert_close(bold.copy_pitch_wT, plain.copy_pitch_wT * 2)
    torch.testing.assert_close(bold.pitch_copy, plain.pitch_copy * 2)
    greedy = FusedStepper(g, 0.0, HeadTemperatures(pitch=2.0, duration=4.0, copy=0.5))
    assert torch.equal(greedy.pitch_wT, FusedStepper(g, 0.0).pitch_wT)  # greedy: argmax, nothing scaled


def test_bundle_reads_head_temperatures_from_its_config():
    from midigan.model.stepper import HeadTemperatures

    bundle = tiny_bundle()
    assert bundle.head_temperatures == HeadTemperatures()  # a config without shares: one temperature
    bundle.meta = {"run": {"sampling": {"temperature": 0.85, "pitch": 1.2, "duration": 1.1, "copy": 0.9}}}
    assert bundle.head_temperatures == HeadTemperatures(pitch=1.2, duration=1.1, copy=0.9)
    bolder = FusedStepper(bundle.generator, 0.85 * 1.2)
    torch.testing.assert_close(bundle.stepper(0.85).pitch_wT, bolder.pitch_wT)
    bundle.meta = {"run": {"sampling": {"pitch": -1, "duration": "x"}}}  # malformed: ignored
    assert bundle.head_temperatures == HeadTemperatures()


def test_a_head_temperature_share_out_of_range_is_a_config_error(tmp_path):
    from midigan.errors import ConfigError
    from midigan.train.config import load_config

    path = tmp_path / "bad.toml"
    path.write_text("[sampling]\npitch = 0\n")
    with pytest.raises(ConfigError, match=r"sampling\.pitch"):
        load_config(path)


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
    timeline = Timeline.stack([PieceTimeline.of(Conditions(2, (3, 4)))] * 4)  # 72 ticks
    none_pitch, none_duration = g.none_ids
    batch.history_pitch = torch.full((4, 72), none_pitch)
    batch.history_duration = torch.full((4, 72), none_duration)
    torch.manual_seed(1)
    out = unroll(g, batch, timeline, prefix=0, steps=80, tau=1.0)
    pitch, duration, _ = out.streams
    ticks = torch.tensor(TINY_VOCAB.durations, dtype=torch.float32)
    lengths = (duration @ ticks) * out.mask
    assert torch.all(lengths.sum(1) == 72), "every piece fills exactly two 3/4 bars"
    assert not out.mask[:, -1].any(), "pieces that reached the end emit padding"
    onsets = torch.cumsum(lengths, 1) - lengths
    first = out.conditions[0, : int(out.mask[0].sum())]
    assert torch.equal(first[:, 1], (onsets[0, : len(first)] % 36).long()), (
        "positions follow the emitted durations"
    )
    hard = pitch.detach()
    assert torch.all(hard.sum(-1) == 1) and torch.all((hard == 0) | (hard == 1)), (
        "straight-through is one-hot"
    )
    pitch.sum().backward()
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
    conditions = conditions_from_text(7, meter=meter, key=key, chords=chords)
    durations = np.random.default_rng(0).choice([3, 6, 12, 18], size=200)
    onsets = np.cumsum(durations) - durations
    onsets = onsets[onsets < conditions.total_ticks()]
    expected = condition_track(durations[: len(onsets)], conditions)
    timeline = Timeline.stack([PieceTimeline.of(conditions)])
    got = timeline.at(torch.from_numpy(onsets)[None])[0].numpy()
    assert np.array_equal(got[:, 0], expected["chord"])
    assert np.array_equal(got[:, 1], np.minimum(expected["position"], 95))
    assert np.array_equal(got[:, 2], np.clip(expected["bars_remaining"], 1, 32))
    assert np.array_equal(got[:, 3], expected["meter"])
    assert np.array_equal(got[:, 4], np.minimum(expected["bar_index"], 31))
    assert int(timeline.end[0]) == conditions.total_ticks()


def test_timeline_of_real_piece_with_meter_change_matches_its_streams():
    from conftest import make_score

    from midigan.music.score import Meter

    score = make_score([(60 + i % 5, 12 * i, 12) for i in range(20)], chords=[(0, 0, "maj"), (48, 7, "7")])
    score.meters = [Meter(0, 4, 4), Meter(96, 3, 4)]
    score.keys[0] = type(score.keys[0])(0, 2, "major")
    streams = NoteStreams.from_score(score)
    timeline = Timeline.stack([PieceTimeline.of(streams)])
    got = timeline.at(torch.from_numpy(streams.onset.astype(np.int64))[None])[0].numpy()
    assert np.array_equal(got[:, 0], streams.chord)
    assert np.array_equal(got[:, 1], streams.position)
    assert np.array_equal(got[:, 3], streams.meter)
    assert np.array_equal(got[:, 4], streams.bar_index)
    assert len(set(streams.meter.tolist())) == 2


def test_condition_lookup_table_equals_search():
    timeline = Timeline.stack(
        [PieceTimeline.of(conditions_from_text(b, meter="6/8", key="G", chords="G D")) for b in (3, 9)]
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
        torch.nn.functional.one_hot(ids, n).float()
        for ids, n in (
            (batch.pitch, cfg.n_pitch),
            (batch.duration, cfg.n_duration),
            (batch.velocity, cfg.n_velocity),
        )
    )
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1] * 6], dtype=torch.bool)
    cand = batch.candidates
    logit, features = critic(streams, batch.conditions, batch.mode, batch.style, mask, 0.0, cand)
    assert logit.shape == (2,) and features.shape == (2, 16)
    changed = [s.clone() for s in streams]
    changed[0][0, 4:] = changed[0][0, 4:].flip(-1)  # other pitches in the padding of piece 0
    conditions = batch.conditions.clone()
    conditions[0, 4:] = 0
    _, features2 = critic(tuple(changed), conditions, batch.mode, batch.style, mask, 0.0, cand)
    torch.testing.assert_close(features2, features)
    changed[0][0, 0] = changed[0][0, 0].flip(-1)  # a real event changed: the features move
    _, features3 = critic(tuple(changed), conditions, batch.mode, batch.style, mask, 0.0, cand)
    assert not torch.allclose(features3[0], features[0])


def test_critic_sees_which_events_repeat_their_lookback_candidates():
    """Same notes, same conditions: only whether they repeat a candidate differs, and the critic
    tells (with a gradient to the soft one-hots, so the generator learns from it)."""
    cfg = tiny_model_config(lookback=(1, 2))
    torch.manual_seed(0)
    critic = Discriminator(DiscriminatorConfig(embed=8, hidden=8, dropout=0.0), cfg).eval()
    batch = random_batch(cfg, B=1, T=4)
    pitch = torch.nn.functional.one_hot(batch.pitch, cfg.n_pitch).float().requires_grad_()
    duration = torch.nn.functional.one_hot(batch.duration, cfg.n_duration).float()
    velocity = torch.nn.functional.one_hot(batch.velocity, cfg.n_velocity).float()
    none = torch.tensor([cfg.n_pitch, cfg.n_duration])
    repeats = torch.stack((batch.pitch, batch.duration), -1)[:, :, None, :]  # (1, 4, 1, 2)
    cand_repeat = torch.cat((repeats, none.expand(1, 4, 1, 2)), 2)  # lag 1 repeats, lag 2 has none
    cand_other = cand_repeat.clone()
    cand_other[..., 0, 0] = (batch.pitch + 1) % cfg.n_pitch  # lag 1 offers another pitch
    flags = critic._repeats(pitch, duration, cand_repeat)
    assert flags[0].tolist() == [[1.0, 0.0, 1.0, 0.0]] * 4, "per lag: has a candidate, repeats it"
    assert critic._repeats(pitch, duration, cand_other)[0, :, 2].tolist() == [0.0] * 4
    mask = torch.ones(1, 4, dtype=torch.bool)
    args = (batch.conditions, batch.mode, batch.style, mask, 0.0)
    _, same = critic((pitch, duration, velocity), *args, cand_repeat)
    _, other = critic((pitch, duration, velocity), *args, cand_other)
    assert not torch.allclose(same, other)
    same.sum().backward()
    at_candidate = pitch.grad[0, torch.arange(4), batch.pitch[0]]
    assert at_candidate.abs().sum() > 0
