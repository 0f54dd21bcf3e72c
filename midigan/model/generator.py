"""The generator: an autoregressive LSTM over note events, with three output heads.

Each step reads the previous event (pitch, duration, velocity ids), the conditions
at the onset it is about to fill (chord, position in the bar, bars remaining,
meter), the piece's mode and style, and noise (a vector z per piece, optionally
fresh noise per step). All of these are embedded to one width and *summed*: a sum
of embeddings is exactly a linear layer over the concatenated one-hots, so nothing
is lost against concatenation, and the sampler can fold each table through the
first LSTM layer's input weights (see :mod:`midigan.model.sampler`).

Heads: pitch from the top hidden state; duration and velocity from the hidden
state plus an embedding of the pitch just chosen, so a rest can ask for rest-like
lengths and soft velocity.

Two ways to run it, tested to agree: :meth:`Generator.forward` (teacher forcing
through `nn.LSTM`, cuDNN on CUDA) and one event at a time in the free-running loop
(:mod:`midigan.model.free_run`), through :meth:`Generator.step` in the adversarial
unroll (:mod:`midigan.model.unroll`) or the sampler's fused step
(:mod:`midigan.model.stepper`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from midigan.model.conditioning import ConditionTables
from midigan.model.config import ModelConfig
from midigan.model.lookback import N_STATES

State = list[tuple[torch.Tensor, torch.Tensor]]
"""Per layer `(h, c)`, each (B, H)."""


class TeacherBatch(Protocol):
    """The fields of a batch the teacher-forced pass reads (:class:`midigan.train.batch.Batch` has them)."""

    pitch: torch.Tensor  # (B, T) target ids
    duration: torch.Tensor
    velocity: torch.Tensor
    conditions: torch.Tensor  # (B, T, 5) ids at each onset (a model without form reads 4)
    prev: torch.Tensor  # (B, 3) the event before the window
    mode: torch.Tensor  # (B,)
    style: torch.Tensor
    candidates: torch.Tensor | None  # (B, T, L, 2) lookback candidates (lookback models)
    repeat_states: torch.Tensor | None  # (B, T, L) the previous event's repeat states


class Generator(ConditionTables):
    """Conditional LSTM generator of (pitch, duration, velocity) events.

    Args:
        config: hyper-parameters and vocabulary sizes (all `n_*` must be filled).
        duration_ticks: tick length of each duration id (the vocabulary), so the
            generator can keep its own clock.
    """

    def __init__(self, config: ModelConfig, duration_ticks: Sequence[int]) -> None:
        super().__init__()
        sizes = (config.n_pitch, config.n_duration, config.n_velocity, config.n_chord, config.n_position)
        assert min(sizes) > 0 and config.n_meter > 0 and config.n_style > 0, "vocabulary sizes must be set"
        assert len(duration_ticks) == config.n_duration, "one tick length per duration id"
        self.config = config
        E, H = config.embed, config.hidden
        # Previous-event tables carry one extra row: the begin-of-piece id (= n_*).
        self.pitch_in = nn.Embedding(config.n_pitch + 1, E)
        self.duration_in = nn.Embedding(config.n_duration + 1, E)
        self.velocity_in = nn.Embedding(config.n_velocity + 1, E)
        self.add_condition_tables(config, E)
        self.z_in = nn.Linear(config.z_dim, E, bias=False) if config.z_dim else None
        self.noise_in = nn.Linear(config.step_noise, E, bias=False) if config.step_noise else None
        self.drop = nn.Dropout(config.dropout)
        between = config.dropout if config.layers > 1 else 0.0
        self.lstm = nn.LSTM(E, H, config.layers, batch_first=True, dropout=between)
        self.pitch_head = nn.Linear(H, config.n_pitch)
        self.pitch_out = nn.Embedding(config.n_pitch, H)
        # Duration and velocity logits in one layer (its name is the checkpoints' tensor name).
        self.dv_head = nn.Linear(H, config.n_duration + config.n_velocity)
        self.register_buffer("duration_ticks", torch.tensor(list(duration_ticks)), persistent=False)
        condition_sizes = [t.num_embeddings for t in self.condition_tables()]  # 4, or 5 with form
        offsets = torch.tensor([0, *condition_sizes[:-1]]).cumsum(0)
        self.register_buffer("condition_offsets", offsets, persistent=False)  # rows in a fused table
        # Lookback (midigan.model.lookback): per lag, the candidate's pitch and duration
        # (with a "none" row each) and the previous event's repeat state, in one table;
        # the copy heads weigh each lag's candidate as the next pitch and duration.
        n_lags = len(config.lookback)
        self.lookback_in: nn.Embedding | None = None
        if n_lags:
            block = [config.n_pitch + 1, config.n_duration + 1, N_STATES]
            starts = torch.tensor([0, *block[:-1]]).cumsum(0)
            rows = (torch.arange(n_lags)[:, None] * sum(block) + starts).reshape(-1)  # (3L,)
            self.register_buffer("lookback_offsets", rows, persistent=False)
            self.lookback_in = nn.Embedding(n_lags * sum(block), E)
            self.copy_pitch = nn.Linear(H, n_lags)
            self.copy_duration = nn.Linear(H, 2 * n_lags)  # per lag: always, and when the pitch repeats too
            for layer in (self.copy_pitch, self.copy_duration):  # start as the plain model
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    # ------------------------------------------------------------------ inputs
    @property
    def bos(self) -> tuple[int, int, int]:
        """Begin-of-piece ids of the three previous-event tables."""
        return self.config.n_pitch, self.config.n_duration, self.config.n_velocity

    @property
    def none_ids(self) -> tuple[int, int]:
        """The (pitch, duration) candidate ids meaning "no candidate" for a lag."""
        return self.config.n_pitch, self.config.n_duration

    def lookback_ids(self, candidates: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """Rows of `lookback_in`: candidates (..., L, 2) and repeat states (..., L) -> (..., 3L)."""
        ids = torch.cat((candidates, states[..., None]), -1)  # (..., L, 3)
        return ids.flatten(-2) + self.lookback_offsets

    def event_embedding(
        self, pitch: torch.Tensor, duration: torch.Tensor, velocity: torch.Tensor
    ) -> torch.Tensor:
        """Embed previous events given as ids (B, T) or soft one-hots (B, T, n) without BOS."""
        out = []
        for table, value in (
            (self.pitch_in, pitch),
            (self.duration_in, duration),
            (self.velocity_in, velocity),
        ):
            if value.is_floating_point():  # straight-through one-hots from the adversarial unroll
                out.append(value @ table.weight[: value.shape[-1]])
            else:
                out.append(table(value))
        return out[0] + out[1] + out[2]

    def piece_embedding(
        self, mode: torch.Tensor, style: torch.Tensor, z: torch.Tensor | None
    ) -> torch.Tensor:
        """(B,) mode and style ids plus z (B, z_dim) -> (B, E), constant over the piece."""
        out = self.piece_condition_embedding(mode, style)
        if self.z_in is not None:
            assert z is not None and z.shape == (mode.shape[0], self.config.z_dim), "z must be (B, z_dim)"
            out = out + self.z_in(z)
        return out

    def sample_z(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """Per-piece noise (B, z_dim) ~ N(0, I), or None when the model has none."""
        if not self.config.z_dim:
            return None
        device = self.pitch_head.weight.device
        return torch.randn(batch, self.config.z_dim, device=device, generator=generator)

    def inputs(
        self,
        prev: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        conditions: torch.Tensor,
        piece: torch.Tensor,
        step_noise: torch.Tensor | None = None,
        lookback: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Summed LSTM input (B, T, E) from previous events, conditions, piece embedding
        and (for a lookback model) the (B, T, 3L) ids of :meth:`lookback_ids`."""
        x = self.event_embedding(*prev) + self.condition_embedding(conditions) + piece[:, None, :]
        if self.lookback_in is not None:
            assert lookback is not None, "this model looks back: pass the lookback ids"
            x = x + self._lookback_rows(lookback)
        if self.noise_in is not None:
            if step_noise is None:
                shape = (*x.shape[:2], self.config.step_noise)
                step_noise = torch.randn(shape, device=x.device, dtype=x.dtype)
            x = x + self.noise_in(step_noise)
        return self.drop(x)

    def _lookback_rows(self, lookback: torch.Tensor) -> torch.Tensor:
        """(..., 3L) lookback ids -> (..., E), the sum of their rows. In training mode one bag
        sum per event, which never builds the (..., 3L, E) lookups forward or back (an MLE
        step ~4% faster on the CPU; equal to float rounding); eval mode keeps the lookups."""
        if not self.training:
            return self.lookback_in(lookback).sum(-2)
        rows = F.embedding_bag(lookback.reshape(-1, lookback.shape[-1]), self.lookback_in.weight, mode="sum")
        return rows.view(*lookback.shape[:-1], rows.shape[-1])

    # ------------------------------------------------------------------ heads
    def heads(
        self, hidden: torch.Tensor, pitch: torch.Tensor, candidates: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits of the three streams from the top hidden state (..., H).

        Args:
            hidden: (..., H) LSTM output.
            pitch: (...) the pitch ids (or (..., n_pitch) soft one-hots) chosen for
                this event; duration and velocity depend on it.
            candidates: (..., L, 2) lookback candidates (lookback models only): each
                lag's candidate pitch gets a learned bonus, and its duration another,
                larger when the chosen pitch is the candidate's.
        """
        pitch_logits = self.pitch_logits(hidden, candidates)
        duration_logits, velocity_logits = self.duration_velocity_logits(hidden, pitch, candidates)
        return pitch_logits, duration_logits, velocity_logits

    def pitch_logits(self, hidden: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        """(..., n_pitch) pitch logits, with each lag's copy bonus on its candidate pitch."""
        if self.lookback_in is None:
            return self.pitch_head(hidden)
        assert candidates is not None, "this model looks back: pass the candidates"
        logits, copy = self._linears(hidden, self.pitch_head, self.copy_pitch)
        cand_pitch = self._candidate_one_hot(candidates[..., 0], self.config.n_pitch, hidden.dtype)
        return logits + (copy[..., None, :] @ cand_pitch).squeeze(-2)

    def _linears(self, x: torch.Tensor, *layers: nn.Linear) -> list[torch.Tensor]:
        """Each layer applied to `x`. In training mode over whole windows (B, T, H) as one
        product with the weights stacked: `x` is read once, forward and back, instead of once
        per head (2-3% of an MLE step on the CPU). Equal to float rounding; eval mode
        (sampling, scoring, validation) and single steps keep the separate products."""
        if not self.training or x.dim() < 3:
            return [layer(x) for layer in layers]
        weight = torch.cat([layer.weight for layer in layers])
        bias = torch.cat([layer.bias for layer in layers])
        return list(F.linear(x, weight, bias).split([layer.out_features for layer in layers], -1))

    def duration_velocity_logits(
        self, hidden: torch.Tensor, pitch: torch.Tensor, candidates: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Duration and velocity logits given the chosen pitch (ids or soft one-hots)."""
        cfg = self.config
        chosen = pitch @ self.pitch_out.weight if pitch.is_floating_point() else self.pitch_out(pitch)
        mixed = hidden + chosen
        if self.lookback_in is None:
            both = self.dv_head(mixed)
            return both[..., : cfg.n_duration], both[..., cfg.n_duration :]
        both, weights = self._linears(mixed, self.dv_head, self.copy_duration)  # weights (..., 2L)
        duration_logits = both[..., : cfg.n_duration]
        assert candidates is not None, "this model looks back: pass the candidates"
        n_lags = len(cfg.lookback)
        if pitch.is_floating_point():  # differentiable: the soft pitch's mass on the candidate
            cand_pitch = self._candidate_one_hot(candidates[..., 0], cfg.n_pitch, hidden.dtype)
            same = (cand_pitch * pitch[..., None, :]).sum(-1)  # (..., L)
        else:
            same = (candidates[..., 0] == pitch[..., None]).to(hidden.dtype)
        weights = weights[..., :n_lags] + weights[..., n_lags:] * same
        cand_duration = self._candidate_one_hot(candidates[..., 1], cfg.n_duration, hidden.dtype)
        duration_logits = duration_logits + (weights[..., None, :] @ cand_duration).squeeze(-2)
        return duration_logits, both[..., cfg.n_duration :]

    @staticmethod
    def _candidate_one_hot(ids: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
        """(..., L) candidate ids, `n` meaning none -> (..., L, n) one-hots (none: all zero)."""
        return F.one_hot(ids, n + 1)[..., :n].to(dtype)

    # ------------------------------------------------------------- teacher forcing
    def forward(
        self, batch: TeacherBatch, z: torch.Tensor | None = None, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced logits for every event of a batch.

        Args:
            batch: the real windows (a lookback model also reads their `candidates`
                and `repeat_states`).
            z: (B, z_dim) per-piece noise; drawn fresh when None.
            state: initial LSTM state (zeros when None).

        Returns:
            Logits (B, T, n_pitch), (B, T, n_duration), (B, T, n_velocity).
        """
        B, T = batch.pitch.shape
        assert batch.conditions.shape[:2] == (B, T) and batch.conditions.shape[2] >= self.n_conditions, (
            f"conditions must be (B, T, {self.n_conditions}) or wider"
        )
        if z is None:
            z = self.sample_z(B)
        piece = self.piece_embedding(batch.mode, batch.style, z)
        hx = None if state is None else tuple(torch.stack(s) for s in zip(*state, strict=True))
        hidden, _ = self.teacher_forced(batch, piece, T, hx)  # (B, T, H)
        return self.heads(hidden, batch.pitch, batch.candidates if self.lookback_in is not None else None)

    def teacher_forced(
        self,
        batch: TeacherBatch,
        piece: torch.Tensor,
        stop: int,
        hx: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The LSTM over the first `stop` events of a batch, each fed the real event before it.

        Returns:
            The top hidden states (B, stop, H) and the final `(h_n, c_n)`, each (layers, B, H).
        """
        events = (batch.pitch, batch.duration, batch.velocity)
        prev = [torch.cat((batch.prev[:, i : i + 1], e[:, : stop - 1]), 1) for i, e in enumerate(events)]
        lookback = None
        if self.lookback_in is not None:
            assert batch.candidates is not None and batch.repeat_states is not None, (
                "this model looks back: collate with its lags"
            )
            lookback = self.lookback_ids(batch.candidates[:, :stop], batch.repeat_states[:, :stop])
        x = self.inputs((prev[0], prev[1], prev[2]), batch.conditions[:, :stop], piece, lookback=lookback)
        return self.lstm(x, hx)

    # ------------------------------------------------------------------ one step
    def initial_state(self, batch: int) -> State:
        """Zero `(h, c)` for every layer."""
        w = self.pitch_head.weight
        zeros = torch.zeros(batch, self.config.hidden, device=w.device, dtype=w.dtype)
        return [(zeros, zeros) for _ in range(self.config.layers)]

    def step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Advance every layer one event (differentiable; same weights as `forward`).

        Args:
            x: (B, E) summed input of this step.
            state: per layer `(h, c)`.

        Returns:
            The top hidden state (B, H) and the new state.
        """
        new: State = []
        inp = x
        for layer, (h, c) in enumerate(state):
            w_ih = getattr(self.lstm, f"weight_ih_l{layer}")
            w_hh = getattr(self.lstm, f"weight_hh_l{layer}")
            b_ih = getattr(self.lstm, f"bias_ih_l{layer}")
            b_hh = getattr(self.lstm, f"bias_hh_l{layer}")
            h, c = torch.lstm_cell(inp, (h, c), w_ih, w_hh, b_ih, b_hh)
            new.append((h, c))
            inp = h if layer == len(state) - 1 else F.dropout(h, self.lstm.dropout, self.training)
        return inp, new


def parameter_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor a :class:`Generator` of `config` saves, without building it.

    Loading checks a checkpoint's weights header against this before any module is
    allocated, so a tampered config.json (`hidden = 8000`) is refused in microseconds
    instead of after gigabytes. `tests/test_model.py` holds it equal to the real
    `state_dict()` over several configurations.
    """
    E, H, n_lags = config.embed, config.hidden, len(config.lookback)
    shapes: dict[str, tuple[int, ...]] = {
        "pitch_in.weight": (config.n_pitch + 1, E),
        "duration_in.weight": (config.n_duration + 1, E),
        "velocity_in.weight": (config.n_velocity + 1, E),
        "chord_in.weight": (config.n_chord, E),
        "position_in.weight": (config.n_position, E),
        "bars_in.weight": (config.n_bars_remaining, E),
        "meter_in.weight": (config.n_meter, E),
        "mode_in.weight": (config.n_mode, E),
        "style_in.weight": (config.n_style, E),
    }
    if config.n_bar_index:
        shapes["bar_in.weight"] = (config.n_bar_index, E)
    if config.z_dim:
        shapes["z_in.weight"] = (E, config.z_dim)
    if config.step_noise:
        shapes["noise_in.weight"] = (E, config.step_noise)
    for layer in range(config.layers):
        shapes[f"lstm.weight_ih_l{layer}"] = (4 * H, E if layer == 0 else H)
        shapes[f"lstm.weight_hh_l{layer}"] = (4 * H, H)
        shapes[f"lstm.bias_ih_l{layer}"] = (4 * H,)
        shapes[f"lstm.bias_hh_l{layer}"] = (4 * H,)
    shapes.update(
        {
            "pitch_head.weight": (config.n_pitch, H),
            "pitch_head.bias": (config.n_pitch,),
            "pitch_out.weight": (config.n_pitch, H),
            "dv_head.weight": (config.n_duration + config.n_velocity, H),
            "dv_head.bias": (config.n_duration + config.n_velocity,),
        }
    )
    if n_lags:
        block = config.n_pitch + 1 + config.n_duration + 1 + N_STATES
        shapes.update(
            {
                "lookback_in.weight": (n_lags * block, E),
                "copy_pitch.weight": (n_lags, H),
                "copy_pitch.bias": (n_lags,),
                "copy_duration.weight": (2 * n_lags, H),
                "copy_duration.bias": (2 * n_lags,),
            }
        )
    return shapes
