"""The event-token vocabulary: `TokenVocab`, built deterministically from an `EventConfig`.

It saves and loads itself as JSON, so a model carries its vocabulary with it and never
needs pickle.

The vocabulary is a pure function of its config, so a model only needs the config
to rebuild it; it is still saved in full (JSON) next to any model that uses it, and
loading checks that the saved token list is the one the config builds, which
catches a vocabulary from another midigan version before it garbles a decode.

Token families, in id order: `PAD BOS EOS Bar Drum`, `Position_<tick>`,
`Meter_<n>/<d>`, `Tempo_<qpm>`, `Key_<name>`, `Chord_<symbol>`, `Track_<i>`,
`Program_<p>`, `Pitch_<p>`, `Duration_<ticks>`, `Velocity_<v>`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from midigan.errors import ConfigError
from midigan.io.atomic import write_atomic
from midigan.music import theory
from midigan.representations.ids import N_CHORDS, chord_from_id

FORMAT = "midigan.TokenVocab"
VERSION = 1

# Token kinds: the grammar works on these small ints, not on strings.
PAD, BOS, EOS, BAR, DRUM, POSITION, METER, TEMPO, KEY, CHORD, TRACK, PROGRAM, PITCH, DURATION, VELOCITY = (
    range(15)
)
KIND_NAMES = (
    "PAD", "BOS", "EOS", "Bar", "Drum", "Position", "Meter", "Tempo", "Key", "Chord", "Track",
    "Program", "Pitch", "Duration", "Velocity",
)  # fmt: skip

METER_DENOMINATORS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class EventConfig:
    """What the event vocabulary can express.

    Attributes:
        max_position: positions 0..max_position-1 ticks from the barline. 192 ticks
            (16 quarters) holds every bar up to 4/1, 16/4 or 32/8; the model's
            stream conditions clip at 96, but tokens must be exact.
        max_duration: durations 1..max_duration ticks exact (192 = four 4/4 bars);
            longer notes are clipped with a warning.
        max_tracks: track slots.
        max_meter_numerator: meters n/d with 1 <= n <= this and d in 1, 2, 4 ... 32.
        min_qpm, max_qpm: tempo tokens, one per whole qpm; others round and clip
            (with a warning). 600 because corpus tunes notated in fast quarters reach 480.
    """

    max_position: int = 192
    max_duration: int = 192
    max_tracks: int = 64
    max_meter_numerator: int = 32
    min_qpm: int = 20
    max_qpm: int = 600

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventConfig:
        """Rebuild a config; unknown keys are an error (they mean another version).

        Raises:
            ConfigError: unknown keys or non-integer values.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown EventConfig keys {unknown}: the vocabulary is from another version")
        if not all(isinstance(v, int) and v > 0 for v in data.values()):
            raise ConfigError(f"EventConfig values must be positive integers (got {data})")
        return cls(**data)


class TokenVocab:
    """Token strings and ids, with each token's kind and value for fast decoding.

    Attributes:
        config: the config the vocabulary was built from.
        tokens: token strings; id = index.
        kinds: kind code of each id (see `KIND_NAMES`).
        values: the number each token carries (tick, pitch, qpm, chord id, ...; 0 for none).
        base: first id of each kind, so encoders compute ids arithmetically.
    """

    def __init__(self, config: EventConfig | None = None) -> None:
        config = config or EventConfig()
        self.config = config
        self.meters: list[tuple[int, int]] = [
            (n, d) for n in range(1, config.max_meter_numerator + 1) for d in METER_DENOMINATORS
        ]
        self.key_names = [theory.key_name(tonic, mode) for mode in ("major", "minor") for tonic in range(12)]
        families: list[tuple[int, list[str], list[int]]] = [
            (PAD, ["PAD"], [0]),
            (BOS, ["BOS"], [0]),
            (EOS, ["EOS"], [0]),
            (BAR, ["Bar"], [0]),
            (DRUM, ["Drum"], [0]),
            (POSITION, *_family("Position", range(config.max_position))),
            (METER, [f"Meter_{n}/{d}" for n, d in self.meters], list(range(len(self.meters)))),
            (TEMPO, *_family("Tempo", range(config.min_qpm, config.max_qpm + 1))),
            (KEY, [f"Key_{name}" for name in self.key_names], list(range(24))),
            (CHORD, [f"Chord_{theory.chord_symbol(*chord_from_id(i))}" for i in range(N_CHORDS)],
             list(range(N_CHORDS))),
            (TRACK, *_family("Track", range(config.max_tracks))),
            (PROGRAM, *_family("Program", range(128))),
            (PITCH, *_family("Pitch", range(128))),
            (DURATION, *_family("Duration", range(1, config.max_duration + 1))),
            (VELOCITY, *_family("Velocity", range(1, 128))),
        ]  # fmt: skip
        self.tokens: tuple[str, ...] = ()
        self.kinds: list[int] = []
        self.values: list[int] = []
        self.base: dict[int, int] = {}
        tokens: list[str] = []
        for kind, names, values in families:
            self.base[kind] = len(tokens)
            tokens += names
            self.kinds += [kind] * len(names)
            self.values += values
        self.tokens = tuple(tokens)
        self.index: dict[str, int] = {t: i for i, t in enumerate(tokens)}
        self.meter_index = {m: i for i, m in enumerate(self.meters)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenVocab) and other.tokens == self.tokens

    def __hash__(self) -> int:
        return hash(self.tokens)

    def __repr__(self) -> str:
        return f"TokenVocab({len(self)} tokens, {self.config})"

    def id_of(self, token: str) -> int:
        """Id of a token string.

        Raises:
            ConfigError: the token is not in the vocabulary.
        """
        try:
            return self.index[token]
        except KeyError:
            raise ConfigError(f"token {token!r} is not in the vocabulary") from None

    # --------------------------------------------------------------- files
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: format tag, config and the full token list."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "config": asdict(self.config),
            "tokens": list(self.tokens),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenVocab:
        """Rebuild from :meth:`to_json` output, checking the token list matches.

        Raises:
            ConfigError: not a token vocabulary, or one from another midigan version.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"not a midigan token vocabulary (expected format {FORMAT!r})")
        if data.get("version") != VERSION:
            raise ConfigError(
                f"token vocabulary version {data.get('version')!r}; this midigan reads {VERSION}"
            )
        vocab = cls(EventConfig.from_dict(data.get("config", {})))
        if "tokens" in data and tuple(data["tokens"]) != vocab.tokens:
            raise ConfigError(
                "saved token list differs from the one its config builds: another midigan version"
            )
        return vocab

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON (atomically) and return the path."""
        text = json.dumps(self.to_json(), indent=1)
        return write_atomic(Path(path), lambda: text.encode("utf-8"))

    @classmethod
    def load(cls, path: str | Path) -> TokenVocab:
        """Read a vocabulary written by :meth:`save`.

        Raises:
            ConfigError: unreadable, not JSON, or not a matching vocabulary.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path}: cannot read token vocabulary: {e}") from e
        return cls.from_json(data)


def _family(prefix: str, values: range) -> tuple[list[str], list[int]]:
    return [f"{prefix}_{v}" for v in values], list(values)
