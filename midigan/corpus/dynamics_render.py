"""Dynamics markings of a music21 score rendered as MIDI velocities, note by note.

music21's own MIDI writer (`volume.realizeVolume`) turns dynamics marks into levels but
ignores hairpins, so a crescendo plays flat until the next mark. Here every part is
rendered the way a player reads it:

* a mark (pp ... ff) sets the level from its offset on (:data:`MARK_VELOCITY`); notes
  before the first mark take that first mark's level, a part with no mark none at all;
* a hairpin (crescendo / diminuendo wedge) moves the level linearly from where it
  starts to the mark that follows it within a bar (if that mark goes the hairpin's
  way), else by :data:`WEDGE_STEP`; the level reached holds until the next mark;
* sforzando-like marks (sf, sfz, fz, rf...) accent their own note only; fp plays f on
  its note and p after it;
* accent and marcato articulations add :data:`ACCENT_STEP` / :data:`MARCATO_STEP`.

The velocities are written into each note's `volume.velocity`, which
:func:`midigan.io.music21.convert_music21` keeps as the note's explicit velocity.
music21 is imported only when a score is rendered.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

MARK_VELOCITY: dict[str, int] = {
    "pppp": 20, "ppp": 28, "pp": 38, "p": 50, "mp": 62,
    "mf": 74, "f": 88, "ff": 102, "fff": 114, "ffff": 122,
}  # fmt: skip
"""Velocity of each dynamics mark (a common sequencer mapping, steps of 12-14)."""

SFORZANDO_MARKS = frozenset({"sf", "sfz", "sffz", "fz", "rf", "rfz", "sfp", "sfpp"})
"""Marks that accent one note and leave the level as it was (sfp/sfpp: then the p level)."""

SFORZANDO_STEP = 18
ACCENT_STEP = 10
MARCATO_STEP = 16
WEDGE_STEP = 14
"""Level change of a hairpin that no mark confirms (about one mark step)."""

WEDGE_REACH = 4.0
"""A mark at most this many quarters after a hairpin's end is the hairpin's target."""


def render_dynamics(score: Any, extra_spanners: list[Any] | None = None) -> int:
    """Set `volume.velocity` on every note and chord of every part of a music21 score.

    Args:
        score: a music21 Score (or Part); changed in place.
        extra_spanners: spanners kept outside `score` (a Part's hairpins may sit in its
            Score's spanner bundle).

    Returns:
        The number of dynamics marks and hairpins found (0: the velocities are untouched).
    """
    from music21 import stream

    parts = list(score.parts) if isinstance(score, stream.Score) else [score]
    bundles = [list(score.spannerBundle), extra_spanners or []] + [list(p.spannerBundle) for p in parts]
    wedges_all = list({id(sp): sp for bundle in bundles for sp in bundle if _is_wedge(sp)}.values())
    found = 0
    for part in parts:
        found += _render_part(part, wedges_all)
    return found


def _is_wedge(spanner: Any) -> bool:
    from music21 import dynamics

    return isinstance(spanner, dynamics.DynamicWedge)


def _render_part(part: Any, wedges_all: list[Any]) -> int:
    """Render one part; returns its marks + hairpins."""
    from music21 import articulations, dynamics

    flat = part.flatten()
    marks: list[tuple[float, str]] = []
    for mark in flat.getElementsByClass(dynamics.Dynamic):
        value = str(mark.value).lower()
        if value in MARK_VELOCITY or value in SFORZANDO_MARKS or value == "fp":
            marks.append((float(flat.elementOffset(mark)), value))
    wedges = _wedges_of(flat, wedges_all)
    if not marks and not wedges:
        return 0
    curve = LevelCurve(marks, wedges)
    accents = {round(offset, 3): value for offset, value in marks if value in SFORZANDO_MARKS | {"fp"}}
    for element in flat.notes:
        offset = float(flat.elementOffset(element))
        velocity = curve.at(offset)
        accent = accents.get(round(offset, 3))
        if accent == "fp":
            velocity = MARK_VELOCITY["f"]
        elif accent is not None:
            velocity += SFORZANDO_STEP
        for art in element.articulations:
            if isinstance(art, articulations.StrongAccent):
                velocity += MARCATO_STEP
            elif isinstance(art, articulations.Accent):
                velocity += ACCENT_STEP
        element.volume.velocity = max(1, min(127, round(velocity)))
    return len(marks) + len(wedges)


def _wedges_of(flat: Any, wedges_all: list[Any]) -> list[tuple[float, float, int]]:
    """(start, end, +1 crescendo / -1 diminuendo) of the hairpins over this part's notes."""
    from music21 import dynamics

    ids = {id(e) for e in flat}
    out = []
    for wedge in wedges_all:
        first, last = wedge.getFirst(), wedge.getLast()
        if first is None or id(first) not in ids or id(last) not in ids:
            continue
        start = float(flat.elementOffset(first))
        end = float(flat.elementOffset(last)) + float(last.duration.quarterLength)
        if end > start:
            out.append((start, end, 1 if isinstance(wedge, dynamics.Crescendo) else -1))
    return sorted(out)


class LevelCurve:
    """The dynamic level (a velocity) at any offset of one part, from marks and hairpins."""

    def __init__(self, marks: list[tuple[float, str]], wedges: list[tuple[float, float, int]]) -> None:
        levels = [(o, v) for o, v in sorted(marks) if v in MARK_VELOCITY or v in {"fp", "sfp", "sfpp"}]
        # fp / sfp: p after the note; sfpp: pp after it
        self.marks = [
            (o, MARK_VELOCITY.get(v, MARK_VELOCITY["pp" if v == "sfpp" else "p"])) for o, v in levels
        ]
        self.offsets = [o for o, _ in self.marks]
        self.wedges = wedges
        self.wedge_starts = [w[0] for w in wedges]
        self.first = self.marks[0][1] if self.marks else MARK_VELOCITY["mf"]

    def _mark_level(self, offset: float) -> tuple[float, float]:
        """(offset of the mark in force, its level); before the first mark, the first one."""
        index = bisect_right(self.offsets, offset) - 1
        if index < 0:
            return float("-inf"), float(self.first)
        return self.marks[index][0], float(self.marks[index][1])

    def at(self, offset: float, depth: int = 0) -> float:
        """The level at `offset`: the last mark, or the hairpin that started after it."""
        mark_offset, level = self._mark_level(offset)
        index = bisect_right(self.wedge_starts, offset) - 1  # the last hairpin begun by `offset`
        if index < 0 or self.wedges[index][0] < mark_offset or depth > 8:
            return level
        start, end, sign = self.wedges[index]
        from_level = self.at(start - 1e-6, depth + 1) if start > 0 else level
        target = self._target(end, sign, from_level)
        if offset >= end:
            return target
        return from_level + (target - from_level) * (offset - start) / (end - start)

    def _target(self, end: float, sign: int, from_level: float) -> float:
        """The mark that ends a hairpin (within reach, the hairpin's way), else one step on."""
        index = bisect_right(self.offsets, end - 1e-6)
        if index < len(self.marks):
            offset, level = self.marks[index]
            if offset <= end + WEDGE_REACH and (level - from_level) * sign > 0:
                return float(level)
        return float(max(20, min(122, from_level + sign * WEDGE_STEP)))
