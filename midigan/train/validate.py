"""Validation each epoch: likelihood, musical statistics of generated melodies, feature distance.

NLL is measured teacher-forced on held-out windows. The musical statistics are
computed alike for held-out melodies and for melodies the generator writes on
the same pieces' timelines, so the gap between the two is a direct, readable
measure of how far the model's music is from the real thing:

- scale consistency: share of notes inside the piece's scale (C major or C minor
  with the raised 7th: the model works in C);
- pitch range: highest minus lowest pitch, in semitones;
- rest ratio: share of the piece's ticks that are rests;
- notes per bar.

Randomness comes from fixed local generators, so validation never disturbs the
training run's RNG stream (resumed runs stay identical).
"""

from __future__ import annotations

import numpy as np
import torch

from midigan.model.generator import Generator
from midigan.model.sampler import Request, generate_ids
from midigan.music.theory import scale_pitch_classes
from midigan.train.dataset import TokenizedCorpus, Window, collate
from midigan.train.mle import stream_nll

STAT_NAMES = ("scale_consistency", "pitch_range", "rest_ratio", "notes_per_bar")


def music_stats(
    pieces: list[np.ndarray], modes: np.ndarray, bars: np.ndarray, low: int, ticks: np.ndarray
) -> dict[str, float]:
    """Mean musical statistics of melodies given as (N, 3) id arrays (pitch, duration, velocity).

    Args:
        pieces: per piece, its event ids.
        modes: (P,) mode ids (0 major, 1 minor).
        bars: (P,) bars per piece.
        low: the vocabulary's lowest pitch (pitch id 1).
        ticks: tick length of each duration id.

    Returns:
        The means of :data:`STAT_NAMES` over pieces (NaN-free: 0.0 for pieces without notes).
    """
    scales = [np.array(sorted(scale_pitch_classes(0, m))) for m in ("major", "minor")]
    rows = []
    for ids, mode, n_bars in zip(pieces, modes.tolist(), bars.tolist(), strict=True):
        notes = ids[:, 0] > 0
        pitch = low + ids[notes, 0] - 1
        length = ticks[ids[:, 1]]
        total = max(int(length.sum()), 1)
        in_scale = float(np.isin(pitch % 12, scales[mode]).mean()) if notes.any() else 0.0
        spread = float(pitch.max() - pitch.min()) if notes.any() else 0.0
        rows.append((in_scale, spread, float(length[~notes].sum()) / total, notes.sum() / max(n_bars, 1)))
    means = np.mean(np.array(rows, dtype=np.float64), axis=0) if rows else np.zeros(len(STAT_NAMES))
    return dict(zip(STAT_NAMES, (float(v) for v in means), strict=True))


@torch.no_grad()
def validation_nll(
    generator: Generator,
    corpus: TokenizedCorpus,
    batches: list[list[Window]],
    device: torch.device,
    autocast: object,
) -> dict[str, float]:
    """Teacher-forced NLL per event (nats) on held-out windows, total and per stream ({} without any)."""
    if not batches:
        return {}
    was = generator.training
    generator.eval()
    sums = torch.zeros(3, device=device)
    events = torch.zeros((), device=device)
    rng = torch.Generator(device=device)
    rng.manual_seed(0)
    for windows in batches:
        batch = collate(corpus, windows, generator.bos, generator.config.lookback).to(device)
        z = None
        if generator.config.z_dim:
            z = torch.randn(len(windows), generator.config.z_dim, generator=rng, device=device)
        with autocast:  # type: ignore[attr-defined]
            logits = generator(batch, z)
        sums += stream_nll(logits, batch)
        events += batch.mask.sum()
    generator.train(was)
    per = (sums / events.clamp(min=1)).tolist()
    return {"nll": float(sum(per)), "nll_pitch": per[0], "nll_duration": per[1], "nll_velocity": per[2]}


def real_and_generated_stats(
    generator: Generator, corpus: TokenizedCorpus, pieces: np.ndarray, device: torch.device, seed: int = 0
) -> dict[str, float]:
    """Musical statistics of real pieces and of generated ones on the same timelines.

    Returns:
        `real_<stat>`, `gen_<stat>` for each of :data:`STAT_NAMES`, and `stat_gap`,
        the sum of absolute gaps, each divided by the real value's scale.
    """
    if not len(pieces):
        return {}
    was = generator.training
    generator.eval()
    windows = [Window(int(p), int(corpus.offsets[p]), int(corpus.offsets[p + 1])) for p in pieces]
    request = Request(
        timeline=corpus.timeline(windows).to(device),
        mode=torch.from_numpy(corpus.mode[pieces]).to(device),
        style=torch.from_numpy(corpus.style[pieces]).to(device),
    )
    rng = torch.Generator(device=device)
    rng.manual_seed(seed)
    generated = generate_ids(generator, request, temperature=1.0, rng=rng)
    generator.train(was)
    real = [corpus.events[w.start : w.stop, :3] for w in windows]
    bars = np.array([len(corpus.timelines[p].bar_meter) for p in pieces])
    ticks = np.asarray(corpus.vocab.durations)
    low = corpus.vocab.pitch_low
    real_stats = music_stats(real, corpus.mode[pieces], bars, low, ticks)
    gen_stats = music_stats(generated, corpus.mode[pieces], bars, low, ticks)
    out = {f"real_{k}": v for k, v in real_stats.items()} | {f"gen_{k}": v for k, v in gen_stats.items()}
    out["stat_gap"] = float(
        sum(abs(gen_stats[k] - real_stats[k]) / max(abs(real_stats[k]), 1e-3) for k in STAT_NAMES)
    )
    return out
