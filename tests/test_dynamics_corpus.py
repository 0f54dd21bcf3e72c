"""The dynamics corpus: marks and hairpins become velocities; flat melodies are skipped."""

from __future__ import annotations

import pytest
from conftest import make_score

from midigan.corpus.dynamics import MIN_NOTES, _id_of, melody_of
from midigan.corpus.dynamics_render import MARK_VELOCITY, SFORZANDO_STEP, WEDGE_STEP, render_dynamics
from midigan.errors import MidiganError

music21 = pytest.importorskip("music21")


def part_of(*items: object, length: int = 12) -> object:
    """A music21 Part of `length` quarter notes C4..., with marks and hairpins placed at note indices."""
    from music21 import dynamics, note, stream

    part = stream.Part()
    notes = [note.Note(60 + i % 5, quarterLength=1.0) for i in range(length)]
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


def test_train_scores_give_their_marked_inner_parts_in_the_scores_split(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An inner part with marks becomes `<id>-part<k>` in its score's split; a part without marks
    is left out; without `all_parts` only the top part is built."""
    from music21 import corpus, stream

    from midigan.corpus.dynamics import Item, build_item, split_of

    def quartet(_ref: str) -> object:
        score = stream.Score()
        for marks in ((("p", 0), ("f", 6), ("pp", 12)), (), (("mf", 0), ("cresc", (2, 9)), ("ff", 10))):
            score.insert(0, part_of(*marks, length=24))
        return score

    monkeypatch.setattr(corpus, "parse", quartet)
    item = Item("m21-x-quartet", "music21", "x/quartet.mxl", "test")
    rows, reason = build_item(item, tmp_path, all_parts=True)
    assert reason is None
    assert [r["id"] for r in rows] == ["m21-x-quartet", "m21-x-quartet-part3"]
    assert [r.get("part", 0) for r in rows] == [0, 2]
    assert {r["split"] for r in rows} == {split_of(item.id)}
    assert all((tmp_path / r["path"]).is_file() for r in rows)
    top_only, _ = build_item(item, tmp_path / "top", all_parts=False)
    assert [r["id"] for r in top_only] == ["m21-x-quartet"]


def _wad(lumps: list[tuple[str, bytes]], kind: bytes = b"IWAD") -> bytes:
    """A Doom WAD file: header, the lumps' bytes, then the 16-byte directory entries."""
    import struct

    body, directory = b"", b""
    for name, data in lumps:
        directory += struct.pack("<ii8s", 12 + len(body), len(data), name.encode())
        body += data
    return kind + struct.pack("<ii", len(lumps), 12 + len(body)) + body + directory


def test_wad_midi_lumps_are_the_music_lumps_that_are_midi(tmp_path) -> None:
    """Freedoom stores its songs as D_* lumps: MIDI ones are kept in directory order; a MUS-format
    song, a non-music lump and an entry pointing past the end are left out."""
    from midigan.corpus.dynamics import wad_midi_lumps
    from midigan.io.midi import midi_bytes

    song = midi_bytes(make_score([(60 + i, 12 * i, 12, 40 + 5 * i) for i in range(8)]))
    wad = _wad([("D_E1M1", song), ("D_E1M2", b"MUS\x1a" + b"\0" * 20), ("PLAYPAL", song), ("D_INTRO", song)])
    assert list(wad_midi_lumps(wad)) == ["D_E1M1", "D_INTRO"]
    assert wad_midi_lumps(wad)["D_E1M1"] == song
    broken = bytearray(wad)
    broken[-16:-12] = (len(wad) + 100).to_bytes(4, "little")  # the last entry's offset: past the end
    assert list(wad_midi_lumps(bytes(broken))) == ["D_E1M1"]


def test_a_file_that_is_not_a_wad_is_one_clear_error() -> None:
    from midigan.corpus.dynamics import wad_midi_lumps

    with pytest.raises(MidiganError, match=r"freedoom1\.wad: not a WAD file"):
        wad_midi_lumps(b"MThd\0\0\0\6", "freedoom1.wad")
    with pytest.raises(MidiganError, match="directory runs past the end"):
        wad_midi_lumps(b"PWAD" + (5).to_bytes(4, "little") + (4000).to_bytes(4, "little"), "x.wad")
