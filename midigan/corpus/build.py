"""Build the training corpora from the collections that ship inside music21.

Four sources, no network: the Essen folk songs (style ``folk``), O'Neill's 1850
(``irish``), Ryan's Mammoth Collection (``fiddle``) and the Bach chorales
(``chorale``). Each tune becomes one :class:`~midigan.music.score.Score` written as a
type-1 MIDI file ``<out>/<style>/<id>.mid`` with chord labels as markers, and one
line of ``<out>/manifest.jsonl``. A tune that cannot be used is skipped and counted
by reason (``<out>/build_report.json``); one bad tune never stops the build.

Ids are ``<style>-<nnnnn>``, numbered in the order of the source's sorted files and
the tunes inside each file, so they are stable from build to build. The split comes
from a hash of an id (:func:`~midigan.corpus.manifest.split_of`): the smallest id of the
tune's *family*, the variants sharing a long melodic run with it
(:mod:`midigan.corpus.families`), so it is stable too and no variant of a test tune is
trained on. Results are sorted by id before anything is decided across tunes
(duplicates, families), so the output does not depend on the number of worker processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from midigan.corpus.families import assign_families, update_report
from midigan.corpus.manifest import MANIFEST_NAME, split_of
from midigan.errors import ConfigError, MidiganError
from midigan.io.atomic import write_atomic
from midigan.music.score import Meter, Score, Tempo

log = logging.getLogger(__name__)

MAX_BAR_TICKS = 96
"""Longest bar the representations take (8 quarters); longer bars are halved (see :func:`fit_bar_length`)."""

MAX_BARS = 512
"""Longest piece kept, in bars (what generation accepts too)."""

MIN_NOTES = 8
"""Tunes with fewer melody notes are fragments, not tunes."""

_ID_RE = re.compile(r"^(folk|irish|fiddle|chorale)-\d{5}\.mid$")


@dataclass(frozen=True)
class Source:
    """One collection of music21's corpus."""

    name: str  # what --sources takes
    folder: str  # under music21/corpus
    style: str  # conditions.STYLES
    kind: str  # "abc" or "chorales"
    mode_rule: str = "source"  # see midigan.io.music21


SOURCES: dict[str, Source] = {
    "essen": Source("essen", "essenFolksong", "folk", "abc", mode_rule="detect"),
    "oneills": Source("oneills", "oneills1850", "irish", "abc"),
    "ryans": Source("ryans", "ryansMammoth", "fiddle", "abc"),
    "chorales": Source("chorales", "bach", "chorale", "chorales"),
}


@dataclass(frozen=True)
class Task:
    """One tune to convert: its id, where it comes from, and the text or corpus name to parse."""

    id: str
    source: str
    ref: str  # e.g. "essenFolksong/erk10.abc#30" or "bach/bwv66.6"
    payload: str  # ABC text of one tune, or a music21 corpus name


@dataclass
class Outcome:
    """What became of one task: a manifest row, or the reason it was skipped."""

    id: str
    source: str
    row: dict | None = None
    reason: str | None = None
    melody_hash: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    ref: str = ""


# ------------------------------------------------------------------ enumeration
def music21_corpus_dir() -> Path:
    """The folder of music21's bundled corpus."""
    import music21

    return Path(music21.__file__).parent / "corpus"


def iter_tasks(sources: Sequence[str], limit: int | None = None) -> Iterator[Task]:
    """Every tune of the named sources, in id order; `limit` caps each source."""
    from midigan.io.abc import split_abc_tunes

    root = music21_corpus_dir()
    for name in sources:
        source = SOURCES[name]
        count = 0
        if source.kind == "chorales":
            from music21 import corpus

            names = corpus.chorales.Iterator(returnType="filename")
            for corpus_name in names:
                if limit is not None and count >= limit:
                    break
                count += 1
                yield Task(f"{source.style}-{count:05d}", name, str(corpus_name), str(corpus_name))
            continue
        for path in sorted((root / source.folder).glob("*.abc")):
            text = path.read_text(encoding="latin-1")
            for index, tune in enumerate(split_abc_tunes(text), start=1):
                if limit is not None and count >= limit:
                    break
                count += 1
                ref = f"{source.folder}/{path.name}#{index}"
                yield Task(f"{source.style}-{count:05d}", name, ref, tune)


