"""The sampler's free-running loop as one TorchScript function: no Python per event.

At batch 1 an event costs three matrix-vector products (~0.04 ms here) and some
eighty small tensor ops; in eager PyTorch each op costs a few microseconds of
Python and dispatch, so the ops, not the arithmetic, set the speed. This module
runs a block of steps of :class:`~midigan.model.sampler._FusedStep` and
:class:`~midigan.model.free_run.Clock` inside one scripted function, with the
integer bookkeeping folded into fewer ops:

- one table row per (piece, tick) holds everything the clock derives from the
  timeline: the condition ids (fused-table offsets added), where each lag's
  candidate sits in the flattened history, where this tick's event is written, how
  many ticks are left (the durations that fit are a row of a small table) and
  whether the piece is still alive; a step reads it with one `index_select`;
- the history of what each piece played is one flat tensor, pitch and duration
  interleaved, so the candidates are one `take` and a write is one `index_put_`;
- the repeat states are `has candidate + repeats` as row ids, in two ops.

The float arithmetic is the same ops on the same operands in the same order as the
eager step, so the music is bit for bit the same (`tests/test_fused_loop.py`); if
TorchScript is unavailable the same function runs eagerly.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from midigan.model.conditioning import ConditionLookup, Timeline
from midigan.model.lookback import LookbackSources
from midigan.model.stepper import FusedStepper

TABLE_LIMIT = 1 << 20  # most (pieces x ticks) rows of the per-tick table; beyond, the eager loop runs
BF16_MATMULS = False
"""Opt-in: run the LSTM's matrix products with bf16 operands (fp32 sums, fp32 state and heads).
On an AVX-512-bf16 CPU the (256 x 256) @ (256 x 1024) product is ~4x faster than fp32, but the
rounded operands change the draws: the music is no longer bit for bit the fp32 default's (nor
the golden files'), so it is off unless a caller sets it."""


