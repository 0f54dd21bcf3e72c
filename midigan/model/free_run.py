"""The free-running loop: a batch of pieces writes itself one event per step, on its own clock.

Shared by the adversarial unroll (:mod:`midigan.model.unroll`, straight-through
Gumbel-softmax steps that gradients pass through) and the sampler
(:mod:`midigan.model.sampler`, fused hard-sampling steps). The loop owns what both
must agree on: each piece's onset tick, moved by the durations it emits; the
conditions at that onset (chord, position, bars remaining, meter, bar index); the durations
that still fit before the final barline; whether a piece has ended; and, for a
lookback model, the history of what each piece has played, its candidates and
repeat states. A step only chooses the next event from what the loop shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from midigan.model.conditioning import ConditionLookup, Timeline
from midigan.model.lookback import NO_CANDIDATE, History, LookbackSources, repeat_states

TABLE_LIMIT = 1 << 22  # most (pieces x ticks) rows precomputed per lookup; beyond, search per step


@dataclass
class Moment:
    """What a step sees of its pieces before choosing their next events."""

    conditions: torch.Tensor  # (B, C) condition ids at each onset (C = 4, or 5 with form); offsets added
    fits: torch.Tensor  # (B, n_duration) bool: the durations that end by the final barline
    alive: torch.Tensor  # (B,) bool: the piece has not reached its final barline
    candidates: torch.Tensor | None = None  # (B, L, 2) lookback candidates (lookback models)
    repeat_states: torch.Tensor | None = None  # (B, L) the previous event's repeat states


class Step(Protocol):
    def __call__(self, t: int, now: Moment) -> tuple[torch.Tensor, torch.Tensor]:
        """Choose event `t` of every piece; returns its (B,) pitch and duration ids."""
        ...


class Clock:
    """Where each piece of a freely running batch stands, and what it has played.

    Args:
        timeline: the pieces' barlines and chords.
        duration_ticks: (n_duration,) tick length of each duration id.
        condition_offsets: (C,) added to the condition ids (rows of the step's fused table);
            C = 4, or 5 for a model with a form table.
        tick: (B,) onset of each piece's next event.
        lags: a lookback model's lags; () = no lookback.
        history: what each piece has played by onset tick (lookback models).
        repeat_states: (B, L) repeat states of the event before `tick` (lookback models).
        limit: most table rows each per-tick lookup precomputes.
    """

    def __init__(
        self,
        timeline: Timeline,
        duration_ticks: torch.Tensor,
        condition_offsets: torch.Tensor,
        tick: torch.Tensor,
        lags: Sequence[int] = (),
        history: History | None = None,
        repeat_states: torch.Tensor | None = None,
        limit: int = TABLE_LIMIT,
    ) -> None:
        assert (history is not None) == bool(lags), "a lookback clock needs the pieces' history"
        self.end = timeline.end  # (B,)
        self.duration_ticks = duration_ticks
        self.tick = tick
        self.lookup = ConditionLookup(timeline, condition_offsets, limit=limit)
        self.sources = LookbackSources(timeline, lags, limit=limit) if lags else None
        self.history = history
        self.repeat_states = repeat_states

    @classmethod
    def at_start(
        cls,
        timeline: Timeline,
        duration_ticks: torch.Tensor,
        condition_offsets: torch.Tensor,
        lags: Sequence[int],
        none_ids: tuple[int, int],
        limit: int = TABLE_LIMIT,
    ) -> Clock:
        """Every piece at tick 0, with nothing played yet."""
        device = timeline.bar_starts.device
        batch = timeline.n_bars.shape[0]
        tick = torch.zeros(batch, dtype=torch.int64, device=device)
        if not lags:
            return cls(timeline, duration_ticks, condition_offsets, tick, limit=limit)
        history = History.empty(batch, timeline.longest(), none_ids, device)
        states = torch.full((batch, len(lags)), NO_CANDIDATE, dtype=torch.int64, device=device)
        return cls(timeline, duration_ticks, condition_offsets, tick, lags, history, states, limit)

    def now(self) -> Moment:
        """What the pieces' next step sees."""
        candidates = None
        if self.history is not None and self.sources is not None:
            candidates = self.history.candidates(self.sources(self.tick))
        return Moment(
            conditions=self.lookup(self.tick),
            fits=self.duration_ticks[None, :] <= (self.end - self.tick)[:, None],
            alive=self.tick < self.end,
            candidates=candidates,
            repeat_states=self.repeat_states,
        )

    def advance(self, now: Moment, pitch: torch.Tensor, duration: torch.Tensor) -> None:
        """Record the events (B,) chosen at `now` and move each piece that was still alive past them."""
        if self.history is not None and now.candidates is not None:
            self.history.write(self.tick, pitch, duration, now.alive)
            self.repeat_states = repeat_states(now.candidates, pitch, duration, self.history.none_ids[0])
        self.tick = self.tick + self.duration_ticks[duration] * now.alive

    def ended(self) -> bool:
        """Whether every piece has reached its final barline (a host sync on CUDA)."""
        return bool((self.tick >= self.end).all())


def run_free(clock: Clock, step: Step, steps: int, check_every: int = 0) -> int:
    """Run `step` for at most `steps` events per piece.

    Args:
        clock: the pieces' clock, moved by every event.
        step: chooses each event from what the clock shows.
        steps: most events per piece.
        check_every: when > 0, stop early once every piece has ended, checked every
            this many steps (each check waits for the device).

    Returns:
        The number of steps run.
    """
    for t in range(steps):
        now = clock.now()
        pitch, duration = step(t, now)
        clock.advance(now, pitch, duration)
        if check_every and (t + 1) % check_every == 0 and clock.ended():
            return t + 1
    return steps
