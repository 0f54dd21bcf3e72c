"""Sampling: conditions in, note streams out, batched across pieces on the model's device.

Every piece of a batch advances one event per step of the free-running loop
(:mod:`midigan.model.free_run`), sampled through the fused
:class:`~midigan.model.stepper.FusedStepper`. Each piece keeps its own clock; the
conditions of its next event are read from a per-tick table of its timeline.
Durations that would cross the final barline are masked, so a piece ends exactly
on it; a piece that has ended idles (its later events are dropped) until all have
ended. A primer is teacher-forced first (moved to C like the training melodies)
and copied verbatim into the result. All randomness comes from one
`torch.Generator` seeded by `seed`: same seed, same model, same device, same music.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from midigan.errors import ConfigError
from midigan.model.checkpoint import ModelBundle
from midigan.model.conditioning import Timeline
from midigan.model.free_run import Clock, Moment, run_free
from midigan.model.fused_loop import run_fused_loop
from midigan.model.generator import Generator
from midigan.model.stepper import FusedStepper
from midigan.model.threads import torch_threads
from midigan.music.theory import scale_pitch_classes
from midigan.representations.conditions import Conditions
from midigan.representations.ids import mode_id, shift_to_c, style_id
from midigan.representations.stream_vocab import StreamVocab
from midigan.representations.streams import REST, NoteStreams, PieceTimeline

_NOISE_BLOCK = 64  # steps of Gumbel noise drawn at once
_CHECK_EVERY = 8  # steps between "have all pieces ended?" checks (a host sync on CUDA)
_SMALL_BATCH = 16  # CPU batches up to this size sample on one thread
SCRIPTED_LOOP = True
"""Sample on the CPU through the TorchScript loop (:mod:`midigan.model.fused_loop`): the same
numbers as the step-by-step loop, without Python per event. False runs the step-by-step loop."""

Randomness = torch.Generator | list[torch.Generator] | None
"""One generator for the whole batch, or one per piece (each piece then draws exactly the
numbers it would draw alone, so piece 3 of a batch is reproducible with its own seed)."""


@dataclass
class Request:
    """A batch of pieces to generate, as tensors on the model's device.

    Attributes:
        timeline: barlines and chords of every piece.
        mode, style: (B,) ids.
        forced: (B, P, 3) ids to teacher-force first (a primer), or None.
        forced_len: (B,) how many of `forced` each piece uses.
        pitch_allowed: (B, n_pitch) bool mask of the pitch ids allowed, or None.
    """

    timeline: Timeline
    mode: torch.Tensor
    style: torch.Tensor
    forced: torch.Tensor | None = None
    forced_len: torch.Tensor | None = None
    pitch_allowed: torch.Tensor | None = None


def generate_ids(
    generator: Generator,
    request: Request,
    *,
    temperature: float = 1.0,
    rng: Randomness = None,
    z: torch.Tensor | None = None,
) -> list[np.ndarray]:
    """Generate event ids until every piece reaches its final barline.

    Args:
        generator: the model (used through a fused copy of its weights).
        request: what to generate.
        temperature: > 0 scales the logits; 0 is greedy (argmax, no noise).
        rng: source of all randomness (z, per-step noise, Gumbel noise).
        z: per-piece noise (B, z_dim); drawn from `rng` when None.

    Returns:
        Per piece, an (N, 3) int64 array of pitch, duration, velocity ids whose
        durations tile the piece exactly (the forced events included).
    """
    return _generate(lambda: FusedStepper(generator, temperature), request, temperature, rng, z)


def _generate(
    make_stepper: Callable[[], FusedStepper],
    request: Request,
    temperature: float,
    rng: Randomness,
    z: torch.Tensor | None = None,
) -> list[np.ndarray]:
    """:func:`generate_ids` with the stepper supplied.

    `make_stepper` is called inside the run's thread setting, which
    :meth:`~midigan.model.checkpoint.ModelBundle.stepper` keys its cache on.
    """
    with torch.inference_mode(), _threads_for(request.mode.shape[0], request.mode.device):
        ids, ticks = _run(make_stepper(), request, temperature, rng, z)
    ends = request.timeline.end.cpu().numpy()
    out = []
    for b in range(ids.shape[1]):
        onset = np.concatenate(([0], np.cumsum(ticks[:, b])[:-1]))
        out.append(ids[onset < ends[b], b])
    return out


@contextlib.contextmanager
def _threads_for(batch: int, device: torch.device) -> Iterator[None]:
    """One CPU thread for small batches: their matrix-vector products are too small to
    split, and a second thread only adds synchronisation (3x slower on a busy 2-core box)."""
    if device.type != "cpu" or batch > _SMALL_BATCH or torch.get_num_threads() == 1:
        yield
        return
    with torch_threads(1):
        yield


def _run(
    stepper: FusedStepper,
    request: Request,
    temperature: float,
    rng: Randomness,
    z: torch.Tensor | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The free-running loop with the fused step. Returns ids (T, B, 3) and their ticks (T, B)."""
    timeline = request.timeline.to(stepper.device)
    step = _FusedStep(stepper, request, temperature, rng, z, timeline.longest())
    steps = None
    if SCRIPTED_LOOP and stepper.device.type == "cpu":
        steps = run_fused_loop(
            stepper,
            timeline,
            [step.piece_bias, step.pitch_bias, step.prev],
            step.noise_block,
            (step.forced, step.forced_len, step.forced_steps) if step.forced_steps else None,
            step.records,
            step.max_steps,
            _CHECK_EVERY,
        )
    if steps is None:
        clock = Clock.at_start(
            timeline, stepper.duration_ticks, stepper.condition_offsets, stepper.lookback, stepper.none_ids
        )
        steps = run_free(clock, step, step.max_steps, check_every=_CHECK_EVERY)
    ids = step.records[:steps].cpu().numpy()
    return ids, stepper.duration_ticks.cpu().numpy()[ids[..., 1]]


