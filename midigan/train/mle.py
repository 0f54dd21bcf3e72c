"""The maximum-likelihood objective: masked cross-entropy over the three streams."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from midigan.train.batch import Batch


def stream_nll(logits: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch: Batch) -> torch.Tensor:
    """Summed negative log-likelihood per stream over the valid events.

    Args:
        logits: pitch, duration, velocity logits, each (B, T, n).
        batch: its targets `pitch`, `duration`, `velocity` (B, T) and `mask` (B, T) are read.

    Returns:
        (3,) float32: summed NLL (nats) of pitch, duration, velocity over valid events.
    """
    mask = batch.mask.reshape(-1)
    out = []
    for value, target in zip(logits, (batch.pitch, batch.duration, batch.velocity), strict=True):
        nll = F.cross_entropy(
            value.float().reshape(-1, value.shape[-1]), target.reshape(-1), reduction="none"
        )
        out.append((nll * mask).sum())
    return torch.stack(out)


def mle_loss(
    logits: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch: Batch
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean NLL per event (the three streams summed) and the per-stream sums.

    Returns:
        `(loss, parts)`: loss is a scalar (nats per event); parts is (3,) summed
        NLL per stream, and the event count is `batch.mask.sum()`.
    """
    parts = stream_nll(logits, batch)
    events = batch.mask.sum().clamp(min=1)
    return parts.sum() / events, parts
