"""The form condition: the bar index reaches the generator, and a model learns from it where it stands."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from conftest import make_score
from model_helpers import TINY_VOCAB, tiny_bundle

from midigan.model.sampler import sample
from midigan.representations.conditions import Conditions
from midigan.representations.ids import MAX_BAR_INDEX
from midigan.representations.streams import NoteStreams
from midigan.train.batch import Batch

MARK = 76  # the note of bar index 4, and of no other bar
OTHERS = (60, 64, 67)
RHYTHMS = ((48,), (24, 24), (12, 12, 24), (24, 12, 12), (12, 12, 12, 12))


def _tune(rng: np.random.Generator) -> NoteStreams:
    """6-12 bars of 4/4 with a random rhythm in each bar: bar 4 plays MARK only, the others never.

    Lengths and rhythms vary, so neither bars remaining nor a count of events says where bar 4
    is: the bar index does."""
    notes, tick = [], 0
    for bar in range(int(rng.integers(6, 13))):
        for d in RHYTHMS[int(rng.integers(len(RHYTHMS)))]:
            notes.append((MARK if bar == 4 else int(rng.choice(OTHERS)), tick, d, 80))
            tick += d
    return NoteStreams.from_score(make_score(notes))


def _batch(tunes: list[NoteStreams]) -> Batch:
    encoded = [TINY_VOCAB.encode(t) for t in tunes]
    T = max(len(e["pitch"]) for e in encoded)
    columns = ("pitch", "duration", "velocity", "chord", "position", "bars_remaining", "meter", "bar_index")
    events = np.zeros((len(tunes), T, len(columns)), dtype=np.int64)
    mask = np.zeros((len(tunes), T), dtype=bool)
    for i, e in enumerate(encoded):
        n = len(e["pitch"])
        events[i, :n] = np.stack([e[c] for c in columns], 1)
        events[i, n:, 5] = 1  # padding: a valid bars-remaining id
        mask[i, :n] = True
    x = torch.from_numpy(events)
    bos = torch.tensor([TINY_VOCAB.n_pitch, TINY_VOCAB.n_duration, TINY_VOCAB.n_velocity])
    return Batch(
        pitch=x[..., 0],
        duration=x[..., 1],
        velocity=x[..., 2],
        conditions=x[..., 3:],
        mask=torch.from_numpy(mask),
        prev=bos.expand(len(tunes), 3),
        mode=torch.zeros(len(tunes), dtype=torch.int64),
        style=torch.zeros(len(tunes), dtype=torch.int64),
        start=torch.zeros(len(tunes), dtype=torch.int64),
    )


def _train(form: int, batch: Batch, steps: int = 150) -> tuple[object, list[float], float]:
    """Teacher-forced; returns the bundle, the loss curve and the final pitch loss on bar-4 notes."""
    bundle = tiny_bundle(seed=0, layers=1, lookback=(), z_dim=0, n_bar_index=form)
    g = bundle.generator.train()
    opt = torch.optim.Adam(g.parameters(), lr=0.02)
    losses = []
    targets = (batch.pitch, batch.duration, batch.velocity)
    for _ in range(steps):
        logits = g(batch)  # all three streams, so greedy samples keep the corpus' rhythms
        loss = sum(
            F.cross_entropy(x[batch.mask], y[batch.mask]) for x, y in zip(logits, targets, strict=True)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    g.eval()
    with torch.no_grad():
        pitch, _, _ = g(batch)
        on_mark = batch.mask & (batch.conditions[..., 4] == 4)
        mark_loss = float(F.cross_entropy(pitch[on_mark], batch.pitch[on_mark]))
    return bundle, losses, mark_loss


def test_bar_index_of_the_streams_counts_bars_from_the_first_barline_and_is_clipped():
    tune = _tune(np.random.default_rng(0))
    starts = tune.bar_starts()
    assert tune.bar_index.tolist() == (np.searchsorted(starts, tune.onset, side="right") - 1).tolist()
    ids = TINY_VOCAB.encode(NoteStreams.from_score(make_score([(60, 48 * b, 48, 80) for b in range(40)])))
    assert ids["bar_index"].tolist() == [*range(MAX_BAR_INDEX), *[MAX_BAR_INDEX - 1] * 8]


def test_a_model_with_the_form_table_learns_what_bar_4_holds_and_samples_it_there():
    rng = np.random.default_rng(1)
    batch = _batch([_tune(rng) for _ in range(32)])
    mark_id = MARK - TINY_VOCAB.pitch_low + 1
    assert bool((batch.pitch[batch.mask & (batch.conditions[..., 4] == 4)] == mark_id).all())
    bundle, losses, mark_loss = _train(32, batch)
    _, _, plain_mark_loss = _train(0, batch)
    assert losses[-1] < 0.6 * losses[0], losses[::25]
    assert mark_loss < 0.2, mark_loss  # bar 4 is near certain given its bar index (measured 0.08)
    assert plain_mark_loss > 4 * mark_loss, (plain_mark_loss, mark_loss)  # only the bar index says so (0.81)
    pieces = sample(bundle, [Conditions(bars) for bars in (6, 9, 12)], temperature=0)
    for piece in pieces:
        notes = piece.pitches_in_key()
        in_bar4 = piece.bar_index == 4
        played = notes != -1
        assert played[in_bar4].any() and (notes[in_bar4 & played] == MARK).all(), notes[in_bar4]
        assert not (notes[~in_bar4] == MARK).any(), notes
