"""The discriminator: a bidirectional LSTM over (soft) one-hot note streams.

Real pieces enter as one-hots of their ids, generated ones as the generator's
straight-through Gumbel one-hots (so gradients reach the generator); both carry
the conditions at their own onsets, so the critic can judge whether a melody fits
its chords and its place in the bar. For a lookback generator the critic also
sees, per event and lag, whether the event repeats its lookback candidate (the
event at the same place `lag` bars back): phrase repetition is what tells real
tunes from generated ones (EVALUATION.md), and a critic reading one event at a
time cannot see it otherwise. For generated events that repeat flag is the soft
one-hots' mass on the candidate, so its gradient reaches the generator's choice
to repeat. The mean of the hidden states over valid
steps is the feature vector the generator matches (Salimans et al. 2016); a linear
layer on it gives the real/fake logit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from midigan.model.conditioning import ConditionTables
from midigan.model.config import DiscriminatorConfig, ModelConfig


@dataclass
class OneHotWindow:
    """Events as (soft) one-hots with the conditions at their onsets: what the critic judges.

    Real windows (:func:`midigan.train.gan.real_window`) and generated ones
    (:func:`midigan.model.unroll.unroll`, straight-through one-hots) alike.
    """

    streams: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # pitch, duration, velocity (B, T, n_*)
    conditions: torch.Tensor  # (B, T, C) condition ids (C = 4, or 5 with a form table)
    mask: torch.Tensor  # (B, T) bool: True on events
    candidates: torch.Tensor | None = None  # (B, T, L, 2) lookback candidates (lookback models)

    def detach(self) -> OneHotWindow:
        """The same window cut from the generator's graph (for the critic's own update)."""
        pitch, duration, velocity = (s.detach() for s in self.streams)
        candidates = None if self.candidates is None else self.candidates.detach()
        return OneHotWindow(
            (pitch, duration, velocity), self.conditions.detach(), self.mask.detach(), candidates
        )


class Discriminator(ConditionTables):
    """Bidirectional LSTM critic.

    Args:
        config: critic hyper-parameters.
        sizes: the generator's config, for the vocabulary sizes.
    """

    def __init__(self, config: DiscriminatorConfig, sizes: ModelConfig) -> None:
        super().__init__()
        E, H = config.embed, config.hidden
        self.sizes = sizes
        self.pitch_in = nn.Linear(sizes.n_pitch, E, bias=False)
        self.duration_in = nn.Linear(sizes.n_duration, E, bias=False)
        self.velocity_in = nn.Linear(sizes.n_velocity, E, bias=False)
        self.add_condition_tables(sizes, E)
        n_lags = len(sizes.lookback)
        self.repeat_in = (
            nn.Linear(2 * n_lags, E, bias=False) if n_lags else None
        )  # per lag: has a candidate, repeats it
        self.drop = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(E, H, 1, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * H, 1)

    def forward(
        self,
        streams: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        conditions: torch.Tensor,
        mode: torch.Tensor,
        style: torch.Tensor,
        mask: torch.Tensor,
        noise_std: float = 0.0,
        candidates: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Judge a batch of event sequences.

        Args:
            streams: pitch, duration, velocity one-hots (B, T, n_*), soft or hard.
            conditions: (B, T, C >= 4) condition ids at each onset (5 read with a form table).
            mode, style: (B,) ids.
            mask: (B, T) bool, True on real events.
            noise_std: instance noise added to the one-hots (a stabiliser: real and
                fake distributions overlap, so the critic cannot become perfect early).
            candidates: (B, T, L, 2) each event's lookback candidate ids (lookback
                generators only; "none" is the pitch and duration count).

        Returns:
            `(logit (B,), features (B, 2H))`, features being the masked mean of the
            bidirectional hidden states.
        """
        pitch, duration, velocity = streams
        repeats = self._repeats(pitch, duration, candidates) if self.repeat_in is not None else None
        if noise_std > 0:
            pitch, duration, velocity = (s + noise_std * torch.randn_like(s) for s in streams)
        x = self.pitch_in(pitch) + self.duration_in(duration) + self.velocity_in(velocity)
        x = self.condition_embedding(conditions, onto=x)
        x = x + self.piece_condition_embedding(mode, style)[:, None, :]  # (B, T, E)
        if repeats is not None:
            x = x + self.repeat_in(repeats.to(x.dtype))
        weights = mask.to(x.dtype)[..., None]
        hidden, _ = self.lstm(self.drop(x * weights))  # (B, T, 2H); padding carries no content
        weights = weights.to(hidden.dtype)
        features = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, 2H)
        return self.out(features).squeeze(-1), features

    def _repeats(
        self, pitch: torch.Tensor, duration: torch.Tensor, candidates: torch.Tensor | None
    ) -> torch.Tensor:
        """(B, T, 2L): per lag, whether a candidate exists and the (soft) event's mass on it."""
        assert candidates is not None, "a lookback critic needs each event's candidates"
        n_p, n_d = self.sizes.n_pitch, self.sizes.n_duration
        exists = (candidates[..., 0] < n_p).to(pitch.dtype)  # (B, T, L)
        on_pitch = pitch.gather(-1, candidates[..., 0].clamp(max=n_p - 1))
        on_duration = duration.gather(-1, candidates[..., 1].clamp(max=n_d - 1))
        return torch.cat((exists, exists * on_pitch * on_duration), -1)
