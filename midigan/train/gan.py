"""Adversarial fine-tuning: one discriminator update and one generator update per batch.

Generator loss = `lambda_fm` * feature matching (the squared distance between the
mean discriminator features of real and generated windows, Salimans et al. 2016)
+ `lambda_adv` * the non-saturating adversarial loss + `lambda_mle` * the MLE loss
on the same real windows (an anchor against drift and mode collapse).
Discriminator: binary cross-entropy with one-sided label smoothing and annealed
instance noise on its inputs. Generated windows come from the generator's own
unroll (straight-through Gumbel-softmax) after a short teacher-forced prefix of
the real window, on the real piece's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from midigan.model.conditioning import Timeline
from midigan.model.discriminator import Discriminator, OneHotWindow
from midigan.model.generator import Generator
from midigan.model.unroll import unroll
from midigan.train.batch import Batch
from midigan.train.config import GANConfig
from midigan.train.mle import mle_loss


@dataclass
class GeneratorOutput:
    """What :class:`GeneratorObjective` computes for one batch."""

    mle: torch.Tensor  # () mean NLL per event of the real windows (nats)
    nll_parts: torch.Tensor  # (3,) summed NLL of pitch, duration, velocity
    generated: OneHotWindow | None = None  # the freely generated window, when an unroll was asked


class GeneratorObjective(nn.Module):
    """The generator and its teacher-forced loss in one `forward`, so DDP sees all of its work.

    `forward(batch)` returns the MLE loss and per-stream NLL sums; with `unroll`
    arguments it also returns the freely generated window.
    """

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(
        self,
        batch: Batch,
        timeline: Timeline | None = None,
        prefix: int = 0,
        steps: int = 0,
        tau: float = 1.0,
    ) -> GeneratorOutput:
        z = self.generator.sample_z(batch.size)
        loss, parts = mle_loss(self.generator(batch, z), batch)
        out = GeneratorOutput(loss, parts)
        if timeline is not None and steps > 0:
            out.generated = unroll(self.generator, batch, timeline, prefix=prefix, steps=steps, tau=tau, z=z)
        return out


def real_window(batch: Batch, sizes: tuple[int, int, int], prefix: int, steps: int) -> OneHotWindow:
    """Events `prefix .. prefix + steps` of the real windows, as one-hots."""
    prefix = min(prefix, batch.pitch.shape[1])
    cut = slice(prefix, prefix + steps)
    pitch, duration, velocity = (
        F.one_hot(ids[:, cut], n).float()
        for ids, n in zip((batch.pitch, batch.duration, batch.velocity), sizes, strict=True)
    )
    candidates = batch.candidates[:, cut] if batch.candidates is not None else None
    return OneHotWindow((pitch, duration, velocity), batch.conditions[:, cut], batch.mask[:, cut], candidates)


def _pad_time(x: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad dim 1 to `length`."""
    if x.shape[1] >= length:
        return x[:, :length]
    pad = [0, 0] * (x.dim() - 2) + [0, length - x.shape[1]]
    return F.pad(x, pad)


def judge(
    critic: nn.Module, real: OneHotWindow, fake: OneHotWindow, batch: Batch, noise_std: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the critic over real and generated windows.

    While the critic learns (its parameters require gradients) both go through it in one
    pass, stacked on the batch axis. For the generator's update (critic frozen) the real
    windows need no backward: they are judged without autograd and only the generated
    ones carry a graph, which halves the critic's backward in that update.

    Returns:
        `(real_logits, fake_logits, real_features, fake_features)`.
    """
    T = fake.streams[0].shape[1]
    width = fake.conditions.shape[-1]  # 4 for a model without a form table, which the real ones exceed
    real_streams = tuple(_pad_time(r, T).to(f.dtype) for r, f in zip(real.streams, fake.streams, strict=True))
    real_conditions, real_mask = _pad_time(real.conditions[..., :width], T), _pad_time(real.mask, T)
    real_candidates = fake_candidates = None
    if real.candidates is not None and fake.candidates is not None:
        real_candidates, fake_candidates = _pad_time(real.candidates, T), fake.candidates
    if not any(p.requires_grad for p in critic.parameters()):
        with torch.no_grad():
            real_logits, real_features = critic(
                real_streams, real_conditions, batch.mode, batch.style, real_mask, noise_std, real_candidates
            )
        fake_logits, fake_features = critic(
            fake.streams, fake.conditions, batch.mode, batch.style, fake.mask, noise_std, fake_candidates
        )
        return real_logits, fake_logits, real_features, fake_features
    B = real.mask.shape[0]
    pitch, duration, velocity = (torch.cat((r, f)) for r, f in zip(real_streams, fake.streams, strict=True))
    conditions = torch.cat((real_conditions, fake.conditions))
    mask = torch.cat((real_mask, fake.mask))
    mode = torch.cat((batch.mode, batch.mode))
    style = torch.cat((batch.style, batch.style))
    candidates = None
    if real_candidates is not None and fake_candidates is not None:
        candidates = torch.cat((real_candidates, fake_candidates))
    logits, features = critic(
        (pitch, duration, velocity), conditions, mode, style, mask, noise_std, candidates
    )
    return logits[:B], logits[B:], features[:B], features[B:]


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, smoothing: float
) -> torch.Tensor:
    """BCE with one-sided label smoothing (real target 1 - smoothing, fake target 0)."""
    real = F.binary_cross_entropy_with_logits(
        real_logits.float(), torch.full_like(real_logits.float(), 1 - smoothing)
    )
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits.float()))
    return real + fake


def feature_matching(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """Squared L2 distance between the batch-mean features (real ones held fixed)."""
    return (real_features.detach().float().mean(0) - fake_features.float().mean(0)).pow(2).sum()


def generator_loss(
    out: GeneratorOutput,
    fake_logits: torch.Tensor,
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    config: GANConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted generator objective and its parts (fm, adv, mle)."""
    fm = feature_matching(real_features, fake_features)
    adv = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits.float()))
    total = config.lambda_fm * fm + config.lambda_adv * adv + config.lambda_mle * out.mle
    return total, {"fm": fm.detach(), "adv": adv.detach(), "mle": out.mle.detach()}


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def critic_module(critic: nn.Module) -> Discriminator:
    """The Discriminator inside a DDP wrapper (or the module itself)."""
    return getattr(critic, "module", critic)
