"""The discriminator: a bidirectional LSTM over (soft) one-hot note streams.

Real pieces enter as one-hots of their ids, generated ones as the generator's
straight-through Gumbel one-hots (so gradients reach the generator); both carry
the conditions at their own onsets, so the critic can judge whether a melody fits
its chords and its place in the bar. The mean of the hidden states over valid
steps is the feature vector the generator matches (Salimans et al. 2016); a linear
layer on it gives the real/fake logit.
"""

from __future__ import annotations

import torch
from torch import nn

from midigan.model.config import DiscriminatorConfig, ModelConfig


class Discriminator(nn.Module):
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
        self.chord_in = nn.Embedding(sizes.n_chord, E)
        self.position_in = nn.Embedding(sizes.n_position, E)
        self.bars_in = nn.Embedding(sizes.n_bars_remaining, E)
        self.meter_in = nn.Embedding(sizes.n_meter, E)
        self.mode_in = nn.Embedding(sizes.n_mode, E)
        self.style_in = nn.Embedding(sizes.n_style, E)
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
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Judge a batch of event sequences.

        Args:
            streams: pitch, duration, velocity one-hots (B, T, n_*), soft or hard.
            conditions: (B, T, 4) condition ids at each onset.
            mode, style: (B,) ids.
            mask: (B, T) bool, True on real events.
            noise_std: instance noise added to the one-hots (a stabiliser: real and
                fake distributions overlap, so the critic cannot become perfect early).

        Returns:
            `(logit (B,), features (B, 2H))`, features being the masked mean of the
            bidirectional hidden states.
        """
        pitch, duration, velocity = streams
        if noise_std > 0:
            pitch, duration, velocity = (s + noise_std * torch.randn_like(s) for s in streams)
        x = (
            self.pitch_in(pitch)
            + self.duration_in(duration)
            + self.velocity_in(velocity)
            + self.chord_in(conditions[..., 0])
            + self.position_in(conditions[..., 1])
            + self.bars_in(conditions[..., 2])
            + self.meter_in(conditions[..., 3])
            + (self.mode_in(mode) + self.style_in(style))[:, None, :]
        )  # (B, T, E)
        weights = mask.to(x.dtype)[..., None]
        hidden, _ = self.lstm(self.drop(x * weights))  # (B, T, 2H); padding carries no content
        weights = weights.to(hidden.dtype)
        features = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, 2H)
        return self.out(features).squeeze(-1), features
