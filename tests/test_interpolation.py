"""Interpolation between two seeds' latents: exact ends, shared request, neighbours closer than ends."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import midigan
from midigan.composer.interpolation import interpolate, note_edit_distance
from midigan.errors import ConfigError
from midigan.model.latent import slerp


def test_slerp_ends_and_norm():
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0])
    assert torch.equal(slerp(a, b, 0.0), a) and torch.allclose(slerp(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    assert torch.allclose(middle, (a + b) / 2**0.5)  # on the arc (sin 45°), not the chord ((a + b) / 2)
    assert torch.allclose(slerp(a, 3 * a, 0.5), 2 * a)  # parallel: linear


def test_note_edit_distance():
    a = midigan.compose(bars=4, seed=1, accompaniment=False)
    assert note_edit_distance(a, a) == 0
    empty = midigan.Piece(midigan.Score())
    assert note_edit_distance(a, empty) == len(a.notes)


def test_a_walk_shares_the_request_and_is_reproducible():
    pieces = interpolate((1, 2), steps=4, bars=8, key="G", chords="G C D G")
    assert len(pieces) == 4
    assert {(p.bars, p.key, p.progression, p.tempo, p.score.end) for p in pieces} == {
        (8, "G", pieces[0].progression, pieces[0].tempo, 8 * 48)
    }
    again = midigan.interpolate(seeds=(1, 2), steps=4, bars=8, key="G", chords="G C D G")
    assert [p.to_midi_bytes() for p in pieces] == [p.to_midi_bytes() for p in again]
    assert pieces[0].to_midi_bytes() != pieces[-1].to_midi_bytes()


def test_one_seed_twice_is_one_piece():
    pieces = interpolate((5, 5), steps=3, bars=4)
    assert len({p.to_midi_bytes() for p in pieces}) == 1


def test_neighbours_are_closer_than_the_ends():
    """EVALUATION.md: over 8 pairs, 5 steps, 8 bars: neighbours 28 edits apart, ends 37."""
    neighbours, ends = [], []
    for a in (1, 3, 5, 7):
        pieces = interpolate((a, a + 1), steps=5, bars=8)
        neighbours.append(np.mean([note_edit_distance(x, y) for x, y in itertools.pairwise(pieces)]))
        ends.append(note_edit_distance(pieces[0], pieces[-1]))
    assert np.mean(neighbours) < np.mean(ends)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"seeds": (1, 2, 3)}, "two seeds"), ({"steps": 1}, "steps"), ({"seeds": (1, -2)}, "seeds")],
)
def test_bad_requests(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        interpolate(**kwargs)
