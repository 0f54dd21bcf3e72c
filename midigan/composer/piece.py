"""`Piece`: what :func:`midigan.compose` hands a musician.

A Piece is a finished :class:`~midigan.music.score.Score` (melody, and usually chords and
bass) together with the request it answers (the :class:`~midigan.representations.conditions.Conditions`
and the seed), so a piece can say what it is, be saved in any format we write, and
be handed to the libraries musicians already use (pretty_midi, music21, mido). Those
libraries are imported only when a conversion asks for them.
"""

from __future__ import annotations

import io
import numbers
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from midigan.errors import ConfigError
from midigan.io.spelling import KeySpeller
from midigan.music.score import TPQ, Score, Tempo, Track
from midigan.music.theory import pitch_class_name
from midigan.representations.conditions import MAX_QPM, MIN_QPM

if TYPE_CHECKING:
    from midigan.representations.conditions import Conditions

MELODY_TRACK_NAME = "Melody"


class PieceNote(NamedTuple):
    """One melody note, timed both on the tick grid and in seconds (absolute, from the start)."""

    pitch: int
    velocity: int
    onset_ticks: int
    duration_ticks: int
    onset_seconds: float
    duration_seconds: float

    @property
    def name(self) -> str:
        """Scientific pitch name, e.g. 'F#4' (middle C is C4)."""
        return f"{pitch_class_name(self.pitch)}{self.pitch // 12 - 1}"

    @property
    def offset_ticks(self) -> int:
        return self.onset_ticks + self.duration_ticks


