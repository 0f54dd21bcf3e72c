"""A piece's whole latent: its code z and every draw of sampling noise, and walks between two.

A sampled piece is a deterministic function of its latent code z *and* of the Gumbel
noise of every step. The shipped GAN's generator leans on the step noise far more than
on z: holding the noise of seed a fixed and sliding z from seed a's to seed b's changes
almost nothing (EVALUATION.md, "Interpolation"). An interpolation that moves from one
seed's piece to the other's must therefore move both. :func:`draw_latent` draws a
seed's z and its noise uniforms in the order the sampler draws them for a single piece
(z first, then blocks of 64 steps of uniforms); :func:`slerp_latent` interpolates both
spherically, the uniforms through their Gaussian quantiles (so each interpolated draw is
still uniform); :func:`generate_with_latents` samples a batch, one latent per piece.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from midigan.model.checkpoint import ModelBundle
from midigan.model.free_run import Clock, run_free
from midigan.model.sampler import Request, _FusedStep, _threads_for

NOISE_BLOCK = 64  # the sampler's `_NOISE_BLOCK`: uniforms drawn 64 steps at a time


@dataclass
class Latent:
    """One piece's latent: `z` (z_dim,) and `gaussian` (steps, width) noise quantiles."""

    z: torch.Tensor
    gaussian: torch.Tensor


def draw_latent(bundle: ModelBundle, seed: int, steps: int) -> Latent:
    """Seed `seed`'s latent for `steps` steps, drawn as the sampler draws one piece's."""
    cfg, device = bundle.config, bundle.device
    rng = torch.Generator(device=device).manual_seed(int(seed) % (1 << 63))
    z = torch.randn(1, cfg.z_dim, generator=rng, device=device)[0] if cfg.z_dim else torch.zeros(0)
    width = cfg.n_pitch + cfg.n_duration + cfg.n_velocity
    blocks = -(-steps // NOISE_BLOCK)
    u = torch.cat([torch.rand(NOISE_BLOCK, 1, width, generator=rng, device=device) for _ in range(blocks)])
    return Latent(z, torch.special.ndtri(u[:steps, 0].double().clamp(1e-12, 1 - 1e-12)))


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of two vectors of any shape (t=0: a, t=1: b); linear when parallel."""
    fa, fb = a.flatten().double(), b.flatten().double()
    cos = torch.dot(fa, fb) / (fa.norm() * fb.norm()).clamp(min=1e-12)
    omega = float(torch.arccos(cos.clamp(-1.0, 1.0)))
    if omega < 1e-6:
        out = (1 - t) * fa + t * fb
    else:
        out = (np.sin((1 - t) * omega) * fa + np.sin(t * omega) * fb) / np.sin(omega)
    return out.reshape(a.shape).to(a.dtype)


def slerp_latent(a: Latent, b: Latent, t: float) -> Latent:
    """The latent a fraction `t` of the way from `a` to `b` (both parts spherically)."""
    if t == 0.0:
        return a
    if t == 1.0:
        return b
    return Latent(slerp(a.z, b.z, t), slerp(a.gaussian, b.gaussian, t))


class _GivenNoiseStep(_FusedStep):
    """The sampler's fused step with every step's Gumbel noise given, not drawn."""

    given: torch.Tensor  # (steps, B, width) Gumbel noise

    def _gumbel_noise(self, t: int) -> torch.Tensor | None:
        return None if self.greedy else self.given[t]


def generate_with_latents(
    bundle: ModelBundle, request: Request, latents: list[Latent], temperature: float
) -> list[np.ndarray]:
    """One piece per latent (the request's pieces, in order), every random draw taken from it.

    Returns:
        Per piece, an (N, 3) int64 array of pitch, duration, velocity ids.
    """
    batch = request.mode.shape[0]
    assert len(latents) == batch, "one latent per piece"
    device = bundle.device
    z = torch.stack([latent.z for latent in latents]).to(device).float() if bundle.config.z_dim else None
    u = torch.special.ndtr(torch.stack([latent.gaussian for latent in latents], 1)).float().to(device)
    with torch.inference_mode(), _threads_for(batch, torch.device(device)):
        stepper = bundle.stepper(temperature)
        timeline = request.timeline.to(device)
        clock = Clock.at_start(
            timeline, stepper.duration_ticks, stepper.condition_offsets, stepper.lookback, stepper.none_ids
        )
        step = _GivenNoiseStep(stepper, request, temperature, None, z, timeline.longest())
        assert u.shape[0] >= step.max_steps, "the latents hold too few steps of noise"
        step.given = -torch.log(-torch.log(u.clamp_(1e-10, 1.0 - 1e-7)))
        steps = run_free(clock, step, step.max_steps, check_every=8)
        ids = step.records[:steps].cpu().numpy()
        ticks = stepper.duration_ticks.cpu().numpy()[ids[..., 1]]
    ends = timeline.end.cpu().numpy()
    out = []
    for b in range(batch):
        onset = np.concatenate(([0], np.cumsum(ticks[:, b])[:-1]))
        out.append(ids[onset < ends[b], b])
    return out


def steps_needed(bundle: ModelBundle, request: Request) -> int:
    """How many steps of noise a latent needs for `request` (the sampler's step bound)."""
    shortest = int(bundle.generator.duration_ticks.min())
    forced = int(request.forced_len.max()) if request.forced_len is not None else 0
    return forced + request.timeline.longest() // shortest + 1
