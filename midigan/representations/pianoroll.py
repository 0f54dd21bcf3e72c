"""`PianoRoll`: a score as dense arrays (tracks x steps x 128), and back.

A roll keeps two arrays of the same shape: `velocities` (uint8, 0 = silent) and
`onsets` (bool). The onset plane is what lets repeated notes survive: two
consecutive quarter notes on the same pitch are one unbroken run of velocity but
two onsets. Rolls without onsets (a model's output, say) still decode: a run of
non-zero velocity then starts a note wherever it begins.

Resolution is in steps per quarter note. At :data:`~midigan.music.score.TPQ` (the
default) the roll is the score's own grid and the round trip is exact. Finer
resolutions (a multiple of TPQ) are exact too. Coarser ones (a divisor of TPQ)
snap each onset and offset to the nearest step, and a note is never shorter than
one step: triplets in a roll of 4 steps per quarter move.

Overlapping notes of one pitch in one track cannot both be drawn: the later onset
cuts the earlier note, and of two notes starting on the same step the one that
sorts last by (duration, velocity) wins.

Tempo, meter, key and chord maps and the end tick ride along unchanged (in score
ticks), so they survive any resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from midigan.errors import ConfigError
from midigan.music.score import TPQ, ChordLabel, KeySignature, Meter, Note, Score, Tempo, Track

N_PITCHES = 128


@dataclass
class PianoRoll:
    """A score as arrays on a grid of `resolution` steps per quarter note.

    Attributes:
        velocities: `(tracks, steps, 128)` uint8, the velocity sounding at each step.
        onsets: `(tracks, steps, 128)` bool, True where a note starts.
        names: track names.
        programs: General MIDI programs (0-127).
        is_drum: drum flags; drum tracks are rolls of their own like any other.
        resolution: steps per quarter note.
        tempos, meters, keys, chords: the score's maps, in score ticks.
        end_tick: end of the piece in score ticks.
        title: the score's title.
    """

    velocities: np.ndarray
    onsets: np.ndarray
    names: list[str] = field(default_factory=list)
    programs: list[int] = field(default_factory=list)
    is_drum: list[bool] = field(default_factory=list)
    resolution: int = TPQ
    tempos: list[Tempo] = field(default_factory=lambda: [Tempo(0, 120.0)])
    meters: list[Meter] = field(default_factory=lambda: [Meter(0, 4, 4)])
    keys: list[KeySignature] = field(default_factory=list)
    chords: list[ChordLabel] = field(default_factory=list)
    end_tick: int = 0
    title: str = ""

    # ------------------------------------------------------------ building
    @classmethod
    def from_score(cls, score: Score, resolution: int = TPQ) -> PianoRoll:
        """Draw `score` on a grid of `resolution` steps per quarter.

        Args:
            score: the piece.
            resolution: steps per quarter; a divisor or a multiple of TPQ (12).
                Coarser grids snap notes to the nearest step (see module doc).

        Raises:
            ConfigError: a resolution that is not a divisor or multiple of TPQ.
        """
        _check_resolution(resolution)
        end = score.end
        track_ids, pitches, starts, stops, velocities = _note_arrays(score, resolution)
        steps = max(_ticks_to_steps(np.array([end]), resolution)[0], int(stops.max(initial=0)))
        shape = (len(score.tracks), int(steps), N_PITCHES)
        roll = np.zeros(shape, dtype=np.uint8)
        onsets = np.zeros(shape, dtype=bool)
        lengths = stops - starts
        # One (track, step, pitch) index per sounding step, built without a Python loop.
        first = np.repeat(np.cumsum(lengths) - lengths, lengths)
        step_index = np.repeat(starts, lengths) + (np.arange(int(lengths.sum())) - first)
        roll[np.repeat(track_ids, lengths), step_index, np.repeat(pitches, lengths)] = np.repeat(
            velocities, lengths
        )
        onsets[track_ids, starts, pitches] = True
        return cls(
            velocities=roll,
            onsets=onsets,
            names=[t.name for t in score.tracks],
            programs=[t.program for t in score.tracks],
            is_drum=[t.is_drum for t in score.tracks],
            resolution=resolution,
            tempos=list(score.tempos),
            meters=list(score.meters),
            keys=list(score.keys),
            chords=list(score.chords),
            end_tick=end,
            title=score.title,
        )

    # ------------------------------------------------------------- views
    @property
    def steps(self) -> int:
        """Number of time steps."""
        return int(self.velocities.shape[1])

    @property
    def n_tracks(self) -> int:
        return int(self.velocities.shape[0])

    def to_numpy(self) -> np.ndarray:
        """The velocity array, `(tracks, steps, 128)` uint8 (a view, not a copy)."""
        return self.velocities

    def merged(self) -> np.ndarray:
        """All tracks folded into one `(steps, 128)` uint8 roll (loudest wins), e.g. for plotting."""
        if self.n_tracks == 0:
            return np.zeros((self.steps, N_PITCHES), dtype=np.uint8)
        return self.velocities.max(axis=0)

    # ------------------------------------------------------------ decoding
    def to_score(self) -> Score:
        """Read the notes back into a :class:`Score` (sorted tracks).

        A note starts at an onset, or where a run of velocity begins, and lasts until
        the velocity drops to zero or the next onset of that pitch. Its velocity is
        the one at its first step.
        """
        if self.velocities.shape != self.onsets.shape:
            raise ConfigError(
                f"velocities {self.velocities.shape} and onsets {self.onsets.shape} differ in shape"
            )
        tracks = []
        for index in range(self.n_tracks):
            notes = _decode_track(self.velocities[index], self.onsets[index], self.resolution)
            track = Track(
                self.names[index] if index < len(self.names) else f"Track {index}",
                self.programs[index] if index < len(self.programs) else 0,
                self.is_drum[index] if index < len(self.is_drum) else False,
                notes,
            )
            track.sort()
            tracks.append(track)
        return Score(
            tracks=tracks,
            tempos=list(self.tempos),
            meters=list(self.meters),
            keys=list(self.keys),
            chords=list(self.chords),
            end_tick=self.end_tick,
            title=self.title,
        )


def _check_resolution(resolution: int) -> None:
    if resolution < 1 or (TPQ % resolution and resolution % TPQ):
        raise ConfigError(
            f"resolution must be a divisor or a multiple of {TPQ} steps per quarter (got {resolution})"
        )


def _ticks_to_steps(ticks: np.ndarray, resolution: int) -> np.ndarray:
    """Nearest step of each tick (half rounds up): exact when resolution is a multiple of TPQ."""
    return (ticks * resolution * 2 + TPQ) // (2 * TPQ)


def _steps_to_ticks(steps: np.ndarray, resolution: int) -> np.ndarray:
    """Nearest tick of each step (exact when resolution divides TPQ)."""
    return (steps * TPQ * 2 + resolution) // (2 * resolution)


def _note_arrays(score: Score, resolution: int) -> tuple[np.ndarray, ...]:
    """(track, pitch, start step, stop step, velocity) of every note, same-pitch overlaps cut."""
    rows = [
        (index, n.pitch, n.onset, n.offset, n.velocity)
        for index, track in enumerate(score.tracks)
        for n in track.notes
    ]
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty, empty
    table = np.asarray(rows, dtype=np.int64)
    track, pitch, onset, offset, velocity = table.T
    pitch = np.clip(pitch, 0, N_PITCHES - 1)
    velocity = np.clip(velocity, 1, 127)
    start = _ticks_to_steps(np.maximum(onset, 0), resolution)
    stop = np.maximum(_ticks_to_steps(offset, resolution), start + 1)
    order = np.lexsort((velocity, stop - start, start, pitch, track))
    track, pitch, start, stop, velocity = (a[order] for a in (track, pitch, start, stop, velocity))
    same_next = np.zeros(len(track), dtype=bool)
    same_next[:-1] = (track[1:] == track[:-1]) & (pitch[1:] == pitch[:-1])
    next_start = np.append(start[1:], 0)
    keep = ~(same_next & (next_start == start))  # two onsets on one step: the last sorted wins
    stop = np.where(same_next & (next_start > start), np.minimum(stop, next_start), stop)
    return track[keep], pitch[keep], start[keep], stop[keep], velocity[keep]


def _decode_track(velocities: np.ndarray, onsets: np.ndarray, resolution: int) -> list[Note]:
    """Notes of one `(steps, 128)` roll, found with flat-index searches instead of loops."""
    steps = velocities.shape[0]
    active = np.zeros((N_PITCHES, steps + 1), dtype=bool)  # pitch-major, a silent column at the end
    active[:, :steps] = velocities.T > 0
    previous = np.zeros_like(active)
    previous[:, 1:] = active[:, :-1]
    starts = np.zeros_like(active)
    starts[:, :steps] = onsets.T
    starts &= active
    starts |= active & ~previous
    boundaries = np.flatnonzero(~active | starts)
    start_flat = np.flatnonzero(starts)
    stop_flat = boundaries[np.searchsorted(boundaries, start_flat, side="right")]
    pitch, start_step = np.divmod(start_flat, steps + 1)
    stop_step = stop_flat - pitch * (steps + 1)
    onset = _steps_to_ticks(start_step, resolution)
    offset = np.maximum(_steps_to_ticks(stop_step, resolution), onset + 1)
    velocity = velocities[start_step, pitch]
    return [
        Note(int(p), int(on), int(off - on), int(v))
        for p, on, off, v in zip(
            pitch.tolist(), onset.tolist(), offset.tolist(), velocity.tolist(), strict=True
        )
    ]
