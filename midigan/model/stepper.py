"""The fused inference step: the generator's arithmetic with the fewest small ops.

Sampling one event at batch 1 is a chain of tiny matrix-vector products, so
Python and dispatch overhead, not arithmetic, set the speed (a plain `nn.LSTM`
call per step costs ~0.7 ms here). At construction every embedding table is
multiplied through the first layer's input weights, so one `embedding_bag` sum
gives the layer-0 gate pre-activations; mode, style and z are constant per piece
and become a per-piece gate bias; gates are reordered (i, f, o, g) so one sigmoid
covers three of them; temperature is folded into the head weights, the key and
range masks into the pitch bias, and the pitch-to-duration path into a table.
The result is the same function as :meth:`Generator.forward` (tested with
`allclose`), at about a tenth of a millisecond per event; the sampler plugs it
into the free-running loop (:mod:`midigan.model.free_run`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from midigan.model.generator import Generator


def _gate_order(hidden: int, device: torch.device) -> torch.Tensor:
    """Row permutation from PyTorch's (i, f, g, o) gate order to (i, f, o, g)."""
    H = hidden
    return torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)]).to(
        device
    )


@dataclass(frozen=True)
class HeadTemperatures:
    """Each head's share of the sampling temperature: its logits are divided by `temperature x share`.

    One temperature for every head is a poor fit for a model with copy heads: a temperature low
    enough to keep its confident repeats (the lookback's copy weights) also narrows the notes it
    writes fresh to the few most likely pitches and durations (the user-path evaluation found
    fewer pitch classes and more quarter notes than the real tunes). With shares, fresh pitches
    and durations can be drawn bolder while the copy decisions stay sharp. All 1.0 is the one
    temperature (checkpoints without shares in their config sample exactly as before).

    Attributes:
        pitch: the pitch head (fresh pitches, before the copy weights are added).
        duration: the duration head (fresh durations).
        copy: the lookback copy weights, for pitch and duration alike.
    """

    pitch: float = 1.0
    duration: float = 1.0
    copy: float = 1.0

    def __post_init__(self) -> None:
        for name in ("pitch", "duration", "copy"):
            value = getattr(self, name)
            assert 0 < value <= 10, f"head temperature share {name} = {value} is out of (0, 10]"


