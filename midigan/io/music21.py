"""ABC and MusicXML through music21, converted by hand to and from :class:`Score`.

We walk music21's measures ourselves instead of going through its MIDI writer
(10,080 ticks per quarter, chord symbols sounded erratically). Reading:

* offsets in quarter lengths become ticks at :data:`~midigan.music.score.TPQ` (rounded;
  off-grid notes are counted and reported with a warning);
* a pickup (music21 measure 0 with ``paddingLeft``) is padded with a leading rest
  so barlines fall on whole bars from tick 0, as :class:`Score` expects;
* tied notes are merged, grace notes dropped, chords split into notes, rests
  skipped, chord symbols become :class:`~midigan.music.score.ChordLabel`;
* velocity is the note's explicit MIDI velocity when the source sets one, else a
  metric accent (:data:`ACCENT_VELOCITIES`): a rendering choice, since ABC and
  MusicXML folk sources carry no dynamics;
* repeats are expanded; a tune with malformed repeats falls back to the written
  order (music21's ``expandRepeats`` raises on them), and so does one whose
  expansion grows past :data:`MAX_REPEAT_GROWTH` times its written length.

Keys: ``mode_rule="source"`` trusts the file's key (church modes folded into
major/minor by their third; a mode-less MusicXML signature picks its relative major
or minor by pitch profile). ``mode_rule="detect"`` is for the Essen collection, whose
``K:`` field names the tune's tonic *letter* with accidentals spelt out in the body,
not its mode: the key is the best pitch-profile match among the tonic's major, its
minor and the signature's relative minor (see :func:`midigan.music.harmony.detect_key`).
Either way a key keeps the tonic's spelling its signature implies (five flats and major:
'Db', not 'C#') in ``KeySignature.spelling``, so a piece read back prints as it was written.

Writing goes the other way, in :mod:`midigan.io.musicxml` (which does not import this
module, nor this module it); ABC text repairs live in :mod:`midigan.io.abc`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from midigan.errors import MidiganError, MidiReadError
from midigan.io.abc import clean_abc, split_abc_tunes
from midigan.io.limits import check_abc, check_musicxml
from midigan.io.spelling import parse_spelled, pitch_class_of, tonic_for_fifths
from midigan.music import theory
from midigan.music.harmony import detect_key
from midigan.music.score import TPQ, ChordLabel, KeySignature, Meter, Note, Score, Tempo, Track

if TYPE_CHECKING:
    from music21 import stream as m21stream

ACCENT_VELOCITIES = (100, 88, 76)
"""Default velocities (downbeat, other strong beat, weak position) where a source has no dynamics."""

MAX_REPEAT_GROWTH = 4
"""Expanded repeats holding more than this many times the written notes are not believed
(music21 unrolls some D.C./segno jumps into thousands of bars); the written order is kept."""

_MINOR_MODES = {"minor", "aeolian", "dorian", "phrygian", "locrian"}
_KIND_TO_QUALITY = {
    "major": "maj", "minor": "min", "diminished": "dim", "augmented": "aug",
    "suspended-fourth": "sus4", "suspended-second": "sus2", "dominant-seventh": "7",
    "major-seventh": "maj7", "minor-seventh": "m7", "half-diminished-seventh": "m7b5",
    "diminished-seventh": "dim7", "dominant-ninth": "7", "minor-major-seventh": "min",
    "major-sixth": "maj", "minor-sixth": "min", "power": "maj",
}  # fmt: skip
ModeRule = Literal["source", "detect"]

__all__ = [
    "ACCENT_VELOCITIES", "Conversion", "accent_velocity", "convert_music21", "parse_abc",
    "read_music21_file", "score_from_music21",
]  # fmt: skip


@dataclass
class Conversion:
    """A converted score plus what the conversion had to bend.

    Attributes:
        score: the result.
        off_grid_notes: notes whose onset or offset was not on the TPQ grid (rounded).
        padded_measures: places inside the piece where a rest was added so the next
            complete measure starts on a barline (irregular bars in the source).
        repeats_expanded: False when malformed repeats forced the written order.
        warnings: human-readable notes on the above.
    """

    score: Score
    off_grid_notes: int = 0
    padded_measures: int = 0
    repeats_expanded: bool = True
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- reading
def parse_abc(text: str, *, max_bars: int | None = None, max_notes: int | None = None) -> m21stream.Score:
    """Parse one ABC tune (text holding a single ``X:`` tune) with music21.

    The tune is measured first (:func:`midigan.io.limits.check_abc`): music21's time grows
    faster than the tune, so one past `max_bars` or `max_notes` (None: the defaults of
    :mod:`midigan.io.limits`) is refused unparsed.

    Raises:
        MidiReadError: over a limit, music21 cannot parse it, or it holds no notes.
        ConfigError: a limit is not a positive whole number.
    """
    from music21 import converter

    check_abc(text, max_bars=max_bars, max_notes=max_notes)

    try:
        parsed = converter.parse(clean_abc(text), format="abc")
    except Exception as e:  # music21 raises anything from ABCHandlerException to IndexError
        raise MidiReadError(f"ABC tune does not parse: {type(e).__name__}: {e}") from e
    return parsed


def score_from_music21(
    stream: m21stream.Stream, *, title: str | None = None, mode_rule: ModeRule = "source"
) -> Score:
    """Convert a music21 Score, Part (or the first score of an Opus) to a :class:`Score`.

    Lossy steps (off-grid notes rounded, repeats not expandable) are reported with
    ``warnings.warn``; use :func:`convert_music21` to get the counts instead.

    Raises:
        MidiReadError: the stream holds no notes.
    """
    result = convert_music21(stream, title=title, mode_rule=mode_rule)
    for message in result.warnings:
        warnings.warn(message, stacklevel=2)
    return result.score


def convert_music21(
    stream: m21stream.Stream, *, title: str | None = None, mode_rule: ModeRule = "source"
) -> Conversion:
    """Like :func:`score_from_music21`, returning a :class:`Conversion` report.

    Raises:
        MidiReadError: the stream holds no notes, or is not a Score/Part/Opus.
    """
    from music21 import stream as m21s

    if isinstance(stream, m21s.Opus):
        scores = list(stream.scores)
        if not scores:
            raise MidiReadError("music21 opus holds no scores")
        stream = scores[0]
    expanded, repeats_ok = stream, True
    has_measures = stream.recurse().getElementsByClass(m21s.Measure).first() is not None
    if has_measures:  # without measures there is nothing to expand
        try:
            expanded = stream.expandRepeats()
        except Exception:  # malformed repeats: RepeatExpander raises ExpanderException & co.
            repeats_ok = False
        if repeats_ok and _count_notes(expanded) > MAX_REPEAT_GROWTH * _count_notes(stream):
            expanded, repeats_ok = stream, False  # D.C./segno loops music21 expands without end
    parts = list(expanded.parts) if isinstance(expanded, m21s.Score) else [expanded]
    parts = [p for p in parts if p.recurse().notes]
    if not parts:
        raise MidiReadError("no notes in this music")
    walker = _Walker()
    tracks = [walker.track(part, index) for index, part in enumerate(parts)]
    controls = walker.controls(parts[0])
    meters = controls["meters"] or [Meter(0, 4, 4)]
    score = Score(
        tracks=tracks,
        tempos=controls["tempos"] or [Tempo(0, 120.0)],
        meters=meters,
        chords=walker.chords,
        title=title if title is not None else _title_of(stream),
    )
    score.keys = _keys(controls["keys"], score, mode_rule)
    score.sort()
    _apply_accents(score, walker.explicit_velocity)
    result = Conversion(score, walker.off_grid, walker.padded_measures, repeats_ok)
    if not controls["meters"]:
        result.warnings.append("no time signature: assumed 4/4")
    if walker.off_grid:
        result.warnings.append(f"{walker.off_grid} notes off the {TPQ}-per-quarter grid were rounded")
    if not repeats_ok:
        result.warnings.append("malformed repeats: kept the written order")
    return result


def read_music21_file(
    path: str | Path,
    *,
    mode_rule: ModeRule = "source",
    max_bars: int | None = None,
    max_notes: int | None = None,
) -> Score:
    """Read an ABC or MusicXML file (the first tune of a multi-tune ABC file).

    The tune (ABC) or file (MusicXML) is measured before music21 parses it, and refused
    past `max_bars` or `max_notes` (None: the defaults of :mod:`midigan.io.limits`).

    Raises:
        MidiReadError: the file is missing, over a limit, or music21 cannot read it as music.
        ConfigError: a limit is not a positive whole number.
    """
    path = Path(path)
    if not path.is_file():
        raise MidiReadError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".abc":
            text = path.read_text(encoding="utf-8", errors="replace")
            tunes = split_abc_tunes(text)
            if len(tunes) > 1:
                warnings.warn(f"{path}: {len(tunes)} tunes in the file; reading the first", stacklevel=2)
            parsed = parse_abc(tunes[0] if tunes else text, max_bars=max_bars, max_notes=max_notes)
        else:
            from music21 import converter

            check_musicxml(path, max_bars=max_bars, max_notes=max_notes)
            parsed = converter.parse(str(path))
        return score_from_music21(parsed, mode_rule=mode_rule)
    except MidiganError as e:
        raise type(e)(f"{path}: {e}") from e
    except Exception as e:  # any music21 failure is a read error for the caller
        raise MidiReadError(f"{path}: not readable as music ({type(e).__name__}: {e})") from e


class _Walker:
    """Collect notes and controls from music21 parts, measures placed on the Score's bar grid."""

    def __init__(self) -> None:
        self.off_grid = 0
        self.padded_measures = 0  # counted on the first part only
        self._starts: dict[int, dict[int, Fraction]] = {}
        self.explicit_velocity: set[int] = set()  # id() of notes whose velocity came from the source
        self.chords: list[ChordLabel] = []

    def ticks(self, quarters: float | Fraction, count: bool = True) -> int:
        exact = Fraction(quarters).limit_denominator(10_000) * TPQ
        if count and exact.denominator != 1:
            self.off_grid += 1
        return round(exact)

    def elements(self, part: m21stream.Stream) -> Iterator[tuple[float, object]]:
        """Yield `(offset in quarters on the Score's bar grid, element)`, through measures and voices.

        Measures are placed by :meth:`measure_starts`. Iterating each container
        (rather than flattening) gives each element's offset in the container it sits
        in, so an object music21 shares between two measures is seen at both places.
        """
        from music21 import stream as m21s

        starts = self.measure_starts(part)
        for outer in part:
            if isinstance(outer, m21s.Measure):
                base = starts[id(outer)]
                for inner in outer:
                    if isinstance(inner, m21s.Voice):
                        for element in inner:
                            yield base + inner.offset + element.offset, element
                    else:
                        yield base + inner.offset, inner
            elif isinstance(outer, m21s.Voice):
                for element in outer:
                    yield outer.offset + element.offset, element
            else:
                yield outer.offset, outer

    def measure_starts(self, part: m21stream.Stream) -> dict[int, Fraction]:
        """Where each source measure starts (quarters) so every complete measure sits on a barline.

        Incomplete measures come in runs between complete ones. A run at the start is
        a pickup: right-aligned against the first barline (the leading rest pads it).
        A run whose length is a whole number of bars (a section's last bar plus the
        next section's pickup) stays contiguous. Any other run is left-aligned and
        padded with rest to the next barline, except that its last measure, when it
        directly precedes a complete one, is right-aligned as that bar's pickup.
        Each padding inside the piece is counted in :attr:`padded_measures`.
        """
        from music21 import stream as m21s

        if id(part) in self._starts:
            return self._starts[id(part)]
        counting = not self._starts
        padded = 0
        measures = list(part.getElementsByClass(m21s.Measure))
        starts: dict[int, Fraction] = {}
        cursor = origin = Fraction(0)  # origin: a barline; bars repeat from it until the meter changes
        run: list[tuple[object, Fraction, Fraction]] = []  # (measure, length, bar length)

        def barline_after(position: Fraction, bar: Fraction) -> Fraction:
            return origin + _ceil_to(position - origin, bar)

        def flush(before_full: bool) -> None:
            nonlocal cursor, padded
            if not run:
                return
            bar = run[-1][2]
            total = sum(length for _, length, _ in run)
            if not starts and before_full:  # a pickup
                cursor = (-total) % bar
                for measure, length, _ in run:
                    starts[id(measure)] = cursor
                    cursor += length
            else:
                tail = run[-1] if before_full and len(run) > 1 and total % bar else None
                for measure, length, _ in run[:-1] if tail else run:
                    starts[id(measure)] = cursor
                    cursor += length
                if tail is not None:
                    cursor = max(cursor, barline_after(cursor, bar) - tail[1])
                    starts[id(tail[0])] = cursor
                    cursor += tail[1]
                if before_full and barline_after(cursor, bar) != cursor:
                    padded += 1
                    cursor = barline_after(cursor, bar)
            run.clear()

        for index, measure in enumerate(measures):
            length = Fraction(measure.duration.quarterLength).limit_denominator(10_000)
            bar = Fraction(measure.barDuration.quarterLength).limit_denominator(10_000)
            if length == bar:
                flush(before_full=True)
                if index and measure.timeSignature is not None:
                    origin = cursor  # a meter change starts a new bar where it stands
                elif barline_after(cursor, bar) != cursor:
                    padded += 1
                    cursor = barline_after(cursor, bar)
                starts[id(measure)] = origin = cursor
                cursor += length
            else:
                run.append((measure, length, bar))
        flush(before_full=False)
        self._starts[id(part)] = starts
        if counting:
            self.padded_measures = padded
        return starts

    def track(self, part: m21stream.Stream, index: int) -> Track:
        from music21 import harmony, note

        events = []
        for offset, element in self.elements(part):
            if isinstance(element, harmony.Harmony):
                if index == 0:
                    self.chords.append(_chord_label(element, self.ticks(offset, count=False)))
            elif isinstance(element, note.NotRest) and not element.duration.isGrace:
                events.append((offset, element))
        events.sort(key=lambda pair: pair[0])
        notes = self._merge_ties(events)
        name = part.partName or (f"Part {index + 1}" if index else "Melody")
        return Track(name=name, program=_program_of(part), notes=notes)

    def _merge_ties(self, events: list) -> list[Note]:
        notes: list[Note] = []
        open_ties: dict[int, Note] = {}
        for offset, element in events:
            onset = self.ticks(offset)
            offset_ticks = self.ticks(offset + element.duration.quarterLength)
            velocity = None
            if element.hasVolumeInformation() and element.volume.velocity is not None:
                velocity = max(1, min(127, int(element.volume.velocity)))
            members = element.notes if element.isChord else [element]
            for member in members:
                if not hasattr(member, "pitch"):
                    continue  # unpitched percussion
                pitch = member.pitch.midi
                tie = (
                    member.tie.type
                    if member.tie is not None
                    else (element.tie.type if element.tie is not None else None)
                )
                held = open_ties.pop(pitch, None)
                if held is not None and held.offset == onset and tie in ("stop", "continue"):
                    held.duration = max(held.duration, offset_ticks - held.onset)
                    if tie == "continue":
                        open_ties[pitch] = held
                    continue
                new = Note(pitch, onset, max(1, offset_ticks - onset), velocity or 0)
                if velocity is not None:
                    self.explicit_velocity.add(id(new))
                notes.append(new)
                if tie in ("start", "continue"):
                    open_ties[pitch] = new
        return notes

    def controls(self, part: m21stream.Stream) -> dict[str, list]:
        """Meters, tempos and keys of the first part, deduplicated and on ticks."""
        from music21 import key, meter, tempo

        meters: list[Meter] = []
        tempos: list[Tempo] = []
        keys: list[tuple[int, object]] = []
        for offset, element in self.elements(part):
            tick = max(0, self.ticks(offset, count=False))
            if isinstance(element, meter.TimeSignature):
                found = Meter(tick, element.numerator, element.denominator)
                if not meters or (meters[-1].numerator, meters[-1].denominator) != (
                    found.numerator,
                    found.denominator,
                ):
                    meters.append(found)
            elif isinstance(element, tempo.MetronomeMark):
                qpm = element.getQuarterBPM()
                if qpm and (not tempos or tempos[-1].qpm != qpm):
                    tempos.append(Tempo(tick, float(qpm)))
            elif isinstance(element, key.KeySignature):
                keys.append((tick, element))
        if meters:
            meters[0] = Meter(0, meters[0].numerator, meters[0].denominator)
        if tempos:
            tempos[0] = Tempo(0, tempos[0].qpm)
        return {"meters": meters, "tempos": tempos, "keys": keys}