# ------------------------------------------------------------------ one tune
def convert_task(task: Task) -> tuple[Score, dict[str, int], str]:
    """Parse one task into a corpus Score (melody first, chords labelled).

    Returns the score, conversion counts and the chord source ("harmony" or "estimated").

    Raises:
        MidiganError: the tune cannot be used; the message is the skip reason.
    """
    from midigan.io.music21 import convert_music21, parse_abc
    from midigan.music.harmony import chorale_chords, estimate_chords

    source = SOURCES[task.source]
    if source.kind == "abc":
        _check_abc_header(task.payload)
        conversion = convert_music21(parse_abc(task.payload), mode_rule=source.mode_rule)
        score = conversion.score
        if any(w.startswith("no time signature") for w in conversion.warnings):
            raise MidiganError("no time signature")
        score.tracks = score.tracks[:1]
        score.tracks[0].name, score.tracks[0].program = "Melody", 0
    else:
        from music21 import corpus

        try:
            parsed = corpus.parse(task.payload)
        except Exception as e:  # music21 raises assorted errors on corpus files
            raise MidiganError(f"music21 cannot parse: {type(e).__name__}") from e
        conversion = convert_music21(parsed)
        score = conversion.score
        score.tracks = _chorale_voices(score)
    if any(m.denominator & (m.denominator - 1) for m in score.meters):
        raise MidiganError("meter with a tuplet denominator (music21 barred a tuplet on its own)")
    fit_bar_length(score)
    melody = score.tracks[0].notes
    if len(melody) < MIN_NOTES:
        raise MidiganError("too short")
    if score.bar_count > MAX_BARS:
        raise MidiganError(f"longer than {MAX_BARS} bars")
    if source.kind == "abc":
        score.chords, chord_source = estimate_chords(score), "estimated"
    else:
        score.chords, chord_source = chorale_chords(score), "harmony"
    score.end_tick = score.end
    counts = {
        "off_grid_notes": conversion.off_grid_notes,
        "padded_measures": conversion.padded_measures,
        "repeats_not_expanded": int(not conversion.repeats_expanded),
    }
    return score, counts, chord_source


def _check_abc_header(text: str) -> None:
    meters = re.findall(r"^M:\s*(\S*)", text, flags=re.MULTILINE)
    if not meters or meters[0].lower() in ("none", "") or "FREI" in meters[0].upper():
        raise MidiganError("free meter")
    if len(meters) > 1 or "[M:" in text:
        raise MidiganError("meter change (music21's ABC reader drops it)")


def _chorale_voices(score: Score) -> list:
    """Soprano first, renamed "Melody"; then alto, tenor, bass (other parts dropped)."""
    wanted = ("soprano", "alto", "tenor", "bass")
    found = {}
    for track in score.tracks:
        name = track.name.lower()
        for voice in wanted:
            if name.startswith(voice[:3]) and voice not in found:
                found[voice] = track
    if "soprano" not in found or len(found) < 4:
        if len(score.tracks) < 4:
            raise MidiganError("not a four-voice chorale")
        found = dict(zip(wanted, score.tracks[:4], strict=True))
    tracks = [found[v] for v in wanted]
    tracks[0].name = "Melody"
    for track, voice in zip(tracks[1:], wanted[1:], strict=True):
        track.name = voice.capitalize()
    for track in tracks:
        track.program = 0
    return tracks


