"""Lookback: what the melody played one, two, four and eight bars earlier at this point of the bar.

Folk tunes are built from repeats: in the training corpus 56% of melody events are
the very event (same pitch, same length) that started at the same place in the bar
one, two, four or eight bars earlier (AABB forms, repeated half-phrases, sequences).
A note-by-note LSTM has no cheap way to recall what it played 32 events ago, so it
wanders instead of repeating (EVALUATION.md: real tunes repeat 30% of their 4-note
patterns, the plain model 6%). As in Magenta's Lookback RNN, the generator is
therefore told, at every onset, the *candidate* of each lag (the event that started
at the same bar position `lag` bars back, or none) and whether the previous event
repeated its own candidates; its heads add a learned bonus to each candidate
(:meth:`midigan.model.generator.Generator.heads`), so repeating a bar is one
confident choice, not a chain of lucky ones.

Numpy computes candidates over whole real pieces (training data); torch computes
them tick by tick from a :class:`History` of what a batch has played so far
(sampling and the adversarial unroll). Both follow the same rule, tested to agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from midigan.model.conditioning import TickLookup, Timeline

NO_CANDIDATE, DIFFERS, REPEATS = 0, 1, 2
"""Repeat states of an event against one lag's candidate."""
N_STATES = 3


def piece_lookback(
    onset: np.ndarray,
    pitch: np.ndarray,
    duration: np.ndarray,
    bar_starts: np.ndarray,
    lags: Sequence[int],
    none_ids: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates and repeat states of every event of one real piece.

    Args:
        onset: (N,) ascending onset ticks of the events (rests included).
        pitch, duration: (N,) ids.
        bar_starts: (K+1,) barline ticks, the end included.
        lags: bars to look back.
        none_ids: the (pitch, duration) ids that mean "no candidate".

    Returns:
        `candidates` (N, L, 2) pitch and duration ids of the event that starts at the
        same bar position `lag` bars earlier (`none_ids` where the bar does not
        exist, is too short, or has no onset there), and `states` (N, L) of each
        event against its candidates (:data:`NO_CANDIDATE`, :data:`DIFFERS`,
        :data:`REPEATS`).
    """
    n, n_lags = len(onset), len(lags)
    candidates = np.empty((n, n_lags, 2), dtype=np.int64)
    candidates[..., 0], candidates[..., 1] = none_ids
    bar = np.clip(np.searchsorted(bar_starts, onset, side="right") - 1, 0, len(bar_starts) - 2)
    position = onset - bar_starts[bar]
    for j, lag in enumerate(lags):
        source_bar = bar - lag
        ok = source_bar >= 0
        source_bar = np.maximum(source_bar, 0)
        ok &= position < bar_starts[source_bar + 1] - bar_starts[source_bar]
        source = bar_starts[source_bar] + position
        index = np.minimum(np.searchsorted(onset, source), max(n - 1, 0))
        ok &= onset[index] == source
        candidates[ok, j, 0] = pitch[index[ok]]
        candidates[ok, j, 1] = duration[index[ok]]
    return candidates, repeat_states_np(candidates, pitch, duration, none_ids[0])


def repeat_states_np(
    candidates: np.ndarray, pitch: np.ndarray, duration: np.ndarray, none_pitch: int
) -> np.ndarray:
    """(..., L) repeat states of events (...) against their candidates (..., L, 2)."""
    same = (candidates[..., 0] == pitch[..., None]) & (candidates[..., 1] == duration[..., None])
    return np.where(candidates[..., 0] == none_pitch, NO_CANDIDATE, np.where(same, REPEATS, DIFFERS))


def repeat_states(
    candidates: torch.Tensor, pitch: torch.Tensor, duration: torch.Tensor, none_pitch: int
) -> torch.Tensor:
    """Torch :func:`repeat_states_np`: (B, L) states of events (B,) against candidates (B, L, 2)."""
    same = (candidates[..., 0] == pitch[..., None]) & (candidates[..., 1] == duration[..., None])
    state = torch.where(same, REPEATS, DIFFERS)
    return state.masked_fill(candidates[..., 0] == none_pitch, NO_CANDIDATE)


def source_ticks(timeline: Timeline, ticks: torch.Tensor, lags: Sequence[int]) -> torch.Tensor:
    """Where each lag looks: (B, M) ticks -> (B, M, L) source ticks, -1 where there is none."""
    bar_starts = timeline.bar_starts
    bar, position = timeline.bar_position(ticks)
    out = []
    for lag in lags:
        source_bar = (bar - lag).clamp(min=0)
        start = bar_starts.gather(1, source_bar)
        ok = (bar >= lag) & (position < bar_starts.gather(1, source_bar + 1) - start)
        out.append(torch.where(ok, start + position, -1))
    return torch.stack(out, -1)


class LookbackSources(TickLookup):
    """Each lag's source tick at one tick per piece (-1: none; see :class:`TickLookup`).

    Args:
        timeline: the batch's timelines.
        lags: bars to look back.
        limit: most table rows (pieces x ticks) to precompute; beyond, search per step.
    """

    def __init__(self, timeline: Timeline, lags: Sequence[int], limit: int = 1 << 22) -> None:
        self.lags = tuple(lags)
        super().__init__(timeline, limit)

    def values(self, ticks: torch.Tensor) -> torch.Tensor:
        """(B, M) ticks -> (B, M, L) source ticks."""
        return source_ticks(self.timeline, ticks, self.lags)


class History:
    """Pitch and duration ids a batch has played, by onset tick: what lookback reads.

    Column `length` is never written (sources of -1 read it: no candidate); column
    `length + 1` takes the writes of pieces that have already ended.

    Args:
        pitch, duration: (B, length) ids at each tick, `none_ids` where nothing starts.
        none_ids: the (pitch, duration) ids meaning "nothing".
    """

    def __init__(self, pitch: torch.Tensor, duration: torch.Tensor, none_ids: tuple[int, int]) -> None:
        B, length = pitch.shape
        pad = torch.tensor(none_ids, device=pitch.device).expand(B, 2, 2)  # (B, column, kind)
        self.pitch = torch.cat((pitch, pad[..., 0]), 1)
        self.duration = torch.cat((duration, pad[..., 1]), 1)
        self.length = length
        self.none_ids = none_ids

    @classmethod
    def empty(cls, batch: int, length: int, none_ids: tuple[int, int], device: torch.device) -> History:
        pitch = torch.full((batch, length), none_ids[0], dtype=torch.int64, device=device)
        return cls(pitch, torch.full_like(pitch, none_ids[1]), none_ids)

    def forget_from(self, ticks: torch.Tensor) -> None:
        """Erase everything at or after `ticks` (B,): the unroll replaces the real continuation."""
        later = torch.arange(self.length, device=ticks.device)[None, :] >= ticks[:, None]
        self.pitch[:, : self.length].masked_fill_(later, self.none_ids[0])
        self.duration[:, : self.length].masked_fill_(later, self.none_ids[1])

    def candidates(self, sources: torch.Tensor) -> torch.Tensor:
        """(B, L) source ticks -> (B, L, 2) candidate pitch and duration ids."""
        column = torch.where(sources >= 0, sources, self.length).clamp(max=self.length)
        return torch.stack((self.pitch.gather(1, column), self.duration.gather(1, column)), -1)

    def write(
        self, ticks: torch.Tensor, pitch: torch.Tensor, duration: torch.Tensor, alive: torch.Tensor
    ) -> None:
        """Record the events (B,) starting at `ticks` (B,) of the pieces still `alive`."""
        column = torch.where(alive & (ticks < self.length), ticks, self.length + 1)[:, None]
        self.pitch.scatter_(1, column, pitch[:, None])
        self.duration.scatter_(1, column, duration[:, None])