def fused_steps(
    t0: int,
    count: int,
    check_every: int,
    weights: list[Tensor],
    layers: list[list[Tensor]],
    lookback: list[Tensor],
    n_conditions: int,
    n_duration: int,
    none_pitch: int,
    state: list[Tensor],
    row: Tensor,
    end_row: Tensor,
    last_row: Tensor,
    table: Tensor,
    fits_table: Tensor,
    history: Tensor,
    noise: list[Tensor],
    forced: Tensor | None,
    forced_len: Tensor | None,
    forced_steps: int,
    records: Tensor,
) -> tuple[int, bool, list[Tensor]]:
    """Run steps `t0 .. t0 + count - 1` of the fused sampling loop.

    Args:
        t0, count: the first step and how many to run.
        check_every: stop once every piece has ended, checked after steps `t` with
            `(t + 1) % check_every == 0` (as :func:`~midigan.model.free_run.run_free`).
        weights: fused0, piece_bias, pitch_wT, pitch_bias, duration_velocity_wT,
            duration_velocity_b, pitch_duration_velocity, duration_ticks, event offsets (3,).
        layers: per LSTM layer [whhT, wihT (layer 0: unused), bias]; with bf16 weights
            (:data:`BF16_MATMULS`) [whhT, [wihT; whhT] (layer 0: unused), bias], the bias fp32.
        lookback: [] or copy_pitch_wT, copy_pitch_b, copy_duration_wT, copy_duration_b,
            pitch_copy, candidate offsets (L, 2), state offsets (L,).
        n_conditions, n_duration, none_pitch: sizes.
        state: h and c of every layer, then the previous event's ids (B, 3) with
            offsets, then (lookback) the repeat-state rows (B, L).
        row: (B,) each piece's row of `table` (moved in place).
        end_row, last_row: (B,) the row of each piece's end and of its last table tick.
        table: (B * (ticks + 1), K) per-tick rows (see :func:`tick_table`).
        fits_table: (R, n_duration) bool: the durations that fit in r ticks.
        history: flat pitch/duration ids by (piece, tick) (written in place).
        noise: Gumbel noise of this block for pitch, duration and velocity, each (64, B, n)
            (step `t` reads row `t % 64`); [] for greedy decoding.
        forced, forced_len, forced_steps: a primer's ids (B, P, 3), lengths (B,) and
            the longest length; None, None, 0 without one.
        records: (steps, B, 3) written with each step's event.

    Returns:
        The step reached, whether every piece has ended there, and the new state.
    """
    fused0, piece_bias, pitch_wT, pitch_bias = weights[0], weights[1], weights[2], weights[3]
    dv_wT, dv_b, pitch_dv, duration_ticks, event_offsets = (
        weights[4],
        weights[5],
        weights[6],
        weights[7],
        weights[8],
    )
    n_layers = len(layers)
    hs = state[:n_layers]
    cs = state[n_layers : 2 * n_layers]
    prev = state[2 * n_layers]
    looks = len(lookback) > 0
    lag_rows = state[2 * n_layers + 1] if looks else prev
    B = prev.shape[0]
    H = hs[0].shape[1]
    C = n_conditions
    n_lags = lag_rows.shape[1] if looks else 0
    tail = C + 2 * n_lags if looks else C - 2  # then: write positions (lookback), ticks left, alive
    n_ids = prev.shape[1] + C + 3 * n_lags
    bags = torch.arange(0, B * n_ids, n_ids, device=row.device)  # what F.embedding_bag makes of (B, n)
    greedy = len(noise) == 0
    n_pitch = pitch_wT.shape[1]
    n_velocity = dv_wT.shape[1] - n_duration
    minus_inf = torch.full([1], float("-inf"), device=row.device)
    low = layers[0][0].dtype == torch.bfloat16
    lag_pitch = prev
    t = t0
    ended = False
    for t in range(t0, t0 + count):
        at = table.index_select(0, row)  # (B, K)
        if looks:
            candidates = torch.take(history, at.narrow(1, C, 2 * n_lags)).view(B, n_lags, 2)
            lag_pitch = candidates.select(2, 0)
            rows = torch.cat((candidates + lookback[5], lag_rows.unsqueeze(2)), 2).view(B, 3 * n_lags)
            ids = torch.cat((prev, at.narrow(1, 0, C), rows), 1)
        else:
            candidates = prev  # unused
            ids = torch.cat((prev, at.narrow(1, 0, C)), 1)
        x = torch.embedding_bag(fused0, ids.view(-1), bags, False, 0)[0]  # sum of rows per piece
        new_h: list[Tensor] = []
        new_c: list[Tensor] = []
        for layer in range(n_layers):
            if low and layer == 0:  # opt-in bf16 products, fp32 everywhere else (see BF16_MATMULS)
                gates = torch.mm(hs[0].to(torch.bfloat16), layers[0][0]).float().add_(piece_bias).add_(x)
            elif low:  # input and recurrent products as one: [x, h] @ [W_ih; W_hh]
                both = torch.cat((x, hs[layer]), 1).to(torch.bfloat16)
                gates = torch.mm(both, layers[layer][1]).float().add_(layers[layer][2])
            elif layer == 0:
                gates = torch.addmm(piece_bias, hs[0], layers[0][0]).add_(x)
            else:
                gates = torch.addmm(layers[layer][2], x, layers[layer][1]).addmm_(hs[layer], layers[layer][0])
            sig, g = gates.split([3 * H, H], 1)
            i, f, o = sig.sigmoid().chunk(3, 1)
            c = torch.addcmul(f * cs[layer], i, g.tanh())
            x = o * c.tanh()
            new_h.append(x)
            new_c.append(c)
        hs, cs = new_h, new_c
        logits = torch.addmm(pitch_bias, x, pitch_wT)
        if looks:
            bonus = torch.addmm(lookback[1], x, lookback[0])
            padded = torch.constant_pad_nd(logits, [0, 1], 0.0)
            logits = padded.scatter_add_(1, lag_pitch, bonus).narrow(1, 0, n_pitch)
        if not greedy:
            logits = logits + noise[0][t % 64]
        pitch = logits.argmax(-1)
        if t < forced_steps and forced is not None and forced_len is not None:
            pitch = torch.where(forced_len > t, forced.select(1, t).select(1, 0), pitch)
        both = torch.addmm(dv_b, x, dv_wT)
        both = both.add_(pitch_dv.index_select(0, pitch))
        duration_logits, velocity_logits = both.split([n_duration, n_velocity], 1)
        if looks:
            bonus = torch.addmm(lookback[3], x, lookback[2])
            bonus = bonus.add_(lookback[4].index_select(0, pitch))
            same = lag_pitch == pitch.unsqueeze(1)  # bool: promoted to 1.0 / 0.0, as .float() would
            always, if_same = bonus.split([n_lags, n_lags], 1)
            bonus = always + if_same * same
            duration_logits = torch.constant_pad_nd(duration_logits, [0, 1], 0.0)
            duration_logits = duration_logits.scatter_add_(1, candidates.select(2, 1), bonus)
            duration_logits = duration_logits.narrow(1, 0, n_duration)
        if not greedy:
            duration_logits = duration_logits + noise[1][t % 64]
            velocity_logits = velocity_logits + noise[2][t % 64]
        fits = fits_table.index_select(0, at.select(1, tail + 2))
        duration = torch.where(fits, duration_logits, minus_inf).argmax(-1)
        velocity = velocity_logits.argmax(-1)
        if t < forced_steps and forced is not None and forced_len is not None:
            duration = torch.where(forced_len > t, forced.select(1, t).select(1, 1), duration)
            velocity = torch.where(forced_len > t, forced.select(1, t).select(1, 2), velocity)
        event = torch.stack((pitch, duration, velocity), 1)
        records[t] = event
        prev = event + event_offsets
        if looks:
            history.index_put_([at.narrow(1, tail, 2)], event.narrow(1, 0, 2))
            repeats = (candidates == event.narrow(1, 0, 2).unsqueeze(1)).all(2)
            lag_rows = lookback[6] + (lag_pitch != none_pitch) + repeats
        row.add_(duration_ticks.index_select(0, duration) * at.select(1, tail + 3))
        if t < forced_steps:
            torch.minimum(row, last_row, out=row)
        if check_every > 0 and (t + 1) % check_every == 0 and bool((row >= end_row).all()):
            ended = True
            break
    out = hs + cs + [prev]
    if looks:
        out.append(lag_rows)
    return t + 1, ended, out


