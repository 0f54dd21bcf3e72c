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

Three ways to run it, tested to agree: :meth:`Generator.forward` (teacher forcing
through `nn.LSTM`, cuDNN on CUDA), :meth:`Generator.step` (one differentiable
step, used by the adversarial unroll) and the sampler's fused inference step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from midigan.model.conditioning import ConditionLookup, Timeline
from midigan.model.config import ModelConfig
from midigan.model.lookback import N_STATES, History, LookbackSources, repeat_states

State = list[tuple[torch.Tensor, torch.Tensor]]
"""Per layer `(h, c)`, each (B, H)."""

EVENT_KEYS = ("pitch", "duration", "velocity")


class Generator(nn.Module):
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
        self.chord_in = nn.Embedding(config.n_chord, E)
        self.position_in = nn.Embedding(config.n_position, E)
        self.bars_in = nn.Embedding(config.n_bars_remaining, E)
        self.meter_in = nn.Embedding(config.n_meter, E)
        self.mode_in = nn.Embedding(config.n_mode, E)
        self.style_in = nn.Embedding(config.n_style, E)
        self.z_in = nn.Linear(config.z_dim, E, bias=False) if config.z_dim else None
        self.noise_in = nn.Linear(config.step_noise, E, bias=False) if config.step_noise else None
        self.drop = nn.Dropout(config.dropout)
        between = config.dropout if config.layers > 1 else 0.0
        self.lstm = nn.LSTM(E, H, config.layers, batch_first=True, dropout=between)
        self.pitch_head = nn.Linear(H, config.n_pitch)
        self.pitch_out = nn.Embedding(config.n_pitch, H)
        self.dv_head = nn.Linear(H, config.n_duration + config.n_velocity)
        self.register_buffer("duration_ticks", torch.tensor(list(duration_ticks)), persistent=False)
        condition_sizes = [config.n_chord, config.n_position, config.n_bars_remaining, config.n_meter]
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

    def condition_embedding(self, conditions: torch.Tensor) -> torch.Tensor:
        """(B, T, 4) condition ids -> (B, T, E)."""
        return (
            self.chord_in(conditions[..., 0])
            + self.position_in(conditions[..., 1])
            + self.bars_in(conditions[..., 2])
            + self.meter_in(conditions[..., 3])
        )

    def piece_embedding(
        self, mode: torch.Tensor, style: torch.Tensor, z: torch.Tensor | None
    ) -> torch.Tensor:
        """(B,) mode and style ids plus z (B, z_dim) -> (B, E), constant over the piece."""
        out = self.mode_in(mode) + self.style_in(style)
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
            x = x + self.lookback_in(lookback).sum(-2)
        if self.noise_in is not None:
            if step_noise is None:
                shape = (*x.shape[:2], self.config.step_noise)
                step_noise = torch.randn(shape, device=x.device, dtype=x.dtype)
            x = x + self.noise_in(step_noise)
        return self.drop(x)

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
        duration_logits, velocity_logits = self.dv_logits(hidden, pitch, candidates)
        return pitch_logits, duration_logits, velocity_logits

    def pitch_logits(self, hidden: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        """(..., n_pitch) pitch logits, with each lag's copy bonus on its candidate pitch."""
        logits = self.pitch_head(hidden)
        if self.lookback_in is None:
            return logits
        assert candidates is not None, "this model looks back: pass the candidates"
        cand_pitch = self._candidate_one_hot(candidates[..., 0], self.config.n_pitch, hidden.dtype)
        return logits + (self.copy_pitch(hidden)[..., None, :] @ cand_pitch).squeeze(-2)

    def dv_logits(
        self, hidden: torch.Tensor, pitch: torch.Tensor, candidates: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Duration and velocity logits given the chosen pitch (ids or soft one-hots)."""
        cfg = self.config
        chosen = pitch @ self.pitch_out.weight if pitch.is_floating_point() else self.pitch_out(pitch)
        dv = self.dv_head(hidden + chosen)
        duration_logits = dv[..., : cfg.n_duration]
        if self.lookback_in is not None:
            assert candidates is not None, "this model looks back: pass the candidates"
            n_lags = len(cfg.lookback)
            if pitch.is_floating_point():  # differentiable: the soft pitch's mass on the candidate
                cand_pitch = self._candidate_one_hot(candidates[..., 0], cfg.n_pitch, hidden.dtype)
                same = (cand_pitch * pitch[..., None, :]).sum(-1)  # (..., L)
            else:
                same = (candidates[..., 0] == pitch[..., None]).to(hidden.dtype)
            weights = self.copy_duration(hidden + chosen)  # (..., 2L)
            weights = weights[..., :n_lags] + weights[..., n_lags:] * same
            cand_duration = self._candidate_one_hot(candidates[..., 1], cfg.n_duration, hidden.dtype)
            duration_logits = duration_logits + (weights[..., None, :] @ cand_duration).squeeze(-2)
        return duration_logits, dv[..., cfg.n_duration :]

    @staticmethod
    def _candidate_one_hot(ids: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
        """(..., L) candidate ids, `n` meaning none -> (..., L, n) one-hots (none: all zero)."""
        return F.one_hot(ids, n + 1)[..., :n].to(dtype)

    # ------------------------------------------------------------- teacher forcing
    def forward(
        self,
        batch: dict[str, torch.Tensor],
        z: torch.Tensor | None = None,
        state: State | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced logits for every event of a batch.

        Args:
            batch: `pitch`, `duration`, `velocity` (B, T) target ids; `conditions`
                (B, T, 4) ids at each onset; `mode`, `style` (B,); `prev` (B, 3) the
                event before the window (begin-of-piece ids at a piece start); for a
                lookback model `lookback` (B, T, L, 2) each event's candidates and
                `repeat` (B, T, L) the previous event's repeat states.
            z: (B, z_dim) per-piece noise; drawn fresh when None.
            state: initial LSTM state (zeros when None).

        Returns:
            Logits (B, T, n_pitch), (B, T, n_duration), (B, T, n_velocity).
        """
        pitch = batch["pitch"]
        B, T = pitch.shape
        assert batch["conditions"].shape == (B, T, 4), "conditions must be (B, T, 4)"
        prev = [
            torch.cat((batch["prev"][:, i : i + 1], batch[k][:, :-1]), 1) for i, k in enumerate(EVENT_KEYS)
        ]
        if z is None:
            z = self.sample_z(B)
        piece = self.piece_embedding(batch["mode"], batch["style"], z)
        candidates, lookback = self._batch_lookback(batch, slice(None))
        x = self.inputs(
            (prev[0], prev[1], prev[2]), batch["conditions"], piece, lookback=lookback
        )  # (B, T, E)
        hx = None if state is None else tuple(torch.stack(s) for s in zip(*state, strict=True))
        hidden, _ = self.lstm(x, hx)  # (B, T, H)
        return self.heads(hidden, pitch, candidates)

    def _batch_lookback(
        self, batch: dict[str, torch.Tensor], window: slice
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The batch's candidates (B, T, L, 2) and lookback input ids (B, T, 3L), or Nones."""
        if self.lookback_in is None:
            return None, None
        assert "lookback" in batch, "this model looks back: collate with its lags"
        candidates = batch["lookback"][:, window]
        return candidates, self.lookback_ids(candidates, batch["repeat"][:, window])

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

    # -------------------------------------------------------- adversarial unroll
    def unroll(
        self,
        batch: dict[str, torch.Tensor],
        timeline: Timeline,
        *,
        prefix: int,
        steps: int,
        tau: float,
        z: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Teacher-force `prefix` events, then generate `steps` events freely.

        Generated events are straight-through Gumbel-softmax samples: one-hot in
        the forward pass, softmax gradients in the backward pass, so the
        discriminator's judgement reaches the generator through discrete choices.
        The generator follows its own clock on the real piece's `timeline`;
        durations that would cross the piece's end are masked and a piece that has
        reached its end emits padding.

        Args:
            batch: as for :meth:`forward`, plus `start` (B,) the window's first onset
                and `mask` (B, T); a lookback model also needs `history_pitch` and
                `history_duration` (B, ticks), its pieces' real events by onset.
            timeline: barlines and chords of the batch's pieces.
            prefix: teacher-forced events (clipped to the window).
            steps: freely generated events.
            tau: Gumbel-softmax temperature.
            z: per-piece noise; drawn fresh when None.

        Returns:
            `pitch`, `duration`, `velocity`: (B, steps, n) straight-through one-hots;
            `conditions`: (B, steps, 4) ids at the generated onsets; `mask` (B, steps);
            for a lookback model `lookback` (B, steps, L, 2), the candidates each
            generated event was offered (the discriminator judges repeats with them).
        """
        cfg = self.config
        B = batch["pitch"].shape[0]
        prefix = min(prefix, batch["pitch"].shape[1])
        z = self.sample_z(B) if z is None else z
        piece = self.piece_embedding(batch["mode"], batch["style"], z)  # (B, E)
        state = self.initial_state(B)
        tick = batch["start"].clone()
        last = batch["prev"]  # (B, 3) ids of the event before the first free one
        looks = self.lookback_in is not None
        if looks:
            assert "history_pitch" in batch, "a lookback model unrolls on its pieces' history"
            history = History(
                batch["history_pitch"].clone(), batch["history_duration"].clone(), self.none_ids
            )
            sources = LookbackSources(timeline, cfg.lookback)
            last_state = batch["repeat"][:, 0]  # (B, L) repeat states of the event before the window
        if prefix:
            head = {k: batch[k][:, :prefix] for k in (*EVENT_KEYS, "conditions")}
            prev_ids = [torch.cat((last[:, i : i + 1], head[k][:, :-1]), 1) for i, k in enumerate(EVENT_KEYS)]
            _, lookback = self._batch_lookback(batch, slice(0, prefix))
            x = self.inputs(
                (prev_ids[0], prev_ids[1], prev_ids[2]), head["conditions"], piece, lookback=lookback
            )
            _, (h_n, c_n) = self.lstm(x)
            state = [(h_n[i], c_n[i]) for i in range(cfg.layers)]
            tick = tick + (self.duration_ticks[head["duration"]] * batch["mask"][:, :prefix]).sum(1)
            last = torch.stack([head[k][:, -1] for k in EVENT_KEYS], 1)
            if looks:
                last_state = repeat_states(
                    batch["lookback"][:, prefix - 1], last[:, 0], last[:, 1], cfg.n_pitch
                )
        if looks:
            history.forget_from(tick)  # from here on the history is the generator's own
        # Fused tables for the loop: one matmul embeds the three one-hots, one
        # embedding_bag sums the four condition embeddings.
        event_w = torch.cat(
            (
                self.pitch_in.weight[: cfg.n_pitch],
                self.duration_in.weight[: cfg.n_duration],
                self.velocity_in.weight[: cfg.n_velocity],
            )
        )
        cond_tables = (self.chord_in, self.position_in, self.bars_in, self.meter_in)
        cond_w = torch.cat([t.weight for t in cond_tables])
        lookup = ConditionLookup(timeline, self.condition_offsets)
        end = timeline.end
        all_ticks = self.duration_ticks[None, :]
        event = self.event_embedding(last[:, 0], last[:, 1], last[:, 2])  # (B, E)
        keys = (*EVENT_KEYS, "conditions", "mask", "lookback")
        outs: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
        candidates = None
        for _ in range(steps):
            alive = tick < end  # (B,)
            cond = lookup(tick)  # (B, 4), offsets added
            x = event + F.embedding_bag(cond, cond_w, mode="sum") + piece
            if looks:
                candidates = history.candidates(sources(tick))  # (B, L, 2)
                x = x + self.lookback_in(self.lookback_ids(candidates, last_state)).sum(-2)
            if self.noise_in is not None:
                x = x + self.noise_in(torch.randn(B, cfg.step_noise, device=x.device, dtype=x.dtype))
            hidden, state = self.step(self.drop(x), state)
            pitch, pitch_index = _gumbel_st(self.pitch_logits(hidden, candidates), tau)
            duration_logits, velocity_logits = self.dv_logits(hidden, pitch, candidates)
            fits = all_ticks <= (end - tick)[:, None]  # (B, n_duration)
            fits = fits | ~fits.any(1, keepdim=True)  # nothing fits: the piece has ended, keep logits finite
            duration, index = _gumbel_st(duration_logits.masked_fill(~fits, -1e4), tau)
            velocity, _ = _gumbel_st(velocity_logits, tau)
            if looks:
                history.write(tick, pitch_index, index, alive)
                last_state = repeat_states(candidates, pitch_index, index, cfg.n_pitch)
                outs["lookback"].append(candidates)
            tick = tick + self.duration_ticks[index] * alive
            event = torch.cat((pitch, duration, velocity), 1) @ event_w
            for key, value in zip(keys[:5], (pitch, duration, velocity, cond, alive), strict=True):
                outs[key].append(value)
        result = {k: torch.stack(v, 1) for k, v in outs.items() if v}
        result["conditions"] = result["conditions"] - lookup.offsets
        return result


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