def fit_bar_length(score: Score) -> None:
    """Halve every time value while a bar is longer than :data:`MAX_BAR_TICKS`.

    Old notation (4/1, 3/1, 6/2 in the Essen collection) writes in long values; halving
    them (4/1 -> 4/2, tempo doubled so it sounds the same) keeps every bar within the
    positions the model knows.

    Raises:
        MidiganError: a time value is odd, so it cannot be halved on the grid.
    """
    while max(m.bar_ticks for m in score.meters) > MAX_BAR_TICKS:
        times = [m.tick for m in score.meters] + [t.tick for t in score.tempos]
        times += [k.tick for k in score.keys] + [c.tick for c in score.chords]
        times += [v for _, n in score.iter_notes() for v in (n.onset, n.duration)]
        if any(t % 2 for t in times):
            raise MidiganError("bar too long")
        score.meters = [Meter(m.tick // 2, m.numerator, m.denominator * 2) for m in score.meters]
        score.tempos = [Tempo(t.tick // 2, t.qpm * 2) for t in score.tempos]
        score.keys = [type(k)(k.tick // 2, k.tonic, k.mode) for k in score.keys]
        for _, note in score.iter_notes():
            note.onset //= 2
            note.duration //= 2


def build_one(task: Task, out: str) -> Outcome:
    """Convert and write one tune; every failure becomes a counted skip reason."""
    import warnings

    from midigan.io.midi import midi_bytes

    outcome = Outcome(task.id, task.source, ref=task.ref)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score, counts, chord_source = convert_task(task)
            data = midi_bytes(score)
    except MidiganError as e:
        outcome.reason = _reason(str(e))
        return outcome
    except Exception as e:  # a tune must never stop the build; the reason names the failure
        outcome.reason = f"unexpected {type(e).__name__}"
        return outcome
    finally:
        outcome.seconds = time.perf_counter() - started
    style = SOURCES[task.source].style
    relative = f"{style}/{task.id}.mid"
    write_atomic(Path(out) / relative, lambda: data)
    melody = score.tracks[0].notes
    key = score.keys[0] if score.keys else None
    meter = score.meters[0]
    outcome.counts = counts
    outcome.melody_hash = hashlib.sha1(
        repr([(n.pitch, n.onset, n.duration) for n in melody]).encode("ascii")
    ).hexdigest()
    outcome.row = {
        "id": task.id,
        "source": task.source,
        "ref": task.ref,
        "style": style,
        "title": score.title,
        "key": key.name if key else None,
        "tonic": key.tonic if key else None,
        "mode": key.mode if key else None,
        "meter": meter.name,
        "meters": len(score.meters),
        "qpm": round(score.tempos[0].qpm, 2),
        "bars": score.bar_count,
        "notes": len(melody),
        "tracks": len(score.tracks),
        "chords": len(score.chords),
        "chord_source": chord_source,
        "split": split_of(task.id),
        "path": relative,
    }
    return outcome


def _reason(message: str) -> str:
    """A short, countable reason: the first clause of the message, without specifics."""
    first = message.split(":")[0].strip() if message.startswith("ABC tune does not parse") else message
    return first[:80]


def _build_one_star(args: tuple[Task, str]) -> Outcome:
    return build_one(*args)


# ------------------------------------------------------------------ the whole build
def build_corpus(
    out: str | Path = "corpora",
    *,
    sources: Sequence[str] | None = None,
    jobs: int | None = None,
    limit: int | None = None,
    progress: bool = True,
    force: bool = False,
) -> dict:
    """Build the corpora into `out`; returns the report also written to ``build_report.json``.

    A build writes over the MIDI files, manifest and report already in `out` and removes
    corpus files it no longer makes, so a folder that holds anything (the committed
    corpora/ included) is refused unless `force` (see :func:`existing_contents`).

    Raises:
        MidiganError: an unknown source name, or `out` cannot be written.
        ConfigError: `out` is not empty and `force` is not set.
    """
    from tqdm import tqdm

    sources = list(sources or SOURCES)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise MidiganError(f"unknown source {unknown[0]!r}: choose from {', '.join(SOURCES)}")
    out = Path(out)
    found = existing_contents(out)
    if found is not None and not force:
        raise ConfigError(
            f"{out} already holds {found}; a build writes over it and removes the corpus files it "
            "no longer makes. Pass --force (force=True) to rebuild it there, or --out a new folder"
        )
    for style in {SOURCES[s].style for s in sources}:
        (out / style).mkdir(parents=True, exist_ok=True)
    jobs = max(1, jobs or os.cpu_count() or 1)
    started = time.monotonic()
    tasks = list(iter_tasks(sources, limit))
    outcomes: list[Outcome] = []
    with tqdm(total=len(tasks), desc="corpus", unit="tune", disable=not progress, mininterval=2.0) as bar:
        if jobs == 1:
            for task in tasks:
                outcomes.append(build_one(task, str(out)))
                bar.update()
        else:
            with get_context("spawn").Pool(jobs) as pool:
                for outcome in pool.imap_unordered(_build_one_star, [(t, str(out)) for t in tasks], 8):
                    outcomes.append(outcome)
                    bar.update()
    outcomes.sort(key=lambda o: o.id)
    _drop_duplicates(outcomes, out)
    rows = [o.row for o in outcomes if o.row is not None]
    _remove_stale(out, {r["path"] for r in rows}, sources)
    assign_families(  # the split of each tune's family; reads back the files just written
        rows, out, progress=lambda items: tqdm(items, desc="families", unit="tune", disable=not progress)
    )
    manifest = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    write_atomic(out / MANIFEST_NAME, lambda: manifest.encode("utf-8"))
    report = _report(outcomes, sources, limit, time.monotonic() - started)
    update_report(report, rows)
    write_atomic(out / "build_report.json", lambda: (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    return report


def existing_contents(out: str | Path) -> str | None:
    """What a build into `out` would write over, in words ('11,457 MIDI files, manifest.jsonl and
    2 other files'); None when `out` is missing or holds no file (empty folders are no loss)."""
    out = Path(out)
    files = [p for p in out.rglob("*") if p.is_file()] if out.is_dir() else []
    if not files:
        return None
    midi = sum(1 for p in files if p.suffix == ".mid")
    named = [name for name in (MANIFEST_NAME, "build_report.json") if (out / name).is_file()]
    others = len(files) - midi - len(named)
    parts = ([f"{midi:,} MIDI file{'s' if midi != 1 else ''}"] if midi else []) + named
    if others or not parts:
        parts.append(f"{others} other file{'s' if others != 1 else ''}")
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


def _drop_duplicates(outcomes: list[Outcome], out: Path) -> None:
    """Skip later copies of a melody already built (same pitches and rhythm), across sources."""
    seen: dict[str, str] = {}
    for outcome in outcomes:
        if outcome.row is None:
            continue
        first = seen.setdefault(outcome.melody_hash, outcome.id)
        if first != outcome.id:
            (out / outcome.row["path"]).unlink(missing_ok=True)
            outcome.row, outcome.reason = None, "duplicate melody"


def _remove_stale(out: Path, keep: set[str], sources: Sequence[str]) -> None:
    """Delete corpus files of the rebuilt styles that this build did not produce."""
    for style in {SOURCES[s].style for s in sources}:
        for path in (out / style).glob("*.mid"):
            if _ID_RE.match(path.name) and f"{style}/{path.name}" not in keep:
                path.unlink()


def _report(outcomes: list[Outcome], sources: Sequence[str], limit: int | None, seconds: float) -> dict:
    import music21

    per_source = {}
    for name in sources:
        mine = [o for o in outcomes if o.source == name]
        built = [o for o in mine if o.row is not None]
        totals: Counter[str] = Counter()
        for o in built:
            totals.update(o.counts)
        per_source[name] = {
            "style": SOURCES[name].style,
            "tunes": len(mine),
            "built": len(built),
            "skipped": dict(sorted(Counter(o.reason for o in mine if o.row is None).items())),
            "splits": dict(sorted(Counter(o.row["split"] for o in built).items())),
            "notes": sum(o.row["notes"] for o in built),
            "bars": sum(o.row["bars"] for o in built),
            **{k: totals[k] for k in ("off_grid_notes", "padded_measures", "repeats_not_expanded")},
        }
    return {
        "built": sum(s["built"] for s in per_source.values()),
        "tunes": sum(s["tunes"] for s in per_source.values()),
        "sources": per_source,
        "slowest": [
            {"id": o.id, "ref": o.ref, "seconds": round(o.seconds, 2)}
            for o in sorted(outcomes, key=lambda o: -o.seconds)[:5]
        ],
        "limit_per_source": limit,
        "music21_version": music21.__version__,
        "seconds": round(seconds, 1),
    }
