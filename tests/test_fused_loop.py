"""The scripted sampling loop writes exactly what the step-by-step loop writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import tiny_bundle

from midigan.composer.request import conditions_from_text
from midigan.model import fused_loop, sampler
from midigan.model.sampler import sample
from midigan.representations.conditions import Conditions
from midigan.representations.streams import NoteStreams


def _bundle(**overrides: object):
    bundle = tiny_bundle(seed=7, **overrides)
    if bundle.generator.lookback_in is not None:  # copy heads start at zero: give them a say
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for layer in (bundle.generator.copy_pitch, bundle.generator.copy_duration):
                layer.weight.copy_(2 * torch.randn(layer.weight.shape, generator=g))
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))
    return bundle


def _primer() -> NoteStreams:
    request = Conditions(2, (4, 4), (2, "major"))
    return NoteStreams.from_events(
        np.array([62, 66, 0, 69]), np.array([12, 6, 6, 24]), np.array([70, 100, 40, 55]), request
    )


REQUESTS = [
    conditions_from_text(6, meter="4/4", key="G", chords="G C D G"),
    Conditions(3, (6, 8), (9, "minor")),
    Conditions(1, (3, 4)),
    Conditions(4, (4, 4), (2, "major"), primer=_primer()),
]


def _both(bundle, requests, monkeypatch, **kwargs) -> tuple[list[NoteStreams], list[NoteStreams]]:
    monkeypatch.setattr(sampler, "SCRIPTED_LOOP", False)
    eager = sample(bundle, requests, seed=5, **kwargs)
    monkeypatch.setattr(sampler, "SCRIPTED_LOOP", True)
    return eager, sample(bundle, requests, seed=5, **kwargs)


def _same(a: list[NoteStreams], b: list[NoteStreams]) -> bool:
    return all(
        np.array_equal(x.pitch, y.pitch)
        and np.array_equal(x.duration, y.duration)
        and np.array_equal(x.velocity, y.velocity)
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(
    "overrides",
    [{}, {"lookback": (1, 2, 4)}, {"lookback": (1, 2), "n_bar_index": 32}, {"n_bar_index": 32, "z_dim": 0}],
    ids=["plain", "lookback", "lookback-form", "form-no-z"],
)
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"temperature": 0.0}, {"temperature": 1.5, "key_mask": True}],
    ids=["t1", "greedy", "masked"],
)
def test_the_scripted_loop_samples_what_the_step_loop_samples(monkeypatch, overrides, kwargs):
    bundle = _bundle(**overrides)
    eager, scripted = _both(bundle, REQUESTS, monkeypatch, **kwargs)
    assert _same(eager, scripted)
    assert [int(p.duration.sum()) for p in scripted] == [r.total_ticks() for r in REQUESTS]


def test_the_eager_run_of_the_loop_function_agrees_too(monkeypatch):
    """The same function without TorchScript (what runs where TorchScript is gone)."""
    bundle = _bundle(lookback=(1, 2))
    monkeypatch.setattr(fused_loop, "LOOP_RUNNER", [fused_loop.fused_steps])
    eager, plain = _both(bundle, REQUESTS[:2], monkeypatch)
    assert _same(eager, plain)


def test_a_batch_past_the_table_limit_falls_back_to_the_step_loop(monkeypatch):
    bundle = _bundle(lookback=(1,))
    calls = []
    real = fused_loop.scripted_steps
    monkeypatch.setattr(fused_loop, "scripted_steps", lambda: calls.append(1) or real())
    sample(bundle, REQUESTS[:2], seed=1)
    assert calls, "within the limit the scripted loop runs"
    calls.clear()
    monkeypatch.setattr(fused_loop, "TABLE_LIMIT", 10)
    eager, fallback = _both(bundle, REQUESTS[:2], monkeypatch)
    assert _same(eager, fallback) and not calls


def test_bf16_products_are_opt_in_and_still_tile_the_pieces(monkeypatch):
    """BF16_MATMULS changes the arithmetic (so it is off by default) but not the bookkeeping."""
    assert fused_loop.BF16_MATMULS is False
    bundle = _bundle(lookback=(1, 2))
    monkeypatch.setattr(fused_loop, "BF16_MATMULS", True)
    pieces = sample(bundle, REQUESTS, seed=5)
    assert [int(p.duration.sum()) for p in pieces] == [r.total_ticks() for r in REQUESTS]


def test_bf16_layer_weights_give_the_fp32_gates_to_bf16_rounding():
    bundle = _bundle(lookback=(1, 2))
    stepper = bundle.stepper(1.0)
    fp32, bf16 = fused_loop._layer_weights(stepper, False), fused_loop._layer_weights(stepper, True)
    g = torch.Generator().manual_seed(3)
    x, h = (torch.randn(5, stepper.config.hidden, generator=g) for _ in range(2))
    exact = torch.addmm(fp32[1][2], x, fp32[1][1]).addmm_(h, fp32[1][0])
    both = torch.cat((x, h), 1).to(torch.bfloat16)
    rounded = torch.mm(both, bf16[1][1]).float().add_(bf16[1][2])
    assert bf16[1][1].dtype == torch.bfloat16 and bf16[1][2].dtype == torch.float32
    assert torch.allclose(rounded, exact, atol=0.05 * float(exact.abs().max()))
    assert not torch.equal(rounded, exact)
