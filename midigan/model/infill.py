"""Infilling with a left-to-right model: forced events, a stop tick, and scoring what follows.

The generator only ever reads the past, yet a musician regenerating bars 5-8 wants
new bars that lead into bar 9 as well as out of bar 4. Two tools make that possible
without a model trained with future context:

- :func:`masked_generate` runs the sampler's free-running loop with any event forced
  (a per-event, per-stream mask rather than only a primer's first events) and stops
  each piece at a chosen tick instead of its final barline, its durations masked so
  the last one ends exactly there. The conditions still come from the whole piece's
  timeline, so bars remaining and chords are those of the real piece.
- :func:`continuation_log_likelihood` is the teacher-forced log-likelihood of the
  events from a tick onward (the kept suffix) given everything before it: sample K
  fillings, keep the one under which the suffix is most likely.

The same forced mask gives variations: force every duration and most pitches, and let
the model choose the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from midigan.model.checkpoint import ModelBundle
from midigan.model.conditioning import Timeline
from midigan.model.free_run import Clock, Moment, run_free
from midigan.model.lookback import piece_lookback
from midigan.model.sampler import Request, _FusedStep, _threads_for
from midigan.representations.streams import NoteStreams, PieceTimeline

_CHECK_EVERY = 8


class _StopClock(Clock):
    """A clock whose pieces end at `stop` (B,) ticks rather than their final barline."""

    stop: torch.Tensor

    def now(self) -> Moment:
        moment = super().now()
        left = self.stop - self.tick
        moment.fits = self.duration_ticks[None, :] <= left[:, None]
        moment.alive = left > 0
        return moment

    def ended(self) -> bool:
        return bool((self.tick >= self.stop).all())


class _MaskedStep(_FusedStep):
    """The sampler's fused step, forcing each stream of each event where `mask` says so."""

    mask: torch.Tensor  # (B, N, 3) bool

    def _forced(self, t: int, column: int, chosen: torch.Tensor) -> torch.Tensor:
        if t >= self.forced_steps:
            return chosen
        return torch.where(self.mask[:, t, column], self.forced[:, t, column], chosen)


@dataclass
class Infill:
    """What to generate: B pieces over one real piece's timeline.

    Attributes:
        template: the piece (its barlines, chords, mode, style).
        forced: (B, N, 3) pitch, duration, velocity ids to force at event t.
        mask: (B, N, 3) bool, True where the forced id is used.
        stop: (B,) tick at which each piece stops (a duration ends exactly there).
        no_rest: forbid the rest id wherever the pitch is free.
    """

    template: NoteStreams
    forced: np.ndarray
    mask: np.ndarray
    stop: np.ndarray
    no_rest: bool = False


def masked_generate(
    bundle: ModelBundle,
    infill: Infill,
    *,
    temperature: float,
    rng: torch.Generator,
    z: torch.Tensor | None = None,
) -> list[np.ndarray]:
    """Generate ids with forced events until each piece reaches its stop tick.

    Returns:
        Per piece, an (M, 3) int64 array of pitch, duration, velocity ids tiling [0, stop).
    """
    batch = infill.forced.shape[0]
    assert infill.mask.shape == infill.forced.shape, "mask must match forced"
    assert infill.forced.ndim == 3 and infill.forced.shape[2] == 3, "forced must be (B, N, 3)"
    device = bundle.device
    timeline = Timeline.stack([PieceTimeline.of(infill.template)] * batch).to(device)
    mode = torch.full((batch,), int(infill.template.mode), device=device)
    style = torch.full((batch,), int(infill.template.style), device=device)
    forced = torch.from_numpy(infill.forced.astype(np.int64))
    length = torch.full((batch,), forced.shape[1], dtype=torch.int64)
    allowed = None
    if infill.no_rest:
        allowed = torch.ones(batch, bundle.vocab.n_pitch, dtype=torch.bool)
        allowed[:, 0] = False
    request = Request(timeline, mode, style, forced, length, allowed)
    with torch.inference_mode(), _threads_for(batch, torch.device(device)):
        stepper = bundle.stepper(temperature)
        clock = _StopClock.at_start(
            timeline, stepper.duration_ticks, stepper.condition_offsets, stepper.lookback, stepper.none_ids
        )
        clock.stop = torch.from_numpy(infill.stop.astype(np.int64)).to(device)
        step = _MaskedStep(stepper, request, temperature, rng, z, timeline.longest())
        step.mask = torch.from_numpy(infill.mask).to(device)
        steps = run_free(clock, step, step.max_steps, check_every=_CHECK_EVERY)
        ids = step.records[:steps].cpu().numpy()
        ticks = stepper.duration_ticks.cpu().numpy()[ids[..., 1]]
    out = []
    for b in range(batch):
        onset = np.concatenate(([0], np.cumsum(ticks[:, b])[:-1]))
        out.append(ids[onset < infill.stop[b], b])
    return out