class _FusedStep:
    """One sampled event per piece through the fused stepper: Gumbel-max draws at the
    stepper's temperature (argmax when greedy), a primer's events forced first."""

    def __init__(
        self,
        stepper: FusedStepper,
        request: Request,
        temperature: float,
        rng: Randomness,
        z: torch.Tensor | None,
        longest: int,
    ) -> None:
        cfg, device = stepper.config, stepper.device
        batch = request.mode.shape[0]
        self.stepper, self.rng, self.greedy = stepper, rng, temperature == 0
        if z is None and cfg.z_dim:
            # Greedy decoding takes the prior's mean, so it is deterministic even without a seed.
            if self.greedy:
                z = torch.zeros(batch, cfg.z_dim, device=device)
            else:
                z = _draw(torch.randn, rng, batch, (cfg.z_dim,), 0, device)
        self.piece_bias = stepper.piece_bias(request.mode.to(device), request.style.to(device), z)
        self.pitch_bias = stepper.pitch_b.expand(batch, -1).clone()
        if request.pitch_allowed is not None:
            self.pitch_bias.masked_fill_(~request.pitch_allowed.to(device), float("-inf"))
        self.forced_steps = 0
        if request.forced is not None and request.forced_len is not None:
            self.forced, self.forced_len = request.forced.to(device), request.forced_len.to(device)
            self.forced_steps = int(self.forced_len.max())
        self.state = stepper.initial_state(batch)
        self.prev = (torch.tensor(stepper.bos, device=device) + stepper.offsets[:3]).expand(batch, 3)
        # Enough steps for the longest piece in its shortest durations, after the longest primer.
        self.max_steps = self.forced_steps + longest // int(stepper.duration_ticks.min()) + 1
        self.records = torch.zeros(self.max_steps, batch, 3, dtype=torch.int64, device=device)
        self.noise = torch.zeros(0)

    def __call__(self, t: int, now: Moment) -> tuple[torch.Tensor, torch.Tensor]:
        stepper = self.stepper
        n_pitch, n_duration = stepper.config.n_pitch, stepper.config.n_duration
        noise = self._gumbel_noise(t)  # (B, n_pitch + n_duration + n_velocity), or None when greedy
        ids = torch.cat((self.prev, now.conditions), 1)
        if now.candidates is not None and now.repeat_states is not None:
            ids = torch.cat((ids, stepper.lookback_ids(now.candidates, now.repeat_states)), 1)
        hidden, self.state = stepper.hidden(ids, self.piece_bias, self.state, self._step_noise())
        logits = stepper.pitch_logits(hidden, self.pitch_bias, now.candidates)
        if noise is not None:
            logits = logits + noise[:, :n_pitch]
        pitch = self._forced(t, 0, logits.argmax(-1))
        both = stepper.duration_velocity_logits(hidden, pitch, now.candidates)
        if noise is not None:
            both = both + noise[:, n_pitch:]
        duration = torch.where(now.fits, both[:, :n_duration], float("-inf")).argmax(-1)
        duration = self._forced(t, 1, duration)
        velocity = self._forced(t, 2, both[:, n_duration:].argmax(-1))
        event = torch.stack((pitch, duration, velocity), 1)
        self.records[t] = event
        self.prev = event + stepper.offsets[:3]
        return pitch, duration

    def _gumbel_noise(self, t: int) -> torch.Tensor | None:
        """Step `t`'s Gumbel noise, drawn `_NOISE_BLOCK` steps at a time (before the step noise)."""
        if self.greedy:
            return None
        if t % _NOISE_BLOCK == 0:
            cfg, batch = self.stepper.config, self.prev.shape[0]
            width = cfg.n_pitch + cfg.n_duration + cfg.n_velocity
            u = _draw(torch.rand, self.rng, batch, (_NOISE_BLOCK, width), 1, self.stepper.device)
            self.noise = -torch.log(-torch.log(u.clamp_(1e-10, 1.0 - 1e-7)))
        return self.noise[t % _NOISE_BLOCK]

    def noise_block(self, t: int) -> torch.Tensor | None:
        """(64, B, width) Gumbel noise of steps `t .. t + 63` (`t` a multiple of 64), drawn as
        the step-by-step loop draws it; None when greedy."""
        self._gumbel_noise(t)
        return None if self.greedy else self.noise

    def _step_noise(self) -> torch.Tensor | None:
        """(B, step_noise) fresh noise for a model that takes it."""
        width = self.stepper.config.step_noise
        if not width:
            return None
        return _draw(torch.randn, self.rng, self.prev.shape[0], (width,), 0, self.stepper.device)

    def _forced(self, t: int, column: int, chosen: torch.Tensor) -> torch.Tensor:
        """`chosen` ids (B,), with the primer's own where step `t` is still in a piece's primer."""
        if t >= self.forced_steps:
            return chosen
        return torch.where(t < self.forced_len, self.forced[:, t, column], chosen)


