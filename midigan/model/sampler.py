"""Sampling: conditions in, note streams out, batched across pieces on the model's device.

Every piece of a batch advances one event per step through the fused
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
from midigan.model.conditioning import ConditionLookup, Timeline, conditions_timeline, stack_timelines
from midigan.model.generator import Generator
from midigan.model.lookback import NO_CANDIDATE, History, LookbackSources, repeat_states
from midigan.model.stepper import FusedStepper
from midigan.music.theory import scale_pitch_classes
from midigan.representations.conditions import Conditions, mode_id, shift_to_c, style_id
from midigan.representations.streams import REST, NoteStreams, StreamVocab

_TABLE_LIMIT = 1 << 22  # most (pieces x ticks) condition rows precomputed; beyond, search per step
_NOISE_BLOCK = 64  # steps of Gumbel noise drawn at once
_CHECK_EVERY = 8  # steps between "have all pieces ended?" checks (a host sync on CUDA)
_SMALL_BATCH = 16  # CPU batches up to this size sample on one thread


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
    rng: torch.Generator | None = None,
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
    rng: torch.Generator | None,
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
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(
    st: FusedStepper, req: Request, temperature: float, rng: torch.Generator | None, z: torch.Tensor | None
) -> tuple[np.ndarray, np.ndarray]:
    """The step loop. Returns ids (T, B, 3) and their durations in ticks (T, B)."""
    cfg, dev = st.config, st.device
    timeline = req.timeline.to(dev)
    B = timeline.n_bars.shape[0]
    end = timeline.end  # (B,)
    length = timeline.longest()
    offsets = st.offsets
    lookup = ConditionLookup(timeline, offsets[3:7], limit=_TABLE_LIMIT)
    if z is None and cfg.z_dim:
        # Greedy decoding takes the prior's mean, so it is deterministic even without a seed.
        if temperature == 0:
            z = torch.zeros(B, cfg.z_dim, device=dev)
        else:
            z = torch.randn(B, cfg.z_dim, generator=rng, device=dev)
    piece_bias = st.piece_bias(req.mode.to(dev), req.style.to(dev), z)
    pitch_bias = st.pitch_b.expand(B, -1).clone()
    if req.pitch_allowed is not None:
        pitch_bias.masked_fill_(~req.pitch_allowed.to(dev), float("-inf"))
    n_p, n_d = cfg.n_pitch, cfg.n_duration
    dur_ticks = st.duration_ticks
    dur_row = dur_ticks[None, :]
    forced_steps = 0
    if req.forced is not None and req.forced_len is not None:
        forced, forced_len = req.forced.to(dev), req.forced_len.to(dev)
        forced_steps = int(forced_len.max())
    max_steps = forced_steps + length // int(dur_ticks.min()) + 1
    state = st.initial_state(B)
    prev = (torch.tensor(st.bos, device=dev) + offsets[:3]).expand(B, 3)
    tick = torch.zeros(B, dtype=torch.int64, device=dev)
    records = torch.zeros(max_steps, B, 3, dtype=torch.int64, device=dev)
    greedy = temperature == 0
    n_all = n_p + n_d + cfg.n_velocity
    looks = bool(st.lookback)
    if looks:  # what each piece has played, for its lookback candidates
        sources = LookbackSources(timeline, st.lookback, limit=_TABLE_LIMIT)
        history = History.empty(B, length, st.none_ids, dev)
        last_state = torch.full((B, len(st.lookback)), NO_CANDIDATE, dtype=torch.int64, device=dev)
    candidates = None
    steps = 0
    for t in range(max_steps):
        if not greedy and t % _NOISE_BLOCK == 0:
            u = torch.rand(_NOISE_BLOCK, B, n_all, generator=rng, device=dev)
            noise = -torch.log(-torch.log(u.clamp_(1e-10, 1.0 - 1e-7)))
        cond = lookup(tick)
        step_noise = None
        if cfg.step_noise:
            step_noise = torch.randn(B, cfg.step_noise, generator=rng, device=dev)
        ids = torch.cat((prev, cond), 1)
        if looks:
            candidates = history.candidates(sources(tick))  # (B, L, 2)
            ids = torch.cat((ids, st.lookback_ids(candidates, last_state)), 1)
        hidden, state = st.hidden(ids, piece_bias, state, step_noise)
        logits = st.pitch_logits(hidden, pitch_bias, candidates)
        if not greedy:
            logits = logits + noise[t % _NOISE_BLOCK, :, :n_p]
        pitch = logits.argmax(-1)
        if t < forced_steps:
            pitch = torch.where(t < forced_len, forced[:, t, 0], pitch)
        dv = st.dv_logits(hidden, pitch, candidates)
        if not greedy:
            dv = dv + noise[t % _NOISE_BLOCK, :, n_p:]
        fits = dur_row <= (end - tick)[:, None]
        duration = torch.where(fits, dv[:, :n_d], float("-inf")).argmax(-1)
        velocity = dv[:, n_d:].argmax(-1)
        if t < forced_steps:
            duration = torch.where(t < forced_len, forced[:, t, 1], duration)
            velocity = torch.where(t < forced_len, forced[:, t, 2], velocity)
        event = torch.stack((pitch, duration, velocity), 1)
        records[t] = event
        prev = event + offsets[:3]
        if looks:
            history.write(tick, pitch, duration, tick < end)
            last_state = repeat_states(candidates, pitch, duration, st.none_ids[0])
        tick = tick + dur_ticks[duration]
        steps = t + 1
        if steps % _CHECK_EVERY == 0 and bool((tick >= end).all()):
            break
    ids = records[:steps].cpu().numpy()
    return ids, st.duration_ticks.cpu().numpy()[ids[..., 1]]


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
        seed: same seed, model and device give the same pieces; None is random.
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
    rng = torch.Generator(device=bundle.device)
    rng.manual_seed(int(seed) % (1 << 63) if seed is not None else secrets.randbits(63))
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
    timeline = stack_timelines([conditions_timeline(c) for c in conditions])
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
