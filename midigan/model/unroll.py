"""The adversarial unroll: the generator continues real windows freely, and gradients follow.

After a teacher-forced prefix of each real window, the generator writes `steps`
events through the free-running loop (:mod:`midigan.model.free_run`) on the real
piece's timeline. Its step emits straight-through Gumbel-softmax samples: one-hot
in the forward pass, softmax gradients in the backward pass, so the critic's
judgement reaches the generator through discrete choices. Durations that would
cross the piece's end are masked, and a piece that has reached its end emits padding.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

from midigan.model.conditioning import Timeline
from midigan.model.discriminator import OneHotWindow
from midigan.model.free_run import Clock, Moment, run_free
from midigan.model.generator import Generator, State, TeacherBatch
from midigan.model.lookback import History, repeat_states


class UnrollBatch(TeacherBatch, Protocol):
    """The fields of a batch the unroll reads besides the teacher-forced ones."""

    mask: torch.Tensor  # (B, T) bool
    start: torch.Tensor  # (B,) onset tick of each window's first event
    history_pitch: torch.Tensor | None  # (B, ticks) each piece's real events by onset (lookback models)
    history_duration: torch.Tensor | None


def unroll(
    generator: Generator,
    batch: UnrollBatch,
    timeline: Timeline,
    *,
    prefix: int,
    steps: int,
    tau: float,
    z: torch.Tensor | None = None,
) -> OneHotWindow:
    """Teacher-force `prefix` events of each window, then generate `steps` events freely.

    Args:
        generator: the model (in training mode for the adversarial phase).
        batch: the real windows; a lookback model also reads their history.
        timeline: barlines and chords of the batch's pieces.
        prefix: teacher-forced events (clipped to the window).
        steps: freely generated events.
        tau: Gumbel-softmax temperature.
        z: per-piece noise; drawn fresh when None.

    Returns:
        The generated window: (B, steps, n) straight-through one-hots, the condition
        ids at the generated onsets, the mask of events before each piece's end and,
        for a lookback model, the candidates each event was offered (the critic
        judges repeats with them).
    """
    g = generator
    prefix = min(prefix, batch.pitch.shape[1])
    z = g.sample_z(batch.pitch.shape[0]) if z is None else z
    piece = g.piece_embedding(batch.mode, batch.style, z)  # (B, E)
    state, last, tick, states = _after_prefix(g, batch, piece, prefix)
    history = None
    if g.lookback_in is not None:
        assert batch.history_pitch is not None and batch.history_duration is not None, (
            "a lookback model unrolls on its pieces' history"
        )
        history = History(batch.history_pitch.clone(), batch.history_duration.clone(), g.none_ids)
        history.forget_from(tick)  # from here on the history is the generator's own
    offsets = g.condition_offsets
    clock = Clock(timeline, g.duration_ticks, offsets, tick, g.config.lookback, history, states)
    step = _GumbelStep(g, piece, state, last, tau)
    run_free(clock, step, steps)
    return step.window(offsets)


def _after_prefix(
    g: Generator, batch: UnrollBatch, piece: torch.Tensor, prefix: int
) -> tuple[State, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """LSTM state, last event ids (B, 3), onset tick (B,) and repeat states (B, L) (lookback
    models) after the real first `prefix` events of each window."""
    states = batch.repeat_states[:, 0] if batch.repeat_states is not None else None
    if not prefix:
        return g.initial_state(batch.pitch.shape[0]), batch.prev, batch.start.clone(), states
    _, (h_n, c_n) = g.teacher_forced(batch, piece, prefix)
    state = [(h_n[i], c_n[i]) for i in range(g.config.layers)]
    lengths = g.duration_ticks[batch.duration[:, :prefix]] * batch.mask[:, :prefix]
    tick = batch.start + lengths.sum(1)
    last = torch.stack([e[:, prefix - 1] for e in (batch.pitch, batch.duration, batch.velocity)], 1)
    if g.lookback_in is not None and batch.candidates is not None:
        states = repeat_states(batch.candidates[:, prefix - 1], last[:, 0], last[:, 1], g.config.n_pitch)
    return state, last, tick, states


class _GumbelStep:
    """One differentiable event per piece: straight-through Gumbel-softmax samples of the
    generator's heads, fed back as one-hots through the same weights as teacher forcing."""

    def __init__(
        self, generator: Generator, piece: torch.Tensor, state: State, last: torch.Tensor, tau: float
    ) -> None:
        g, cfg = generator, generator.config
        self.generator, self.piece, self.state, self.tau = g, piece, state, tau
        # Fused tables: one matmul embeds the three one-hots, one embedding_bag sums the
        # conditions (4, or 5 with form) and, for a lookback model, the 3L lookback rows
        # (one op forward and back per step instead of a lookup, a sum and an add).
        self.event_table = torch.cat(
            (
                g.pitch_in.weight[: cfg.n_pitch],
                g.duration_in.weight[: cfg.n_duration],
                g.velocity_in.weight[: cfg.n_velocity],
            )
        )
        self.condition_table = g.condition_table()
        if g.lookback_in is not None:
            self.lookback_rows = g.lookback_offsets + self.condition_table.shape[0]
            self.condition_table = torch.cat((self.condition_table, g.lookback_in.weight))
        self.event = g.event_embedding(last[:, 0], last[:, 1], last[:, 2])  # (B, E)
        self.emitted: list[tuple[torch.Tensor, ...]] = []
        self.offered: list[torch.Tensor] = []

    def __call__(self, t: int, now: Moment) -> tuple[torch.Tensor, torch.Tensor]:
        g, tau = self.generator, self.tau
        ids = now.conditions
        if now.candidates is not None and now.repeat_states is not None:
            lookback = torch.cat((now.candidates, now.repeat_states[..., None]), -1).flatten(1)
            ids = torch.cat((ids, lookback + self.lookback_rows), 1)
            self.offered.append(now.candidates)
        x = self.event + F.embedding_bag(ids, self.condition_table, mode="sum") + self.piece
        if g.noise_in is not None:
            noise = torch.randn(x.shape[0], g.config.step_noise, device=x.device, dtype=x.dtype)
            x = x + g.noise_in(noise)
        hidden, self.state = g.step(g.drop(x), self.state)
        pitch, pitch_id = _gumbel_st(g.pitch_logits(hidden, now.candidates), tau)
        duration_logits, velocity_logits = g.duration_velocity_logits(hidden, pitch, now.candidates)
        fits = now.fits | ~now.fits.any(
            1, keepdim=True
        )  # nothing fits: the piece has ended, keep logits finite
        duration, duration_id = _gumbel_st(duration_logits.masked_fill(~fits, -1e4), tau)
        velocity, _ = _gumbel_st(velocity_logits, tau)
        self.event = torch.cat((pitch, duration, velocity), 1) @ self.event_table
        self.emitted.append((pitch, duration, velocity, now.conditions, now.alive))
        return pitch_id, duration_id

    def window(self, condition_offsets: torch.Tensor) -> OneHotWindow:
        """Everything emitted, stacked over steps (condition ids without the table offsets)."""
        pitch, duration, velocity, conditions, alive = (
            torch.stack(column, 1) for column in zip(*self.emitted, strict=True)
        )
        candidates = torch.stack(self.offered, 1) if self.offered else None
        return OneHotWindow((pitch, duration, velocity), conditions - condition_offsets, alive, candidates)


def _gumbel_st(logits: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Straight-through Gumbel-softmax: hard one-hot forward, soft gradient backward.

    Returns:
        The (B, n) straight-through one-hot and the (B,) chosen indices.
    """
    gumbel = -torch.empty_like(logits, dtype=torch.float32).exponential_().log()
    soft = ((logits.float() + gumbel) / tau).softmax(-1)
    index = soft.argmax(-1)
    hard = torch.zeros_like(soft).scatter_(-1, index[:, None], 1.0)
    return (hard - soft.detach() + soft).to(logits.dtype), index