def continuation_log_likelihood(
    bundle: ModelBundle, template: NoteStreams, pieces: list[np.ndarray], from_tick: int
) -> np.ndarray:
    """Teacher-forced log-likelihood (nats) of each piece's events from `from_tick` on.

    Args:
        bundle: the model (run in eval mode, z at the prior's mean).
        template: the piece whose timeline every sequence follows.
        pieces: (N_b, 3) id arrays, each tiling the piece from tick 0.
        from_tick: events whose onset is at or after this tick are scored.

    Returns:
        (B,) the summed log-probabilities of pitch, duration and velocity of those events.
    """
    generator, vocab = bundle.generator, bundle.vocab
    device = bundle.device
    timeline = PieceTimeline.of(template)
    ticks_of = np.asarray(vocab.durations, dtype=np.int64)
    width = max(len(p) for p in pieces)
    B = len(pieces)
    ids = np.zeros((B, width, 3), dtype=np.int64)
    onset = np.zeros((B, width), dtype=np.int64)
    scored = np.zeros((B, width), dtype=bool)
    lags = tuple(generator.config.lookback or ())
    none_ids = (vocab.n_pitch, vocab.n_duration)
    candidates = np.zeros((B, width, len(lags), 2), dtype=np.int64)
    states = np.zeros((B, width, len(lags)), dtype=np.int64)
    for b, piece in enumerate(pieces):
        n = len(piece)
        ids[b, :n] = piece
        ticks = ticks_of[piece[:, 1]]
        onset[b, :n] = np.cumsum(ticks) - ticks
        onset[b, n:] = onset[b, n - 1] if n else 0
        scored[b, :n] = onset[b, :n] >= from_tick
        if lags:
            candidates[b, :n], states[b, :n] = piece_lookback(
                onset[b, :n], piece[:, 0], piece[:, 1], timeline.bar_starts, lags, none_ids
            )
    stacked = Timeline.stack([timeline] * B)
    batch = _Teacher(
        pitch=torch.from_numpy(ids[..., 0]),
        duration=torch.from_numpy(ids[..., 1]),
        velocity=torch.from_numpy(ids[..., 2]),
        conditions=stacked.at(torch.from_numpy(onset)),
        prev=torch.tensor(generator.bos).expand(B, 3),
        mode=torch.full((B,), int(template.mode)),
        style=torch.full((B,), int(template.style)),
        candidates=torch.from_numpy(candidates) if lags else None,
        repeat_states=torch.from_numpy(states) if lags else None,
    ).to(device)
    z = torch.zeros(B, generator.config.z_dim, device=device) if generator.config.z_dim else None
    was_training = generator.training
    generator.eval()
    try:
        with torch.inference_mode(), _threads_for(B, torch.device(device)):
            logits = generator(batch, z=z)
    finally:
        generator.train(was_training)
    total = torch.zeros(B, width, device=device)
    for column, stream_logits in enumerate(logits):
        target = batch.ids(column)[..., None]
        total += torch.log_softmax(stream_logits.float(), -1).gather(-1, target).squeeze(-1)
    mask = torch.from_numpy(scored).to(device)
    return (total * mask).sum(1).cpu().numpy()


@dataclass
class _Teacher:
    """The fields :meth:`~midigan.model.generator.Generator.forward` reads (a TeacherBatch)."""

    pitch: torch.Tensor
    duration: torch.Tensor
    velocity: torch.Tensor
    conditions: torch.Tensor
    prev: torch.Tensor
    mode: torch.Tensor
    style: torch.Tensor
    candidates: torch.Tensor | None
    repeat_states: torch.Tensor | None

    def ids(self, column: int) -> torch.Tensor:
        return (self.pitch, self.duration, self.velocity)[column]

    def to(self, device: torch.device | str) -> _Teacher:
        moved = {k: (v.to(device) if v is not None else None) for k, v in self.__dict__.items()}
        return _Teacher(**moved)
