"""Sampling: exact bars, masks, seeds, primers, batching."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import tiny_bundle

from midigan.composer.request import conditions_from_text
from midigan.errors import ConfigError
from midigan.model.sampler import sample
from midigan.music.theory import scale_pitch_classes
from midigan.representations.conditions import Conditions
from midigan.representations.ids import meter_id
from midigan.representations.streams import NoteStreams


@pytest.fixture(scope="module")
def bundle():
    return tiny_bundle(seed=3)


@pytest.mark.parametrize("meter", [(4, 4), (3, 4), (6, 8), (2, 4), (5, 4), (9, 8), (7, 8)])
def test_pieces_fill_exactly_the_requested_bars(bundle, meter):
    requests = [Conditions(bars, meter) for bars in (1, 3, 8)]
    for request, piece in zip(requests, sample(bundle, requests, seed=1), strict=True):
        assert int(piece.duration.sum()) == request.total_ticks()
        assert piece.to_score().bar_count == request.bars
        assert np.all(piece.duration > 0)
        assert np.all(piece.meter == meter_id(*meter))


def test_no_generated_event_crosses_the_final_barline(bundle):
    request = Conditions(4, (3, 4))
    for piece in sample(bundle, [request] * 16, seed=2, temperature=1.5):
        assert np.all(piece.onset + piece.duration <= request.total_ticks())
        durations = set(piece.duration.tolist())
        assert durations <= set(bundle.vocab.durations), "no event was cut: the mask did the fitting"


def test_same_seed_same_music_other_seed_other_music(bundle):
    requests = [conditions_from_text(6, meter="4/4", key="G", chords="G C D G")] * 3
    first, again, other = (sample(bundle, requests, seed=s) for s in (7, 7, 8))
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.pitch, b.pitch) and np.array_equal(a.duration, b.duration)
        assert np.array_equal(a.velocity, b.velocity)
    assert any(not np.array_equal(a.pitch, c.pitch) for a, c in zip(first, other, strict=True))


@pytest.mark.parametrize(("key", "mode"), [(2, "major"), (9, "minor"), (6, "major")])
def test_key_mask_keeps_every_note_in_the_requested_scale(bundle, key, mode):
    request = Conditions(8, (4, 4), (key, mode))
    scale = scale_pitch_classes(key, mode)
    pieces = sample(bundle, [request] * 8, seed=4, key_mask=True)
    for piece in pieces:
        pitches = piece.to_score().tracks[0].notes
        assert pitches, "the tiny model still writes notes"
        assert {n.pitch % 12 for n in pitches} <= scale
        assert piece.key.tonic == key and piece.key.mode == mode
    unmasked = sample(bundle, [request] * 8, seed=4)
    outside = [n for p in unmasked for n in p.to_score().tracks[0].notes if n.pitch % 12 not in scale]
    assert outside, "an untrained model strays outside the key without the mask"


def test_range_mask_keeps_pitches_in_range(bundle):
    request = Conditions(8, key=(5, "major"))
    for piece in sample(bundle, [request] * 6, seed=5, pitch_range=(65, 72)):
        notes = [n.pitch for n in piece.to_score().tracks[0].notes]
        assert notes and min(notes) >= 65 and max(notes) <= 72
    with pytest.raises(ConfigError, match="pitch_range"):
        sample(bundle, [request], pitch_range=(10, 12))


def test_chords_are_attached_in_the_requested_key(bundle):
    request = conditions_from_text(4, meter="3/4", key="D", chords="D G | A D")
    piece = sample(bundle, [request], seed=0)[0]
    labels = piece.to_score().chords
    assert [(c.tick, c.root) for c in labels[:3]] == [(0, 2), (18, 7), (36, 9)]
    assert piece.chord[0] != 0


def test_primer_is_kept_verbatim_and_continued(bundle):
    primer_score_notes = [(62, 0, 12, 70), (66, 12, 6, 100), (69, 18, 30, 55)]
    from conftest import make_score

    score = make_score(primer_score_notes, key=(2, "major"))
    primer = NoteStreams.from_score(score, to_c=False)
    primer_ticks = 48
    keep = np.cumsum(primer.duration) <= primer_ticks
    primer = NoteStreams.from_events(primer.pitch[keep], primer.duration[keep], primer.velocity[keep], primer)
    request = Conditions(4, (4, 4), (2, "major"), primer=primer)
    piece, free = sample(bundle, [request, Conditions(4, (4, 4), (2, "major"))], seed=9)
    notes = piece.to_score().tracks[0].notes
    assert [(n.pitch, n.onset, n.duration, n.velocity) for n in notes[:3]] == primer_score_notes
    assert int(piece.duration.sum()) == request.total_ticks()
    assert len(piece) > 3 and int(piece.onset[3]) >= primer_ticks
    assert int(free.duration.sum()) == request.total_ticks()


def test_greedy_sampling_is_deterministic_without_a_seed(bundle):
    a = sample(bundle, [Conditions(3)], temperature=0)[0]
    b = sample(bundle, [Conditions(3)], temperature=0)[0]
    assert np.array_equal(a.pitch, b.pitch)


def test_pieces_of_different_lengths_share_a_batch(bundle):
    """A short piece ends on its own barline while a long one goes on."""
    pieces = sample(bundle, [Conditions(1), Conditions(16), Conditions(2, (6, 8))], seed=11)
    assert [int(p.duration.sum()) for p in pieces] == [48, 16 * 48, 72]
    assert [p.bar_count for p in pieces] == [1, 16, 2]


def test_bad_arguments_are_refused(bundle):
    with pytest.raises(ConfigError):
        sample(bundle, [])
    with pytest.raises(ConfigError, match="temperature"):
        sample(bundle, [Conditions(2)], temperature=-1)
    with pytest.raises(ConfigError, match="bars"):
        sample(bundle, [Conditions(0)])


def test_the_cached_fused_stepper_gives_what_a_fresh_one_gives():
    """The bundle keeps its fused stepper; reuse changes no sample, new weights rebuild it."""
    import torch

    cached, fresh = tiny_bundle(seed=5), tiny_bundle(seed=5)
    requests = [conditions_from_text(4, meter="3/4", key="D", chords="D A")] * 2
    sample(cached, requests, seed=1)  # builds and keeps the stepper
    assert cached.stepper(cached.temperature) is cached.stepper(cached.temperature)
    for a, b in zip(sample(cached, requests, seed=2), sample(fresh, requests, seed=2), strict=True):
        assert np.array_equal(a.pitch, b.pitch) and np.array_equal(a.duration, b.duration)
    before = cached.stepper(1.0)
    with torch.no_grad():
        cached.generator.pitch_head.bias.add_(1.0)
    assert cached.stepper(1.0) is not before, "weights changed in place: the stepper is rebuilt"