class Piece:
    """A composed piece: a Score plus the conditions and seed it was made from.

    Attributes:
        score: the music; edit it freely, every method reads it afresh.
        conditions: the request the model answered (None for a piece built by hand).
        seed: the random seed that reproduces it with the same model (None if unknown).
    """

    def __init__(self, score: Score, conditions: Conditions | None = None, seed: int | None = None) -> None:
        self.score = score
        self.conditions = conditions
        self.seed = seed

    @classmethod
    def from_score(cls, score: Score) -> Piece:
        """A Piece of a Score you have (e.g. `midigan.load("song.mid")`), to describe, convert,
        transpose or save like a composed one. The Score is used as it is, not copied."""
        return cls(score)

    def transpose(self, semitones: int) -> Piece:
        """A copy moved by `semitones`: every pitched track, the key and the chord roots.

        The copy has no seed or conditions: its seed no longer makes it.

        Raises:
            ConfigError: a note would leave the MIDI range 0..127.
        """
        pitches = [n.pitch for t in self.score.tracks if not t.is_drum for n in t.notes]
        if pitches and not (min(pitches) + semitones >= 0 and max(pitches) + semitones <= 127):
            raise ConfigError(
                f"transpose: {semitones:+d} semitones moves notes {min(pitches)}..{max(pitches)} "
                "outside the MIDI range 0..127"
            )
        return Piece(self.score.transpose(semitones))

    # ----------------------------------------------------------------- views
    @property
    def melody(self) -> Track:
        """The melody track: the one named "Melody", else the first."""
        for track in self.score.tracks:
            if track.name == MELODY_TRACK_NAME:
                return track
        if not self.score.tracks:
            return Track(MELODY_TRACK_NAME)
        return self.score.tracks[0]

    @property
    def notes(self) -> list[PieceNote]:
        """The melody's notes in time order, with ticks and seconds."""
        tempos = sorted(self.score.tempos, key=lambda t: t.tick)
        out = []
        for note in sorted(self.melody.notes, key=lambda n: (n.onset, n.pitch)):
            start = ticks_to_seconds(note.onset, tempos)
            stop = ticks_to_seconds(note.offset, tempos)
            out.append(PieceNote(note.pitch, note.velocity, note.onset, note.duration, start, stop - start))
        return out

    @property
    def bars(self) -> int:
        """Number of bars (the piece ends on a barline)."""
        return self.score.bar_count

    @property
    def key(self) -> str | None:
        """Key name at the start as the user wrote it, e.g. 'Am', 'Db', 'D#m' (None when unknown)."""
        key = self.score.key_at(0)
        return KeySpeller.of(key).name if key else None

    @property
    def meter(self) -> str:
        """Time signature at the start, e.g. '6/8'."""
        return self.score.meter_at(0).name

    @property
    def tempo(self) -> float:
        """Tempo at the start in quarter notes per minute (what a DAW shows as BPM).

        Setting it gives the whole piece that one tempo (`piece.tempo = 96`).
        """
        return self.score.tempos[0].qpm if self.score.tempos else 120.0

    @tempo.setter
    def tempo(self, qpm: float) -> None:
        if isinstance(qpm, bool) or not isinstance(qpm, numbers.Real) or not MIN_QPM <= qpm <= MAX_QPM:
            raise ConfigError(
                f"tempo must be a number of quarter notes per minute in {MIN_QPM:g}..{MAX_QPM:g}"
            )
        self.score.tempos = [Tempo(0, float(qpm))]

    @property
    def chords(self) -> list[str]:
        """Chord symbols bar by bar, roots spelled in the key ('Gb' in D-flat major); a bar holding
        several chords lists them with spaces."""
        starts = self.score.bar_starts()
        out = []
        for bar_start, bar_end in pairwise(starts):
            inside = [c for c in self.score.chords if bar_start < c.tick < bar_end]
            first = self.score.chord_at(bar_start)
            labels = ([first] if first else []) + inside
            spellers = [KeySpeller.of(self.score.key_at(c.tick)) for c in labels]
            out.append(
                " ".join(k.chord_symbol(c.root, c.quality) for k, c in zip(spellers, labels, strict=True))
            )
        return out

    @property
    def progression(self) -> str:
        """The chords in the syntax `compose(chords=...)` accepts: 'C | G | Am F | C'."""
        return " | ".join(bar or "N.C." for bar in self.chords)

    @property
    def duration_seconds(self) -> float:
        """Length of the piece in seconds, to the final barline."""
        return ticks_to_seconds(self.score.end, sorted(self.score.tempos, key=lambda t: t.tick))

    # ----------------------------------------------------------- conversions
    def save(self, path: str | Path) -> Path:
        """Write the piece; the format follows the extension: .mid, .musicxml/.xml, .wav, .png.

        The file appears whole or not at all (temp file + rename). An existing regular file
        at `path` is replaced, as `open(path, "w")` would; a folder, symlink, device or
        read-only file never is (MidiWriteError).

        Raises:
            MidiWriteError: unknown extension or unwritable location.
            RenderError: WAV/PNG/MusicXML could not be produced (e.g. fluidsynth missing).
        """
        from midigan.io import write_score

        return write_score(self.score, path)

    def to_midi_bytes(self) -> bytes:
        """The type-1 Standard MIDI File, as bytes."""
        from midigan.io.midi import midi_bytes

        return midi_bytes(self.score)

    def to_mido(self) -> Any:
        """A `mido.MidiFile` of the piece (the same bytes :meth:`save` writes)."""
        import mido

        return mido.MidiFile(file=io.BytesIO(self.to_midi_bytes()))

    def to_pretty_midi(self) -> Any:
        """A `pretty_midi.PrettyMIDI` of the piece (times in seconds)."""
        import pretty_midi

        midi = pretty_midi.PrettyMIDI(io.BytesIO(self.to_midi_bytes()))
        for instrument in midi.instruments:
            instrument.program = int(instrument.program)  # plain ints, as pretty_midi users write them
        return midi

    def to_music21(self) -> Any:
        """A `music21.stream.Score` of the piece: one part per track, one measure per bar.

        Spelled from the key, as the MusicXML :meth:`save` writes; its chord symbols hold no
        pitches, so `.write('midi')` plays the parts and not the labels.
        """
        from midigan.io.musicxml import to_music21

        return to_music21(self.score)

    def show_pianoroll(self, path: str | Path | None = None) -> Any:
        """Draw the piano roll: to a PNG file at `path`, or return the matplotlib Figure.

        Returns:
            The path written, or the Figure when `path` is None (for notebooks).
        """
        from midigan.io.png import pianoroll_figure, write_pianoroll

        if path is None:
            return pianoroll_figure(self.score, title=self.describe())
        return write_pianoroll(self.score, path, title=self.describe())

    # ------------------------------------------------------ editing (model)
    def regenerate(self, bars: Any, **options: Any) -> Piece | list[Piece]:
        """New melody for `bars` (e.g. `range(5, 9)` or '5-8'), every other note kept verbatim; the
        options `n`, `candidates`, `seed` (default: this piece's, else 0), `temperature`, `model`
        are those of :func:`midigan.composer.edit.regenerate`."""
        from midigan.composer.rewrite import regenerate_scores

        options.setdefault("seed", self.seed or 0)
        return self._edited(regenerate_scores(self, bars, **options), options["seed"])

    def vary(self, amount: float = 0.5, **options: Any) -> Piece | list[Piece]:
        """A variation: same rhythm and chords, a share `amount` of the notes re-pitched (options:
        those of :func:`midigan.composer.edit.vary`; `seed` defaults to this piece's, else 0)."""
        from midigan.composer.rewrite import vary_scores

        options.setdefault("seed", self.seed or 0)
        return self._edited(vary_scores(self, amount, **options), options["seed"])

    def _edited(self, scores: list[Score], seed: int) -> Piece | list[Piece]:
        """Edited scores as Pieces carrying this piece's request and the edit's seed."""
        pieces = [Piece(score, self.conditions, seed) for score in scores]
        return pieces[0] if len(pieces) == 1 else pieces

    def play(self, port: str | None = None, virtual: bool = False, tempo: float | None = None) -> int:
        """Play into a MIDI output port (see :mod:`midigan.io.live`); returns the messages sent."""
        from midigan.io.live import open_output, play

        output = open_output(port, virtual=virtual)
        try:
            return play(self.score, output, tempo=tempo)
        finally:
            output.close()

    # ------------------------------------------------------------- printing
    def describe(self) -> str:
        """One line a musician reads: bars, meter, key, tempo, opening chords."""
        bars = self.bars
        parts = [f"{bars} bar{'s' if bars != 1 else ''}", self.meter]
        if self.key:
            parts.append(self.key)
        parts.append(f"{self.tempo:g} bpm")
        chords = self.chords
        if any(chords):
            shown = " | ".join(chords[:8]) + (" | ..." if len(chords) > 8 else "")
            parts.append(f"chords {shown}")
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        tracks = ", ".join(t.name or "?" for t in self.score.tracks)
        return f"<Piece: {self.describe()}; {len(self.melody.notes)} melody notes; tracks: {tracks}>"


def ticks_to_seconds(tick: int, tempos: list[Tempo]) -> float:
    """Seconds from the start to `tick` under a tempo map sorted by tick (120 qpm if empty)."""
    seconds = 0.0
    position = 0
    qpm = 120.0
    for tempo in tempos:
        if tempo.tick >= tick:
            break
        seconds += (tempo.tick - position) / TPQ * 60.0 / qpm
        position, qpm = tempo.tick, tempo.qpm
    return seconds + (tick - position) / TPQ * 60.0 / qpm