def _count_notes(stream: m21stream.Stream) -> int:
    return sum(1 for _ in stream.recurse().notes)


def _ceil_to(value: Fraction, step: Fraction) -> Fraction:
    """The smallest multiple of `step` that is >= `value`."""
    return -((-value) // step) * step


def _title_of(stream: m21stream.Stream) -> str:
    metadata = stream.metadata
    return (metadata.bestTitle or "") if metadata is not None else ""


def _program_of(part: m21stream.Stream) -> int:
    from music21 import instrument

    found = part.recurse().getElementsByClass(instrument.Instrument).first()
    program = getattr(found, "midiProgram", None) if found is not None else None
    return int(program) if program is not None and 0 <= program < 128 else 0


def _chord_label(element: object, tick: int) -> ChordLabel:
    """A music21 Harmony object as a ChordLabel (NoChord -> root None)."""
    from music21 import harmony

    if isinstance(element, harmony.NoChord) or not element.pitches:
        return ChordLabel(tick, None)
    try:
        root, quality = theory.parse_chord(element.figure.replace("-", "b"))
        return ChordLabel(tick, root, quality)
    except theory.TheoryError:
        pass
    root = element.root().pitchClass
    quality = _KIND_TO_QUALITY.get(element.chordKind or "")
    if quality is None:
        intervals = {(p.pitchClass - root) % 12 for p in element.pitches}
        quality = "min" if 3 in intervals and 4 not in intervals else "maj"
    return ChordLabel(tick, root, quality)


def _keys(found: list[tuple[int, object]], score: Score, mode_rule: ModeRule) -> list[KeySignature]:
    """Key changes of the score under `mode_rule` (see the module docstring)."""
    from music21 import key

    keys: list[KeySignature] = []
    for tick, element in found:
        if mode_rule == "detect":
            tonic = element.asKey("major").tonic.pitchClass
            tonic, mode = detect_key(score, [(tonic, "major"), (tonic, "minor"), ((tonic + 9) % 12, "minor")])
        elif isinstance(element, key.Key):
            tonic = element.tonic.pitchClass
            mode = "minor" if (element.mode or "major") in _MINOR_MODES else "major"
        else:
            major = element.asKey("major").tonic.pitchClass
            tonic, mode = detect_key(score, [(major, "major"), ((major + 9) % 12, "minor")])
        if not keys or (keys[-1].tonic, keys[-1].mode) != (tonic, mode):
            keys.append(KeySignature(tick if keys else 0, tonic, mode, _spelling(element, tonic, mode)))
    return keys


def _spelling(element: object, tonic: int, mode: str) -> str | None:
    """The tonic's name the source's signature implies (five flats in major: 'Db'); None if another tonic."""
    name = tonic_for_fifths(int(getattr(element, "sharps", 0) or 0), mode)
    spelled = parse_spelled(name)
    return name if spelled is not None and pitch_class_of(spelled) == tonic % 12 else None


def _apply_accents(score: Score, explicit: set[int]) -> None:
    """Give every note without a source velocity the metric-accent default."""
    starts = score.bar_starts(score.end + 1)
    for _, note in score.iter_notes():
        if id(note) in explicit:
            continue
        note.velocity = accent_velocity(score, note.onset, starts)


def accent_velocity(score: Score, tick: int, bar_starts: list[int] | None = None) -> int:
    """The metric-accent velocity (:data:`ACCENT_VELOCITIES`) of an onset at `tick`."""
    import bisect

    starts = bar_starts if bar_starts is not None else score.bar_starts(tick + 1)
    bar_start = starts[max(0, bisect.bisect_right(starts, tick) - 1)]
    position = tick - bar_start
    if position == 0:
        return ACCENT_VELOCITIES[0]
    meter = score.meter_at(tick)
    if position in theory.strong_beat_ticks(meter.numerator, meter.denominator, TPQ):
        return ACCENT_VELOCITIES[1]
    return ACCENT_VELOCITIES[2]