class FusedStepper:
    """Precomputed weights of one generator for step-by-step inference.

    Args:
        generator: the model (read once; later changes to it are not seen).
        temperature: sampling temperature > 0; 0 means greedy (no noise, no scaling).
        heads: each head's share of `temperature` (:class:`HeadTemperatures`); unused when greedy.
    """

    def __init__(
        self, generator: Generator, temperature: float = 1.0, heads: HeadTemperatures | None = None
    ) -> None:
        assert temperature >= 0, "temperature must be >= 0"
        g, cfg = generator, generator.config
        self.config = cfg
        self.device = g.pitch_head.weight.device
        H = cfg.hidden
        order = _gate_order(H, self.device)
        heads = heads or HeadTemperatures()
        scale = 1.0 / temperature if temperature > 0 else 1.0
        shares = (heads.pitch, heads.duration, heads.copy) if temperature > 0 else (1.0, 1.0, 1.0)
        pitch_scale, duration_scale, copy_scale = (scale / share for share in shares)
        # The duration and velocity logits come out of one product: scale their columns apart.
        dv_scale = torch.full((g.dv_head.weight.shape[0],), scale, device=self.device)
        dv_scale[: cfg.n_duration] = duration_scale
        with torch.no_grad():
            # Previous event (3), conditions (4, or 5 with the form table), then lookback.
            tables = [g.pitch_in, g.duration_in, g.velocity_in, *g.condition_tables()]
            self.n_inputs = len(tables)  # ids per step before the lookback rows: 7 or 8
            if g.lookback_in is not None:
                tables.append(g.lookback_in)
            sizes = [t.num_embeddings for t in tables]
            offsets = torch.tensor([0, *sizes[:-1]]).cumsum(0)
            self.offsets = offsets.to(self.device)  # where each feature's rows start
            w_ih0 = g.lstm.weight_ih_l0[order]  # (4H, E)
            self.fused0 = torch.cat([t.weight for t in tables]) @ w_ih0.T  # (N, 4H)
            self.bias0 = g.lstm.bias_ih_l0[order] + g.lstm.bias_hh_l0[order]
            self.w_ih0 = w_ih0
            self.whhT = [getattr(g.lstm, f"weight_hh_l{i}")[order].T.contiguous() for i in range(cfg.layers)]
            self.wihT = [None] + [
                getattr(g.lstm, f"weight_ih_l{i}")[order].T.contiguous() for i in range(1, cfg.layers)
            ]
            self.bias = [self.bias0] + [
                getattr(g.lstm, f"bias_ih_l{i}")[order] + getattr(g.lstm, f"bias_hh_l{i}")[order]
                for i in range(1, cfg.layers)
            ]
            self.pitch_wT = (g.pitch_head.weight.T * pitch_scale).contiguous()  # (H, n_pitch)
            self.pitch_b = g.pitch_head.bias * pitch_scale
            self.duration_velocity_wT = (g.dv_head.weight.T * dv_scale).contiguous()  # (H, n_dur + n_vel)
            self.duration_velocity_b = g.dv_head.bias * dv_scale
            # (n_pitch, n_dur + n_vel): the chosen pitch's share of the duration and velocity logits
            self.pitch_duration_velocity = (g.pitch_out.weight @ g.dv_head.weight.T) * dv_scale
            self.mode_rows = g.mode_in.weight @ w_ih0.T  # (n_mode, 4H)
            self.style_rows = g.style_in.weight @ w_ih0.T
            self.z_rows = None if g.z_in is None else g.z_in.weight.T @ w_ih0.T  # (z_dim, 4H)
            self.noise_rows = None if g.noise_in is None else g.noise_in.weight.T @ w_ih0.T
            self.lookback = tuple(cfg.lookback)
            if self.lookback:
                # Rows of each lag's candidate and state in the fused table (offsets added).
                self.lookback_rows = g.lookback_offsets + self.offsets[self.n_inputs]
                self.copy_pitch_wT = (g.copy_pitch.weight.T * copy_scale).contiguous()  # (H, L)
                self.copy_pitch_b = g.copy_pitch.bias * copy_scale
                self.copy_duration_wT = (g.copy_duration.weight.T * copy_scale).contiguous()  # (H, 2L)
                self.copy_duration_b = g.copy_duration.bias * copy_scale
                # (n_pitch, 2L)
                self.pitch_copy = (g.pitch_out.weight @ g.copy_duration.weight.T) * copy_scale
        self.duration_ticks = g.duration_ticks
        self.bos = g.bos
        self.none_ids = g.none_ids

    @property
    def condition_offsets(self) -> torch.Tensor:
        """(4 or 5,) where each condition's rows start in the fused table."""
        return self.offsets[3 : self.n_inputs]

    def piece_bias(self, mode: torch.Tensor, style: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """(B, 4H) layer-0 gate bias of each piece: biases + mode + style + z."""
        out = self.bias0 + self.mode_rows[mode] + self.style_rows[style]
        if self.z_rows is not None:
            assert z is not None, "this model needs z"
            out = out + z @ self.z_rows
        return out

    def initial_state(self, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        zeros = torch.zeros(batch, self.config.hidden, device=self.device)
        return [(zeros, zeros) for _ in range(self.config.layers)]

    def hidden(
        self,
        ids: torch.Tensor,
        piece_bias: torch.Tensor,
        state: list[tuple[torch.Tensor, torch.Tensor]],
        step_noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """One LSTM step.

        Args:
            ids: (B, 7 or 8) row ids into the fused table (previous pitch, duration,
                velocity, chord, position, bars remaining, meter, and bar index for a
                model with a form table; offsets added), then for a lookback model the
                (B, 3L) of :meth:`lookback_ids`.
            piece_bias: (B, 4H) from :meth:`piece_bias`.
            state: per layer `(h, c)`.
            step_noise: (B, step_noise) when the model uses per-step noise.

        Returns:
            Top hidden state (B, H) and the new state.
        """
        H = self.config.hidden
        x = F.embedding_bag(ids, self.fused0, mode="sum")  # (B, 4H)
        if step_noise is not None and self.noise_rows is not None:
            x = x + step_noise @ self.noise_rows
        new = []
        for layer, (h, c) in enumerate(state):
            if layer == 0:
                gates = torch.addmm(piece_bias, h, self.whhT[0]).add_(x)
            else:
                gates = torch.addmm(self.bias[layer], x, self.wihT[layer]).addmm_(h, self.whhT[layer])
            sig = gates[:, : 3 * H].sigmoid()
            c = torch.addcmul(sig[:, H : 2 * H] * c, sig[:, :H], gates[:, 3 * H :].tanh())
            h = sig[:, 2 * H :] * c.tanh()
            new.append((h, c))
            x = h
        return x, new

    def lookback_ids(self, candidates: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """(B, L, 2) candidates and (B, L) repeat states -> (B, 3L) rows of the fused table."""
        return torch.cat((candidates, states[..., None]), -1).flatten(1) + self.lookback_rows

    def pitch_logits(
        self, hidden: torch.Tensor, pitch_bias: torch.Tensor, candidates: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, n_pitch) temperature-scaled pitch logits; masks live in `pitch_bias`.

        A lookback model adds each lag's copy weight to its candidate pitch
        (`candidates` (B, L, 2); "none" candidates land in a dropped extra column).
        """
        logits = torch.addmm(pitch_bias, hidden, self.pitch_wT)
        if not self.lookback:
            return logits
        assert candidates is not None, "this model looks back: pass the candidates"
        weights = torch.addmm(self.copy_pitch_b, hidden, self.copy_pitch_wT)  # (B, L)
        padded = F.pad(logits, (0, 1))
        return padded.scatter_add_(1, candidates[..., 0], weights)[:, :-1]

    def duration_velocity_logits(
        self, hidden: torch.Tensor, pitch: torch.Tensor, candidates: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, n_dur + n_vel) temperature-scaled duration and velocity logits given the pitch."""
        both = torch.addmm(self.duration_velocity_b, hidden, self.duration_velocity_wT)
        both = both.add_(self.pitch_duration_velocity.index_select(0, pitch))
        if not self.lookback:
            return both
        assert candidates is not None, "this model looks back: pass the candidates"
        n_lags, n_d = len(self.lookback), self.config.n_duration
        weights = torch.addmm(self.copy_duration_b, hidden, self.copy_duration_wT)
        weights = weights.add_(self.pitch_copy.index_select(0, pitch))  # (B, 2L)
        same = (candidates[..., 0] == pitch[:, None]).to(weights.dtype)
        weights = weights[:, :n_lags] + weights[:, n_lags:] * same
        duration = F.pad(both[:, :n_d], (0, 1)).scatter_add_(1, candidates[..., 1], weights)[:, :-1]
        return torch.cat((duration, both[:, n_d:]), 1)
