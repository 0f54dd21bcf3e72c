"""arrange: chord and bass tracks whose patterns, registers and bounds a musician expects."""

from __future__ import annotations

import pytest
from conftest import make_score

from midigan.composer.arrange import (
    arrange,
    bar_pattern,
    bass_pitch,
    estimate_chords_from_melody,
    voice_chord,
)
from midigan.music.score import ChordLabel, Meter, Score
from midigan.music.theory import chord_pitch_classes

Q = 12  # ticks per quarter


def _melody(meter: tuple[int, int], bars: int, velocity: int = 90) -> Score:
    """One long C5 per bar: a melody that never overlaps the accompaniment register."""
    bar = Meter(0, *meter).bar_ticks
    return make_score([(72, i * bar, bar, velocity) for i in range(bars)], meter=meter, end_tick=bars * bar)


def _track(score: Score, name: str):
    return next(t for t in score.tracks if t.name == name)


def _positions(score: Score, name: str, bar: int) -> list[int]:
    """Sorted distinct onsets, as ticks from the barline, of a track's notes in every bar."""
    return sorted({n.onset % bar for n in _track(score, name).notes})


@pytest.mark.parametrize(
    ("meter", "chord_positions", "bass_positions"),
    [
        ((4, 4), [0, 2 * Q], [0, 2 * Q]),  # block chords on 1 and 3, bass root-fifth on 1 and 3
        ((3, 4), [Q, 2 * Q], [0]),  # oom-pah-pah
        ((6, 8), [0, 18], [0, 18]),  # two dotted-quarter pulses
        ((2, 4), [Q], [0]),  # root on 1, chord on 2
    ],
)
def test_pattern_per_meter(meter, chord_positions, bass_positions) -> None:
    bars = 4
    chords = [ChordLabel(i * Meter(0, *meter).bar_ticks, r, "maj") for i, r in enumerate((0, 5, 7, 0))]
    score = arrange(_melody(meter, bars), chords)
    bar = Meter(0, *meter).bar_ticks
    assert [t.name for t in score.tracks] == ["Melody", "Chords", "Bass"]
    assert _positions(score, "Chords", bar) == chord_positions
    assert _positions(score, "Bass", bar) == bass_positions
    # every bar carries the pattern: bars x hits chord onsets
    onsets = {n.onset for n in _track(score, "Chords").notes}
    assert len(onsets) == bars * len(chord_positions)


@pytest.mark.parametrize("meter", [(4, 4), (3, 4), (6, 8), (2, 4), (2, 2), (9, 8), (5, 4), (3, 8)])
def test_nothing_sounds_past_the_last_barline(meter) -> None:
    score = arrange(_melody(meter, 3), [ChordLabel(0, 2, "min"), ChordLabel(30, 7, "7")])
    end = 3 * Meter(0, *meter).bar_ticks
    assert score.end == end and score.bar_count == 3
    assert max(n.offset for _, n in score.iter_notes()) <= end
    assert all(n.duration > 0 for _, n in score.iter_notes())


def test_hits_play_the_chord_in_force_and_split_at_changes() -> None:
    # C for one quarter, then G: the beat-1 half-note hit is split at the change.
    score = arrange(_melody((4, 4), 1), [ChordLabel(0, 0, "maj"), ChordLabel(Q, 7, "maj")])
    for note in _track(score, "Chords").notes:
        root = 0 if note.onset < Q else 7
        assert note.pitch % 12 in chord_pitch_classes(root, "maj")
        assert note.offset <= Q or note.onset >= Q  # no note straddles the change
    bass = sorted(_track(score, "Bass").notes, key=lambda n: n.onset)
    assert [(n.onset, n.pitch % 12) for n in bass] == [(0, 0), (Q, 7), (2 * Q, 2)]  # G root, then G's fifth


def test_registers_and_velocities() -> None:
    chords = [
        ChordLabel(i * 48, r, q) for i, (r, q) in enumerate([(9, "min"), (5, "maj"), (0, "maj7"), (7, "7")])
    ]
    score = arrange(_melody((4, 4), 4, velocity=96), chords)
    chord_notes, bass_notes = _track(score, "Chords").notes, _track(score, "Bass").notes
    by_onset: dict[int, list[int]] = {}
    for note in chord_notes:
        by_onset.setdefault(note.onset, []).append(note.pitch)
    for pitches in by_onset.values():
        assert 52 <= min(pitches) < 64  # bottom of the voicing around middle C
        assert max(pitches) - min(pitches) < 12  # close position
    assert all(31 <= n.pitch <= 50 for n in bass_notes)  # G1..D3
    assert max(n.velocity for n in chord_notes + bass_notes) < 96


