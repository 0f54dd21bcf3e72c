"""The training corpus as id arrays: parsed once, cached, cut into windows, batched.

A corpus is either our built corpus (a folder with ``manifest.jsonl`` giving each
file's id, style and split) or any folder of MIDI files (melody by the melody
rule, style unknown, split by a hash of the file's relative path). Parsing MIDI and
tokenizing takes a minute or more, so the result is cached as one ``.npz`` of plain
arrays (no pickle) named by a fingerprint of the files' contents, the vocabulary
settings and the tokenizer version: training never re-parses an unchanged corpus.

Pieces are cut into windows of at most `seq_len` events; a window that does not
start a piece is fed the real previous event instead of the begin-of-piece id.
Batches group windows of similar length (less padding) in an order that depends
only on `(seed, epoch)`, so a resumed run sees exactly the batches it would have.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from midigan.corpus.manifest import SPLITS, CorpusEntry, corpus_entries
from midigan.errors import ConfigError, MidiganError
from midigan.io import read_score
from midigan.model.conditioning import Timeline
from midigan.model.lookback import piece_lookback
from midigan.music.melody import melody_choice
from midigan.representations.stream_vocab import StreamVocab
from midigan.representations.streams import NoteStreams, PieceTimeline
from midigan.train.batch import Batch
from midigan.train.config import DataConfig

log = logging.getLogger(__name__)

TOKENIZER_VERSION = 2  # bump when the cached arrays would change for the same files
EVENT_COLUMNS = ("pitch", "duration", "velocity", "chord", "position", "bars_remaining", "meter", "bar_index")


def fingerprint(entries: list[CorpusEntry], coverage: float) -> str:
    """sha256 over every file's id, split, style and bytes, plus the tokenizer settings."""
    digest = hashlib.sha256(f"midigan-streams v{TOKENIZER_VERSION} coverage={coverage!r}\n".encode())
    for entry in entries:
        digest.update(f"{entry.id}\t{entry.split}\t{entry.style}\n".encode())
        try:
            digest.update(hashlib.sha256(entry.path.read_bytes()).digest())
        except OSError:
            digest.update(b"<missing>")
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """$MIDIGAN_CACHE_DIR, else $XDG_CACHE_HOME/midigan, else ~/.cache/midigan."""
    if os.environ.get("MIDIGAN_CACHE_DIR"):
        return Path(os.environ["MIDIGAN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "midigan"


# ------------------------------------------------------------------ the corpus
@dataclass
class TokenizedCorpus:
    """Every piece of a corpus as flat id arrays.

    Attributes:
        vocab: fitted on the train split.
        fingerprint: of the files and settings that made it.
        events: (N, 8) int64 ids, columns :data:`EVENT_COLUMNS`.
        onset: (N,) int64 tick of each event within its piece.
        offsets: (P + 1,) where each piece's events start in `events`.
        mode, style, split: (P,) ids (split: index into :data:`SPLITS`).
        timelines: per piece, its barlines and chords.
        ids: (P,) piece ids.
        files: one row per corpus file, used or not: ``id``, ``split``, ``melody`` (the
            track taken, e.g. ``track 2 'Flute'``), ``melody_rule`` ('only track', 'by
            name', 'highest'), ``events`` and ``skipped`` (why it was left out, else None);
            None for a cache written before the rows.
    """

    vocab: StreamVocab
    fingerprint: str
    events: np.ndarray
    onset: np.ndarray
    offsets: np.ndarray
    mode: np.ndarray
    style: np.ndarray
    split: np.ndarray
    timelines: list[PieceTimeline]
    ids: np.ndarray
    files: list[dict] | None = None
    _lookback: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __len__(self) -> int:
        return len(self.mode)

    def pieces(self, split: str) -> np.ndarray:
        """Indices of the pieces of `split`."""
        return np.flatnonzero(self.split == SPLITS.index(split))

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def lookback(self, lags: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Every event's lookback candidates (N, L, 2) and repeat states (N, L), computed once per `lags`.

        See :func:`midigan.model.lookback.piece_lookback`; "none" is the vocabulary's
        pitch and duration count (the generator's none ids).
        """
        cache = self._lookback
        if lags not in cache:
            none_ids = (self.vocab.n_pitch, self.vocab.n_duration)
            candidates = np.empty((len(self.events), len(lags), 2), dtype=np.int64)
            states = np.empty((len(self.events), len(lags)), dtype=np.int64)
            for p, timeline in enumerate(self.timelines):
                lo, hi = int(self.offsets[p]), int(self.offsets[p + 1])
                events = self.events[lo:hi]
                candidates[lo:hi], states[lo:hi] = piece_lookback(
                    self.onset[lo:hi], events[:, 0], events[:, 1], timeline.bar_starts, lags, none_ids
                )
            cache[lags] = (candidates, states)
        return cache[lags]

    def timeline(self, windows: list[Window], chordless: np.ndarray | None = None) -> Timeline:
        """The batched timeline of the windows' pieces (the free-running loop follows it);
        the rows `chordless` marks (:func:`chordless_rows`) lose their chords, as :func:`collate`'s do."""
        rows = [self.timelines[w.piece] for w in windows]
        if chordless is not None:
            rows = [
                replace(t, chord_ids=np.zeros_like(t.chord_ids)) if drop else t
                for t, drop in zip(rows, chordless, strict=True)
            ]
        return Timeline.stack(rows)

    # ------------------------------------------------------------- storage
    def save(self, path: Path) -> Path:
        """Write as one .npz of plain arrays, atomically."""
        arrays = {
            "events": self.events.astype(np.int16),
            "onset": self.onset.astype(np.int32),
            "offsets": self.offsets,
            "mode": self.mode,
            "style": self.style,
            "split": self.split,
            "ids": self.ids.astype(str),
            "meta": np.array(
                json.dumps(
                    {"vocab": self.vocab.to_json(), "fingerprint": self.fingerprint, "files": self.files}
                )
            ),
        }
        for name in ("bar_starts", "bar_meter", "chord_ticks", "chord_ids"):
            rows = [getattr(t, name) for t in self.timelines]
            arrays[f"tl_{name}"] = np.concatenate(rows) if rows else np.zeros(0, np.int64)
            arrays[f"tl_{name}_len"] = np.array([len(r) for r in rows], dtype=np.int64)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path) -> TokenizedCorpus:
        """Read a cache written by :meth:`save` (no pickle allowed)."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            columns = {}
            for name in ("bar_starts", "bar_meter", "chord_ticks", "chord_ids"):
                split_at = np.cumsum(data[f"tl_{name}_len"])[:-1]
                columns[name] = np.split(data[f"tl_{name}"].astype(np.int64), split_at)
            timelines = [PieceTimeline(*row) for row in zip(*columns.values(), strict=True)]
            return cls(
                vocab=StreamVocab.from_json(meta["vocab"]),
                fingerprint=meta["fingerprint"],
                events=data["events"].astype(np.int64),
                onset=data["onset"].astype(np.int64),
                offsets=data["offsets"].astype(np.int64),
                mode=data["mode"].astype(np.int64),
                style=data["style"].astype(np.int64),
                split=data["split"].astype(np.int64),
                timelines=timelines,
                ids=data["ids"],
                files=meta.get("files"),
            )


def read_streams(entry: CorpusEntry) -> NoteStreams:
    """One file's melody as NoteStreams moved to C.

    Raises:
        MidiganError: unreadable file or no melody.
    """
    return read_melody(entry)[0]


def read_melody(entry: CorpusEntry) -> tuple[NoteStreams, str | None, str | None]:
    """One file's melody as NoteStreams moved to C, the track it came from (``track 2 'Flute'``)
    and the part of the melody rule that chose it ('only track', 'by name', 'highest'); both
    None when the file has no pitched notes.

    Raises:
        MidiganError: unreadable file.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantization notes are expected on user MIDI
        score = read_score(entry.path)
    melody = rule = None
    if any(t.notes and not t.is_drum for t in score.tracks):
        index, rule = melody_choice(score)
        name = score.tracks[index].name
        melody = f"track {index + 1}{f' {name!r}' if name else ''}"
    return NoteStreams.from_score(score, style=entry.style, to_c=True), melody, rule


def tokenize(
    entries: list[CorpusEntry], coverage: float, fingerprint_: str, progress: bool = False
) -> TokenizedCorpus:
    """Parse every file, fit the vocabulary on the train split, and encode all pieces.

    Files that cannot be read, or hold no notes, are skipped; the corpus's `files` rows
    say which and why, and which track each melody came from.

    Raises:
        ConfigError: no usable piece in the train split.
    """
    from tqdm import tqdm

    parsed: list[tuple[CorpusEntry, NoteStreams]] = []
    files: list[dict] = []
    for entry in tqdm(entries, desc="reading corpus", unit="file", disable=not progress):
        row: dict = {"id": entry.id, "split": entry.split, "melody": None, "melody_rule": None}
        row |= {"events": 0, "skipped": None}
        files.append(row)
        try:
            streams, row["melody"], row["melody_rule"] = read_melody(entry)
        except MidiganError as e:
            row["skipped"] = f"unreadable: {e}"
            continue
        if streams.bar_count < 1 or not (streams.pitch >= 0).any():
            row["skipped"] = "no melody: no pitched notes" if row["melody"] is None else "no melody: no bars"
            continue
        parsed.append((entry, streams))
    train = [s for e, s in parsed if e.split == "train"]
    if not train:
        skipped = sum(1 for row in files if row["skipped"])
        raise ConfigError(
            f"no usable melody in the train split ({skipped} file(s) skipped); check the corpus"
        )
    vocab = StreamVocab.fit(train, coverage=coverage)
    encoded = [vocab.encode(s) for _, s in parsed]
    used = iter(encoded)
    for row in files:
        if not row["skipped"]:
            row["events"] = len(next(used)["pitch"])
    lengths = np.array([len(e["pitch"]) for e in encoded], dtype=np.int64)
    events = np.concatenate([np.stack([e[c] for c in EVENT_COLUMNS], 1) for e in encoded])
    durations = np.asarray(vocab.durations, dtype=np.int64)
    onset = np.concatenate([np.cumsum(durations[e["duration"]]) - durations[e["duration"]] for e in encoded])
    return TokenizedCorpus(
        vocab=vocab,
        fingerprint=fingerprint_,
        events=events,
        onset=onset,
        offsets=np.concatenate(([0], np.cumsum(lengths))),
        mode=np.array([e["mode"] for e in encoded], dtype=np.int64),
        style=np.array([e["style"] for e in encoded], dtype=np.int64),
        split=np.array([SPLITS.index(entry.split) for entry, _ in parsed], dtype=np.int64),
        timelines=[PieceTimeline.of(s) for _, s in parsed],
        ids=np.array([entry.id for entry, _ in parsed]),
        files=files,
    )


def load_corpus(
    folder: str | Path,
    coverage: float = 0.995,
    cache_dir: str | Path | None = None,
    progress: bool = False,
    split: str | None = None,
) -> TokenizedCorpus:
    """The tokenized corpus of `folder`, from the cache when the files are unchanged.

    Args:
        split: shares for a plain folder (see :func:`midigan.corpus.manifest.corpus_entries`).

    Raises:
        ConfigError: not a corpus folder, nothing usable in it, or a bad `split`.
    """
    entries = corpus_entries(folder, split)
    fp = fingerprint(entries, coverage)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / f"streams-{fp[:20]}.npz"
    if path.exists():
        try:
            cached = TokenizedCorpus.load(path)
            if cached.files is not None:  # else a cache from before the per-file rows: redo it
                return cached
        except (OSError, ValueError, KeyError, MidiganError) as e:
            log.warning("ignoring unreadable corpus cache %s (%s)", path, e)
    corpus = tokenize(entries, coverage, fp, progress=progress)
    try:
        corpus.save(path)
    except OSError as e:
        log.warning("cannot write corpus cache %s (%s); continuing without it", path, e)
    return corpus


# ------------------------------------------------------------------ windows & batches
@dataclass(frozen=True)
class Window:
    """Events `start .. stop` (exclusive, corpus-global indices) of piece `piece`."""

    piece: int
    start: int
    stop: int


def windows(corpus: TokenizedCorpus, pieces: np.ndarray, seq_len: int) -> list[Window]:
    """Cut each piece into consecutive windows of at most `seq_len` events."""
    out = []
    for p in pieces.tolist():
        lo, hi = int(corpus.offsets[p]), int(corpus.offsets[p + 1])
        out.extend(Window(p, s, min(s + seq_len, hi)) for s in range(lo, hi, seq_len))
    return out


@dataclass(frozen=True)
class RunData:
    """What one run trains and validates on: windows of the usable pieces of each split.

    Pieces longer than `max_events` are left out (and named in the run's data log).
    """

    train_windows: list[Window]
    gan_windows: list[Window]
    valid_pieces: np.ndarray
    valid_batches: list[list[Window]]
    train_events: int
    used: dict[str, int]  # pieces used per split
    valid_total: int  # usable valid pieces, before the `valid_pieces` cap

    @classmethod
    def of(cls, corpus: TokenizedCorpus, data: DataConfig, gan_len: int) -> RunData:
        """Raises: ConfigError: no training piece is usable."""
        usable = corpus.lengths() <= data.max_events
        train = corpus.pieces("train")
        train = train[usable[train]]
        valid = corpus.pieces("valid")
        valid_total = int(usable[valid].sum())
        valid = valid[usable[valid]][: data.valid_pieces]
        test = corpus.pieces("test")
        train_windows = windows(corpus, train, data.seq_len)
        if not train_windows:
            raise ConfigError("the corpus has no training pieces")
        return cls(
            train_windows=train_windows,
            gan_windows=windows(corpus, train, gan_len),
            valid_pieces=valid,
            valid_batches=epoch_batches(windows(corpus, valid, data.seq_len), data.batch_size, 0, 0),
            train_events=int(corpus.lengths()[train].sum()),
            used={"train": len(train), "valid": len(valid), "test": int(usable[test].sum())},
            valid_total=valid_total,
        )


def epoch_batches(
    items: list[Window], batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1
) -> list[list[Window]]:
    """This rank's batches of one epoch, in an order fixed by `(seed, epoch)`.

    Windows are shuffled, grouped 50 batches at a time, sorted by length within a
    group (little padding), cut into batches, and the batches shuffled. Under
    DDP every rank takes every `world`-th batch and all ranks get the same count
    (the role DistributedSampler plays for plain datasets).
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(items))
    group = batch_size * 50
    batches: list[list[Window]] = []
    for g in range(0, len(order), group):
        chunk = sorted(order[g : g + group].tolist(), key=lambda i: items[i].stop - items[i].start)
        batches.extend(
            [items[i] for i in chunk[b : b + batch_size]] for b in range(0, len(chunk), batch_size)
        )
    batches = [batches[i] for i in rng.permutation(len(batches))]
    per_rank = len(batches) // world if world > 1 else len(batches)
    return batches[rank::world][:per_rank]


def chordless_rows(seed: int, step: int, size: int, share: float) -> np.ndarray | None:
    """Which windows of the batch of global step `step` train without chords (chord dropout).

    Drawn from `(seed, step)` alone, so a resumed run drops the same windows; None when
    `share` is 0 (no draw at all: a run without dropout is the run it always was).
    """
    if share <= 0:
        return None
    return np.random.default_rng([seed, 0xC40D, step]).random(size) < share


def collate(
    corpus: TokenizedCorpus,
    batch: list[Window],
    bos: tuple[int, int, int],
    lags: tuple[int, ...] = (),
    history: bool = False,
    chordless: np.ndarray | None = None,
) -> Batch:
    """The tensors of a batch of windows (on the CPU).

    Args:
        lags: a lookback model's lags: adds each event's `candidates` and `repeat_states`
            (the previous event's states, 0 before a piece starts).
        history: also add each piece's whole melody by onset tick (the adversarial
            unroll of a lookback model reads its candidates from it).
        chordless: (B,) bool: these windows get chord id 0 at every event (chord dropout,
            so a request without chords is in the training distribution).
    """
    T = max(w.stop - w.start for w in batch)
    B = len(batch)
    events = np.zeros((B, T, len(EVENT_COLUMNS)), dtype=np.int64)
    mask = np.zeros((B, T), dtype=bool)
    prev = np.empty((B, 3), dtype=np.int64)
    for i, w in enumerate(batch):
        n = w.stop - w.start
        events[i, :n] = corpus.events[w.start : w.stop]
        mask[i, :n] = True
        first = w.start == corpus.offsets[w.piece]
        prev[i] = bos if first else corpus.events[w.start - 1, :3]
    if chordless is not None:
        events[chordless, :, 3] = 0
    pieces = np.array([w.piece for w in batch])
    tensors = torch.from_numpy(events)
    lookback = _lookback_columns(corpus, batch, T, lags, history) if lags else {}
    return Batch(
        pitch=tensors[..., 0],
        duration=tensors[..., 1],
        velocity=tensors[..., 2],
        conditions=tensors[..., 3:],
        mask=torch.from_numpy(mask),
        prev=torch.from_numpy(prev),
        mode=torch.from_numpy(corpus.mode[pieces]),
        style=torch.from_numpy(corpus.style[pieces]),
        start=torch.from_numpy(corpus.onset[[w.start for w in batch]]),
        **lookback,
    )


def _lookback_columns(
    corpus: TokenizedCorpus, batch: list[Window], T: int, lags: tuple[int, ...], history: bool
) -> dict[str, torch.Tensor]:
    """The lookback fields of :func:`collate`'s batch, by name."""
    all_candidates, all_states = corpus.lookback(lags)
    none_pitch, none_duration = corpus.vocab.n_pitch, corpus.vocab.n_duration
    candidates = np.empty((len(batch), T, len(lags), 2), dtype=np.int64)
    candidates[..., 0], candidates[..., 1] = none_pitch, none_duration
    repeat = np.zeros((len(batch), T, len(lags)), dtype=np.int64)
    for i, w in enumerate(batch):
        n = w.stop - w.start
        candidates[i, :n] = all_candidates[w.start : w.stop]
        first = max(w.start - 1, int(corpus.offsets[w.piece]))  # state of the event before each one
        states = all_states[first : w.stop - 1]
        repeat[i, n - len(states) : n] = states
    out = {"candidates": torch.from_numpy(candidates), "repeat_states": torch.from_numpy(repeat)}
    if history:
        ends = [int(corpus.timelines[w.piece].bar_starts[-1]) for w in batch]
        pitch = np.full((len(batch), max(ends)), none_pitch, dtype=np.int64)
        duration = np.full_like(pitch, none_duration)
        for i, w in enumerate(batch):
            lo, hi = int(corpus.offsets[w.piece]), int(corpus.offsets[w.piece + 1])
            pitch[i, corpus.onset[lo:hi]] = corpus.events[lo:hi, 0]
            duration[i, corpus.onset[lo:hi]] = corpus.events[lo:hi, 1]
        out |= {"history_pitch": torch.from_numpy(pitch), "history_duration": torch.from_numpy(duration)}
    return out