_SCRIPTED: list[Callable[..., Any]] = []
LOOP_RUNNER: list[Callable[..., Any]] = []
"""Set to `[fused_steps]` to run the loop eagerly (tests and benchmarks compare the two)."""


def scripted_steps() -> Callable[..., Any]:
    """:func:`fused_steps` compiled by TorchScript (once per process), or itself when
    TorchScript is unavailable (the same ops, eagerly)."""
    if not _SCRIPTED:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TorchScript announces its deprecation
                _SCRIPTED.append(torch.jit.script(fused_steps))
        except Exception:
            _SCRIPTED.append(fused_steps)
    return _SCRIPTED[0]


def tick_table(
    stepper: FusedStepper, timeline: Timeline
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor] | None:
    """The per-(piece, tick) rows the scripted loop reads, or None past :data:`TABLE_LIMIT`.

    Row `b * (ticks + 1) + tick` holds: the condition ids with offsets (C); for a
    lookback model each lag's candidate pitch and duration positions in the flat
    history (2L); the flat position this tick's event is written to (the piece's
    spare column once it has ended), pitch then duration; the ticks left before the end, clamped to the
    longest duration; and 1 while the piece is alive (0 at or past its end). Ticks past
    the table read its last tick, as :class:`~midigan.model.conditioning.TickLookup` does.

    Returns:
        `(table, fits_table, start_row, end_row, last_row)`.
    """
    device = timeline.bar_starts.device
    batch = timeline.n_bars.shape[0]
    length = max(1, timeline.longest())
    if batch * (length + 1) > TABLE_LIMIT:
        return None
    ticks = torch.arange(length + 1, device=device).expand(batch, -1)  # (B, ticks + 1)
    clamped = ticks.clamp(max=length - 1)
    columns = [ConditionLookup(timeline, stepper.condition_offsets, limit=0).values(clamped)]
    end = timeline.end[:, None]
    history_base = (torch.arange(batch, device=device) * (length + 2))[:, None]  # columns of a piece
    if stepper.lookback:
        sources = LookbackSources(timeline, stepper.lookback, limit=0).values(clamped)  # (B, T, L)
        column = torch.where(sources >= 0, sources, length).clamp(max=length)
        flat = (history_base[..., None] + column) * 2  # (B, T, L)
        columns.append(torch.stack((flat, flat + 1), -1).flatten(2))
        write = torch.where(ticks < end, ticks, length + 1)
        flat = (history_base + write) * 2
        columns.append(torch.stack((flat, flat + 1), -1))
    longest = int(stepper.duration_ticks.max())
    columns.append((end - ticks).clamp(0, longest)[..., None])
    columns.append((ticks < end).to(torch.int64)[..., None])
    table = torch.cat(columns, -1).flatten(0, 1)
    fits_table = stepper.duration_ticks[None, :] <= torch.arange(longest + 1, device=device)[:, None]
    base = torch.arange(batch, device=device) * (length + 1)
    return table, fits_table, base.clone(), base + timeline.end, base + length