def _draw(
    fill: Callable[..., torch.Tensor],
    rng: Randomness,
    batch: int,
    shape: tuple[int, ...],
    batch_dim: int,
    device: torch.device | str,
) -> torch.Tensor:
    """`fill` (torch.rand or torch.randn) numbers for a batch: `shape` with the batch inserted at
    `batch_dim`; with one generator per piece, each piece's numbers are those it draws alone."""
    if not isinstance(rng, list):
        full = (*shape[:batch_dim], batch, *shape[batch_dim:])
        return fill(*full, generator=rng, device=device)
    assert len(rng) == batch, f"{len(rng)} generators for a batch of {batch}"
    return torch.stack([fill(*shape, generator=g, device=device) for g in rng], batch_dim)


def piece_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """The generator of the piece made with `seed` (seeds past 2**63 wrap)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed) % (1 << 63))
    return generator


# ------------------------------------------------------------------ public API
def sample(
    bundle: ModelBundle,
    conditions: Sequence[Conditions],
    *,
    temperature: float | None = None,
    seed: int | None = None,
    key_mask: bool = False,
    pitch_range: tuple[int, int] | None = None,
) -> list[NoteStreams]:
    """Generate one melody per request, all in one batch on the bundle's device.

    Args:
        bundle: a loaded model (:func:`~midigan.model.checkpoint.load_model`).
        conditions: one request per piece (bars, meter, key, chords, style, primer).
        temperature: > 0; lower is safer, higher bolder; 0 is greedy; None = the
            model's tuned default (`bundle.temperature`).
        seed: same seed, model and device give the same pieces; None is random. Piece `i`
            draws from its own generator seeded `seed + i`, so it is also the piece that
            `seed + i` gives alone.
        key_mask: forbid pitches outside the requested key's scale (minor with
            its raised 7th).
        pitch_range: `(low, high)` MIDI pitches (in the requested key) the melody
            must stay within; None = the model's whole range.

    Returns:
        One NoteStreams per request, tiling exactly `bars` bars, with the key,
        meter, tempo and chord labels of the request (pitches stored moved to C
        with `shift` set, as every NoteStreams; `to_score()` gives the requested
        key); a primer's events come first, unchanged.

    Raises:
        ConfigError: an empty request list, a bad temperature or pitch range.
        TheoryError: invalid conditions (unknown key, meter, chord or style).
    """
    if not conditions:
        raise ConfigError("sample needs at least one Conditions")
    if temperature is None:
        temperature = bundle.temperature
    if not temperature >= 0 or not np.isfinite(temperature):
        raise ConfigError(f"temperature must be a number >= 0 (got {temperature})")
    for c in conditions:
        c.validate()
    vocab = bundle.vocab
    first = int(seed) if seed is not None else secrets.randbits(63)
    rng = [piece_generator(first + i, bundle.device) for i in range(len(conditions))]
    request = build_request(bundle.generator, vocab, conditions, key_mask, pitch_range)
    ids = _generate(lambda: bundle.stepper(temperature), request, temperature, rng)
    return [_to_streams(vocab, c, piece) for c, piece in zip(conditions, ids, strict=True)]


def build_request(
    generator: Generator,
    vocab: StreamVocab,
    conditions: Sequence[Conditions],
    key_mask: bool = False,
    pitch_range: tuple[int, int] | None = None,
) -> Request:
    """Tensors for :func:`generate_ids` from user requests.

    Raises:
        ConfigError: a pitch range that leaves no pitch of the model's range.
    """
    device = generator.pitch_head.weight.device
    timeline = Timeline.stack([PieceTimeline.of(c) for c in conditions])
    mode = torch.tensor([mode_id(c.key[1]) for c in conditions])
    style = torch.tensor([style_id(c.style) for c in conditions])
    primers = [_primer_ids(vocab, c) for c in conditions]
    forced = forced_len = None
    if any(len(p) for p in primers):
        width = max(len(p) for p in primers)
        forced = torch.zeros(len(primers), width, 3, dtype=torch.int64)
        for b, p in enumerate(primers):
            forced[b, : len(p)] = torch.from_numpy(p)
        forced_len = torch.tensor([len(p) for p in primers])
    allowed = None
    if key_mask or pitch_range is not None:
        allowed = torch.stack([pitch_mask(vocab, c, key_mask, pitch_range) for c in conditions])
    return Request(timeline.to(device), mode.to(device), style.to(device), forced, forced_len, allowed)


def pitch_mask(
    vocab: StreamVocab, conditions: Conditions, key_mask: bool, pitch_range: tuple[int, int] | None
) -> torch.Tensor:
    """(n_pitch,) bool: pitch ids allowed (the rest id always is).

    The model works in C: a pitch id's pitch class is judged against the scale of
    C in the requested mode, and `pitch_range` is moved by the key's shift.

    Raises:
        ConfigError: the range is inverted or excludes every pitch of the model.
    """
    pitches = np.arange(vocab.pitch_low, vocab.pitch_high + 1)
    ok = np.ones(len(pitches), dtype=bool)
    if key_mask:
        scale = scale_pitch_classes(0, conditions.key[1])
        ok &= np.isin(pitches % 12, sorted(scale))
    if pitch_range is not None:
        low, high = pitch_range
        if low > high:
            raise ConfigError(f"pitch_range low {low} is above high {high}")
        shift = shift_to_c(conditions.key[0])
        ok &= (pitches >= low + shift) & (pitches <= high + shift)
    if not ok.any():
        shift = shift_to_c(conditions.key[0])
        known = f"{vocab.pitch_low - shift}..{vocab.pitch_high - shift}"
        raise ConfigError(f"pitch_range {pitch_range} leaves no pitch the model knows ({known} in this key)")
    return torch.from_numpy(np.concatenate(([True], ok)))


def _primer_ids(vocab: StreamVocab, conditions: Conditions) -> np.ndarray:
    """(P, 3) ids of the primer moved to C, or (0, 3)."""
    primer = conditions.primer
    if primer is None or not len(primer):
        return np.zeros((0, 3), dtype=np.int64)
    moved = NoteStreams.from_events(
        _primer_pitch_in_c(primer, conditions), primer.duration, primer.velocity, conditions
    )
    encoded = vocab.encode(moved)
    return np.stack([encoded["pitch"], encoded["duration"], encoded["velocity"]], 1)


def _primer_pitch_in_c(primer: NoteStreams, conditions: Conditions) -> np.ndarray:
    """The primer's pitches (given in the requested key) moved to C like training melodies."""
    shift = shift_to_c(conditions.key[0])
    in_key = primer.pitches_in_key().astype(np.int64)
    return np.where(in_key == REST, REST, in_key + shift)


def _to_streams(vocab: StreamVocab, conditions: Conditions, ids: np.ndarray) -> NoteStreams:
    """Decode one piece's ids; splice the primer's own events back in verbatim."""
    decoded = vocab.decode({"pitch": ids[:, 0], "duration": ids[:, 1], "velocity": ids[:, 2]}, conditions)
    primer = conditions.primer
    if primer is None or not len(primer):
        return decoded
    primer_ticks = int(primer.duration.sum())
    keep = decoded.onset >= primer_ticks
    pitch = np.concatenate((_primer_pitch_in_c(primer, conditions), decoded.pitch[keep]))
    duration = np.concatenate((primer.duration, decoded.duration[keep]))
    velocity = np.concatenate((primer.velocity, decoded.velocity[keep]))
    return NoteStreams.from_events(pitch, duration, velocity, conditions)
