"""Note names from the key: which letter a pitch is written on, for notation and summaries.

A :class:`~midigan.music.score.Score` holds pitch classes only (MIDI has no spelling),
so the notation writers choose the letters here. The key's own tones take its scale's
letters (A-flat major's tonic is A-flat, never G-sharp); a chromatic note that belongs
to the chord of the moment takes the chord's letters (F-sharp over D7 in C); any other
chromatic note takes the usual inflection of its scale degree (flat 2, 3, 6 and 7 in
major, sharp 4; sharp 3, 4, 6 and 7 in minor). The tonic's letter is the one the user
wrote (``KeySignature.spelling``), else the spelling with the fewer accidentals
(the one :mod:`midigan.io.midi` writes as the MIDI key signature).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from midigan.music.score import ChordLabel, KeySignature
from midigan.music.theory import CHORD_QUALITIES, chord_symbol, pitch_class_name

LETTERS = "CDEFGAB"
_LETTER_PC = (0, 2, 4, 5, 7, 9, 11)
_LETTER_FIFTHS = (0, 2, 4, -1, 1, 3, 5)  # sharps of each natural letter's major key
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_CHROMATIC_DEGREE = {  # semitones above the tonic -> the scale degree (0-6) it inflects
    "major": {1: 1, 3: 2, 6: 3, 8: 5, 10: 6},
    "minor": {1: 1, 4: 2, 6: 3, 9: 5, 11: 6},
}
_CHORD_STEP = {0: 0, 2: 1, 3: 2, 4: 2, 5: 3, 6: 4, 7: 4, 8: 4, 9: 5, 10: 6, 11: 6}  # interval -> letters up
_USUAL_MAJOR = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_USUAL_MINOR = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")

Spelled = tuple[int, int]
"""A written pitch class: (letter index 0-6 into :data:`LETTERS`, alteration in semitones)."""


def parse_spelled(text: str) -> Spelled | None:
    """'Db' -> (1, -1), 'F#' -> (3, 1), 'e♭' -> (2, -1); None when `text` is not a note name."""
    match = re.fullmatch(r"([A-Ga-g])([#♯b♭]*)", text.strip())
    if not match:
        return None
    alter = sum(1 if a in "#♯" else -1 for a in match.group(2))
    return LETTERS.index(match.group(1).upper()), alter


def spelled_name(spelled: Spelled) -> str:
    """(1, -1) -> 'Db' (the names midigan prints: '#' and 'b')."""
    letter, alter = spelled
    return LETTERS[letter] + ("#" * alter if alter > 0 else "b" * -alter)


def pitch_class_of(spelled: Spelled) -> int:
    """The pitch class a spelled name sounds: (1, -1) 'Db' -> 1."""
    return (_LETTER_PC[spelled[0] % 7] + spelled[1]) % 12


def spell_on(letter: int, pc: int) -> Spelled:
    """Pitch class `pc` written on `letter` (the alteration taken between -6 and +5)."""
    alter = (pc - _LETTER_PC[letter % 7] + 6) % 12 - 6
    return letter % 7, alter


def tonic_for_fifths(fifths: int, mode: str) -> str:
    """The tonic's name of the key with `fifths` sharps (negative: flats): (-5, 'major') -> 'Db'."""
    steps = fifths + (3 if mode == "minor" else 0)  # a minor key sits three fifths above its relative major
    return spelled_name(spell_on(4 * steps, 7 * steps % 12))


@dataclass(frozen=True)
class KeySpeller:
    """Spells pitch classes and chord roots in one key (see the module docstring)."""

    tonic: int
    mode: str = "major"
    spelling: str | None = None

    @classmethod
    def of(cls, key: KeySignature | None) -> KeySpeller:
        """The speller of a key signature (C major when there is none)."""
        return cls(0) if key is None else cls(key.tonic, key.mode, key.spelling)

    @cached_property
    def tonic_spelled(self) -> Spelled:
        given = parse_spelled(self.spelling) if self.spelling else None
        if given is not None and pitch_class_of(given) == self.tonic % 12:
            return given
        usual = (_USUAL_MINOR if self.mode == "minor" else _USUAL_MAJOR)[self.tonic % 12]
        return parse_spelled(usual) or (0, 0)

    @property
    def name(self) -> str:
        """The key's name as a musician writes it: 'Db', 'D#m'."""
        return spelled_name(self.tonic_spelled) + ("m" if self.mode == "minor" else "")

    @property
    def fifths(self) -> int:
        """Sharps in the key signature (negative: flats), e.g. -5 for D-flat major."""
        letter, alter = self.tonic_spelled
        return _LETTER_FIFTHS[letter] + 7 * alter - (3 if self.mode == "minor" else 0)

    @cached_property
    def _diatonic(self) -> dict[int, Spelled]:
        letter = self.tonic_spelled[0]
        scale = _MINOR if self.mode == "minor" else _MAJOR
        return {(self.tonic + s) % 12: spell_on(letter + i, self.tonic + s) for i, s in enumerate(scale)}

    def pitch_class(self, pc: int) -> Spelled:
        """`pc` spelled from the key alone: a scale tone, else its degree's usual inflection."""
        pc %= 12
        if pc in self._diatonic:
            return self._diatonic[pc]
        degree = _CHROMATIC_DEGREE["minor" if self.mode == "minor" else "major"][(pc - self.tonic) % 12]
        return _checked(spell_on(self.tonic_spelled[0] + degree, pc), pc)

    def pitch(self, pc: int, chord: ChordLabel | None = None) -> Spelled:
        """`pc` spelled in the key, from `chord`'s letters when it is a chromatic tone of that chord."""
        pc %= 12
        if pc in self._diatonic or chord is None or chord.root is None:
            return self.pitch_class(pc)
        interval = (pc - chord.root) % 12
        if interval not in CHORD_QUALITIES[chord.quality]:
            return self.pitch_class(pc)
        steps = 6 if chord.quality == "dim7" and interval == 9 else _CHORD_STEP[interval]
        return _checked(spell_on(self.pitch_class(chord.root)[0] + steps, pc), pc)

    def chord_symbol(self, root: int | None, quality: str) -> str:
        """A chord symbol with its root spelled in the key: 'Gb' (not 'F#') in D-flat major."""
        plain = chord_symbol(root, quality)
        if root is None:
            return plain
        return spelled_name(self.pitch_class(root)) + plain[len(pitch_class_name(root)) :]


def _checked(spelled: Spelled, pc: int) -> Spelled:
    """`spelled`, or the plain name of `pc` when it would need more than a double sharp or flat."""
    if abs(spelled[1]) <= 2:
        return spelled
    return parse_spelled(pitch_class_name(pc)) or (0, 0)


def written_octave(midi: int, spelled: Spelled) -> int:
    """The octave number a MIDI pitch is written in on its spelled letter: B#3 and Cb4 sound 60 and 59."""
    letter, alter = spelled
    return (midi - _LETTER_PC[letter] - alter) // 12 - 1
