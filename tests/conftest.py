"""Shared test builders: scores from tuples, so expected music reads like a table."""

from __future__ import annotations

import os

# pytest -n 2 on a 2-core machine: one intra-op thread per worker, or torch's threads fight
# and batched sampling slows ~20x. Set before any test module imports torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from collections.abc import Iterable, Sequence

import pytest

from midigan.music.score import ChordLabel, KeySignature, Meter, Note, Score, Tempo, Track


def make_track(
    notes: Iterable[Sequence[int]], name: str = "Melody", program: int = 0, is_drum: bool = False
) -> Track:
    """A track from `(pitch, onset, duration, velocity)` tuples (velocity optional, 80)."""
    built = [Note(n[0], n[1], n[2], n[3] if len(n) > 3 else 80) for n in notes]
    return Track(name=name, program=program, is_drum=is_drum, notes=built)


def make_score(
    notes: Iterable[Sequence[int]],
    meter: tuple[int, int] = (4, 4),
    qpm: float = 120.0,
    key: tuple[int, str] | None = (0, "major"),
    chords: Iterable[tuple[int, int | None, str]] = (),
    end_tick: int | None = None,
) -> Score:
    """A one-track score from `(pitch, onset, duration, velocity)` tuples."""
    return Score(
        tracks=[make_track(notes)],
        tempos=[Tempo(0, qpm)],
        meters=[Meter(0, *meter)],
        keys=[KeySignature(0, *key)] if key else [],
        chords=[ChordLabel(t, r, q) for t, r, q in chords],
        end_tick=end_tick,
    )


@pytest.fixture
def twinkle() -> Score:
    """Two bars of 'Twinkle Twinkle' in C, 4/4, with C and F/C chords."""
    q = 12
    pitches = [60, 60, 67, 67, 69, 69, 67]
    notes = [(p, i * q, q, 90) for i, p in enumerate(pitches[:6])] + [(67, 6 * q, 2 * q, 90)]
    return make_score(notes, chords=[(0, 0, "maj"), (4 * q, 5, "maj"), (6 * q, 0, "maj")])


def full_disk_on_write(monkeypatch: pytest.MonkeyPatch, failing_call: int) -> None:
    """The `failing_call`-th write of bytes to disk fails as a full disk does (ENOSPC).

    Every file midigan writes goes through :func:`midigan.io.atomic._write_bytes`, so this is
    a full disk for compose, render and save alike.
    """
    import errno

    from midigan.io import atomic

    real = atomic._write_bytes
    calls = {"n": 0}

    def write(tmp, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == failing_call:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(tmp, data)

    monkeypatch.setattr(atomic, "_write_bytes", write)