def run_fused_loop(
    stepper: FusedStepper,
    timeline: Timeline,
    start: list[Tensor],
    noise_block: Callable[[int], Tensor | None],
    forced: tuple[Tensor, Tensor, int] | None,
    records: Tensor,
    max_steps: int,
    check_every: int,
) -> int | None:
    """The sampler's loop through :func:`fused_steps`, one call per block of 64 steps.

    Args:
        stepper: the fused weights.
        timeline: the pieces' timelines, on the stepper's device.
        start: piece_bias (B, 4H), pitch_bias (B, n_pitch), previous ids (B, 3) with offsets.
        noise_block: step `t0`'s block of Gumbel noise (64, B, width), drawn when asked
            (at the steps where the eager loop draws it), or None when greedy.
        forced: a primer's ids, lengths and longest length, or None.
        records: (max_steps, B, 3) filled with the events.
        max_steps, check_every: as :func:`~midigan.model.free_run.run_free`.

    Returns:
        The number of steps run, or None when this batch does not suit the scripted loop
        (a model with per-step noise, or a per-tick table past :data:`TABLE_LIMIT`): the
        caller then runs the eager loop, which nothing here has touched.
    """
    if stepper.noise_rows is not None:
        return None
    tables = tick_table(stepper, timeline)
    if tables is None:
        return None
    table, fits_table, row, end_row, last_row = tables
    piece_bias, pitch_bias, prev = start
    B, device = prev.shape[0], prev.device
    weights = [
        stepper.fused0,
        piece_bias,
        stepper.pitch_wT,
        pitch_bias,
        stepper.duration_velocity_wT,
        stepper.duration_velocity_b,
        stepper.pitch_duration_velocity,
        stepper.duration_ticks,
        stepper.offsets[:3],
    ]
    layers = _layer_weights(stepper, BF16_MATMULS)
    zeros = torch.zeros(B, stepper.config.hidden, device=device)
    state = [zeros] * (2 * stepper.config.layers) + [prev]
    lookback: list[Tensor] = []
    history = torch.zeros(0, dtype=torch.int64, device=device)
    if stepper.lookback:
        n_lags = len(stepper.lookback)
        rows = stepper.lookback_rows.view(n_lags, 3)
        lookback = [
            stepper.copy_pitch_wT,
            stepper.copy_pitch_b,
            stepper.copy_duration_wT,
            stepper.copy_duration_b,
            stepper.pitch_copy,
            rows[:, :2].contiguous(),
            rows[:, 2].contiguous(),
        ]
        state.append(rows[:, 2].expand(B, n_lags).clone())  # nothing repeated before the first event
        columns = max(1, timeline.longest()) + 2
        history = torch.tensor(stepper.none_ids, device=device).repeat(B * columns)
    forced_ids, forced_len, forced_steps = forced if forced is not None else (None, None, 0)
    run = LOOP_RUNNER[0] if LOOP_RUNNER else scripted_steps()
    t = 0
    optimize = torch._C._get_graph_executor_optimize()
    torch._C._set_graph_executor_optimize(False)  # no profiling runs: the graph is fixed; saves ~0.1 s
    try:
        while t < max_steps:
            count = min(64, max_steps - t)
            t, ended, state = run(
                t,
                count,
                check_every,
                weights,
                layers,
                lookback,
                int(stepper.condition_offsets.shape[0]),
                stepper.config.n_duration,
                stepper.none_ids[0],
                state,
                row,
                end_row,
                last_row,
                table,
                fits_table,
                history,
                _split_noise(noise_block(t), stepper.config),
                forced_ids,
                forced_len,
                forced_steps,
                records,
            )
            if ended:
                break
    finally:
        torch._C._set_graph_executor_optimize(optimize)
    return t


def _layer_weights(stepper: FusedStepper, bf16: bool) -> list[list[Tensor]]:
    """Per LSTM layer [whhT, wihT, bias] as :func:`fused_steps` takes them: fp32, or with
    `bf16` the products' weights in bf16 (layers past the first stacked input-over-recurrent,
    so one product covers both)."""
    out = []
    for i in range(stepper.config.layers):
        whhT, wihT = stepper.whhT[i], stepper.whhT[i] if i == 0 else stepper.wihT[i]
        if bf16:
            wihT = wihT if i == 0 else torch.cat((wihT, whhT))
            whhT, wihT = whhT.to(torch.bfloat16), wihT.to(torch.bfloat16)
        out.append([whhT, wihT, stepper.bias[i]])
    return out


def _split_noise(block: Tensor | None, config: Any) -> list[Tensor]:
    """(64, B, width) Gumbel noise -> its pitch, duration and velocity parts, each contiguous."""
    if block is None:
        return []
    parts = block.split([config.n_pitch, config.n_duration, config.n_velocity], -1)
    return [part.contiguous() for part in parts]