def test_voicings_move_little() -> None:
    first = voice_chord(0, "maj")
    second = voice_chord(5, "maj", first)
    third = voice_chord(7, "maj", second)
    assert first == (60, 64, 67)
    assert second == (60, 65, 69)  # C-F: common tone kept, the others step
    assert sum(abs(a - b) for a, b in zip(second, third, strict=True)) <= 6


def test_bass_fifth_of_a_diminished_chord_is_diminished() -> None:
    assert (bass_pitch(11, "dim", "fifth") - bass_pitch(11, "dim")) % 12 == 6
    assert bass_pitch(2, "maj", "fifth") - bass_pitch(2, "maj") == 7  # D2 -> A2, above
    assert bass_pitch(9, "maj", "fifth") - bass_pitch(9, "maj") == -5  # A2 -> E2, below: E3 is too high


def test_no_chord_label_means_silence() -> None:
    score = arrange(_melody((4, 4), 2), [ChordLabel(0, None, "maj"), ChordLabel(48, 0, "maj")])
    assert all(n.onset >= 48 for n in _track(score, "Chords").notes + _track(score, "Bass").notes)


def test_pieces_without_chords_get_estimated_ones() -> None:
    q = Q
    c_bar = [(60, 0, q), (64, q, q), (67, 2 * q, q), (64, 3 * q, q)]
    f_bar = [(65, 48, q), (69, 48 + q, q), (72, 48 + 2 * q, q), (69, 48 + 3 * q, q)]
    g_bar = [(67, 96, q), (71, 96 + q, q), (74, 96 + 2 * q, q), (71, 96 + 3 * q, q)]
    rest_bar = [(n[0], n[1] + 48, n[2]) for n in c_bar + f_bar + g_bar]  # an empty first bar
    score = make_score(rest_bar, end_tick=192)
    labels = estimate_chords_from_melody(score)
    # C from the start (moved back over the silent bar), then F, then G
    assert [(c.tick, c.root, c.quality) for c in labels] == [(0, 0, "maj"), (96, 5, "maj"), (144, 7, "maj")]
    arranged = arrange(score)
    assert arranged.chords == labels
    assert {n.pitch % 12 for n in _track(arranged, "Chords").notes if n.onset >= 144} <= {7, 11, 2}
    assert min(n.onset for n in _track(arranged, "Bass").notes) == 0


def test_bar_pattern_fits_every_bar() -> None:
    for meter in ("4/4", "3/4", "6/8", "2/4", "2/2", "3/8", "9/8", "12/8", "6/4", "3/2", "5/4", "7/8"):
        m = Meter(0, *map(int, meter.split("/")))
        hits = bar_pattern(m)
        assert hits and all(h.position + h.duration <= m.bar_ticks for h in hits), meter
        assert any(h.position == 0 and h.part == "bass" for h in hits), meter


def test_the_input_score_is_left_alone() -> None:
    melody = _melody((4, 4), 2)
    before = melody.copy()
    arranged = arrange(melody, [ChordLabel(0, 0, "maj")])
    arranged.tracks[0].notes[0].pitch = 0
    arranged.chords.append(ChordLabel(48, 7, "maj"))
    assert melody == before


def test_chords_stay_under_a_low_melody() -> None:
    melody = make_score([(64 + (i % 3), i * Q, Q) for i in range(16)], end_tick=4 * 48)  # E4-F#4
    progression = [(0, "maj"), (5, "maj"), (7, "7"), (9, "min")]
    chords = [ChordLabel(i * 48, r, q) for i, (r, q) in enumerate(progression)]
    arranged = arrange(melody, chords)
    chord_notes = _track(arranged, "Chords").notes
    assert max(n.pitch for n in chord_notes) < 64  # below the melody's lowest notes
    assert min(n.pitch for n in chord_notes) > 50  # but above the bass (D3 at most)
