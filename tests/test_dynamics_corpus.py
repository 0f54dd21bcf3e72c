"""The dynamics corpus: marks and hairpins become velocities; flat melodies are skipped."""

from __future__ import annotations

import pytest
from conftest import make_score

from midigan.corpus.dynamics import MIN_NOTES, _id_of, melody_of
from midigan.corpus.dynamics_render import MARK_VELOCITY, SFORZANDO_STEP, WEDGE_STEP, render_dynamics
from midigan.errors import MidiganError

music21 = pytest.importorskip("music21")


def part_of(*items: object) -> object:
    """A music21 Part of quarter notes C4..., with marks and hairpins placed at note indices."""
    from music21 import dynamics, note, stream

    part = stream.Part()
    notes = [note.Note(60 + i % 5, quarterLength=1.0) for i in range(12)]
    for offset, element in enumerate(notes):
        part.insert(float(offset), element)
    for item in items:
        kind, where = item  # type: ignore[misc]
        if kind in ("cresc", "dim"):
            first, last = where
            kind_of = dynamics.Crescendo if kind == "cresc" else dynamics.Diminuendo
            part.insert(0, kind_of(notes[first], notes[last]))
        else:
            part.insert(float(where), dynamics.Dynamic(kind))
    return part


def velocities(part: object) -> list[int]:
    return [n.volume.velocity for n in part.flatten().notes]  # type: ignore[attr-defined]


def test_marks_set_levels_from_their_offset_on() -> None:
    part = part_of(("p", 0), ("f", 6))
    assert render_dynamics(part) == 2
    assert velocities(part) == [MARK_VELOCITY["p"]] * 6 + [MARK_VELOCITY["f"]] * 6


def test_a_crescendo_climbs_to_the_mark_that_ends_it() -> None:
    part = part_of(("p", 0), ("cresc", (2, 5)), ("f", 6))
    render_dynamics(part)
    v = velocities(part)
    assert v[:3] == [MARK_VELOCITY["p"]] * 3
    assert v[2] < v[3] < v[4] < v[5] < MARK_VELOCITY["f"] and v[6:] == [MARK_VELOCITY["f"]] * 6


def test_a_hairpin_without_a_mark_moves_one_step_and_holds() -> None:
    part = part_of(("mf", 0), ("dim", (4, 7)))
    render_dynamics(part)
    v = velocities(part)
    assert v[:5] == [MARK_VELOCITY["mf"]] * 5 and v[4] > v[5] > v[6] > v[7]
    assert v[8:] == [MARK_VELOCITY["mf"] - WEDGE_STEP] * 4


def test_sforzando_accents_one_note() -> None:
    part = part_of(("p", 0), ("sf", 3))
    render_dynamics(part)
    v = velocities(part)
    assert v[3] == MARK_VELOCITY["p"] + SFORZANDO_STEP and v[4] == MARK_VELOCITY["p"]


def test_a_part_without_marks_is_left_alone() -> None:
    part = part_of()
    assert render_dynamics(part) == 0
    assert all(n.volume.velocity is None for n in part.flatten().notes)  # type: ignore[attr-defined]


def test_melody_of_keeps_velocities_and_skips_flat_ones() -> None:
    notes = [(60 + i % 7, i * 12, 12, 40 + 5 * (i % 4)) for i in range(MIN_NOTES + 4)]
    melody = melody_of(make_score(notes), "t")
    assert [n.velocity for n in melody.tracks[0].notes] == [v for *_, v in notes]
    with pytest.raises(MidiganError, match="flat velocities"):
        melody_of(make_score([(p, o, d, 80) for p, o, d, _ in notes]), "t")
    with pytest.raises(MidiganError, match="fewer than"):
        melody_of(make_score(notes[:5]), "t")


def test_ids_name_the_source_file() -> None:
    assert _id_of("m21", "beethoven/opus18no1/movement1.mxl") == "m21-beethoven-opus18no1-movement1"
    assert _id_of("deb", "openttd-openmsx/5432gone_redfarn.mid") == "deb-openttd-openmsx-5432gone-redfarn"
