"""The dynamics corpus: melodies whose velocities were played or marked, not templated.

The folk corpus (:mod:`midigan.corpus.build`) has no dynamics: its velocities are a
metric template. This corpus holds melodies with real ones, from two offline sources:

* ``music21``: the scores with dynamics markings in music21's own corpus (string quartets,
  piano pieces, songs...): the top part (first violin, soprano, right hand), every mark and
  hairpin rendered as velocities (:mod:`midigan.corpus.dynamics_render`);
* ``debian``: the MIDI songs that Debian packages ship (:data:`DEBIAN_PACKAGES`), read from
  the ``.deb`` files in a folder (``apt-get download`` fills it; see :func:`fetch_debs`).

Each piece keeps only its melody (the melody rule, made monophonic by the skyline) with
its velocities, meter, tempo and key, written as ``<out>/<source>/<id>.mid``; a melody
whose velocities take fewer than :data:`MIN_DISTINCT_VELOCITIES` values has nothing to
teach and is skipped, like a file that does not read (skips are counted by reason in
``build_report.json``). Ids are named from the source file, so they are stable, and the
split is a hash of the id (:func:`split_of`) with larger held-out shares than the folk
corpus (70 / 15 / 15), because a few hundred pieces would otherwise leave a test split
too small to compare distributions on.

Also here: the piece's overall level (:data:`LEVELS`, pp ... ff) from its mean velocity,
the label the velocity model is conditioned on. No torch; music21 only for its source.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import subprocess
import tarfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from midigan.errors import ConfigError, MidiganError
from midigan.io.atomic import write_atomic
from midigan.music.melody import extract_melody
from midigan.music.score import Score

log = logging.getLogger(__name__)

LEVELS = ("pp", "p", "mp", "mf", "f", "ff")
"""The overall levels a piece is played at, softest first (ids 0..5)."""

LEVEL_EDGES = (46, 58, 70, 82, 96)
"""Mean melody velocity below LEVEL_EDGES[i] is level i; at or above the last, ff."""

LEVEL_VELOCITY = (38, 52, 64, 76, 89, 104)
"""A typical mean velocity of each level (what a level means to a template or a test)."""

DEBIAN_PACKAGES: dict[str, str] = {
    "openttd-openmsx": "GPL-2.0 (OpenMSX, the OpenTTD music set)",
    "planetblupi-music-midi": "GPL-3+ (Planet Blupi game music)",
}
"""Debian packages that ship MIDI songs, and the licence their copyright file states."""

MUSIC21_FOLDERS = (
    "beach", "beethoven", "chopin", "cpebach", "demos", "handel", "haydn", "johnson_j_r",
    "joplin", "liliuokalani", "mozart", "schoenberg", "schubert", "schumann_clara",
    "schumann_robert", "verdi", "weber", "webern",
)  # fmt: skip
"""music21 corpus folders whose scores carry dynamics marks (music21 10.5: 73 of their 86 scores;
the folk, chorale, madrigal and chant collections carry almost none)."""

SOURCES = ("music21", "debian")
MIN_DISTINCT_VELOCITIES = 3
MIN_NOTES = 16
MAX_BARS = 512
"""Longest piece kept, in bars (a longer one is cut at its 512th barline)."""

SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")


def level_of(mean_velocity: float) -> int:
    """The level id (index into :data:`LEVELS`) of a piece whose melody's mean velocity this is."""
    return sum(mean_velocity >= edge for edge in LEVEL_EDGES)


def parse_level(name: str) -> int:
    """The id of a level name ('pp' ... 'ff').

    Raises:
        ConfigError: not one of :data:`LEVELS`.
    """
    if name not in LEVELS:
        raise ConfigError(f"dynamics level {name!r} is not one of {', '.join(LEVELS)}")
    return LEVELS.index(name)


def split_of(piece_id: str) -> str:
    """'train', 'valid' or 'test' from sha1(id) mod 100: < 70 train, < 85 valid, else test."""
    bucket = int(hashlib.sha1(piece_id.encode("utf-8")).hexdigest(), 16) % 100
    return "train" if bucket < 70 else "valid" if bucket < 85 else "test"


@dataclass(frozen=True)
class Item:
    """One source file: its id, source, reference, licence, and how to read it."""

    id: str
    source: str
    ref: str
    licence: str
    data: bytes = b""  # MIDI bytes (debian); empty for music21 (ref is the corpus path)


# ------------------------------------------------------------------ sources
def music21_items(limit: int | None = None) -> Iterator[Item]:
    """The score files of :data:`MUSIC21_FOLDERS`, sorted; a .krn with a MusicXML twin is left out."""
    from midigan.corpus.build import music21_corpus_dir

    root = music21_corpus_dir()
    count = 0
    for folder in MUSIC21_FOLDERS:
        files = sorted(p for p in (root / folder).rglob("*") if p.suffix.lower() in SCORE_SUFFIXES)
        stems = {p.with_suffix("") for p in files if p.suffix.lower() != ".krn"}
        for path in files:
            if path.suffix.lower() == ".krn" and path.with_suffix("") in stems:
                continue
            if limit is not None and count >= limit:
                return
            count += 1
            ref = path.relative_to(root).as_posix()
            yield Item(_id_of("m21", ref), "music21", ref, "music21 corpus (see its license.txt)")


def fetch_debs(folder: str | Path, packages: Sequence[str] = tuple(DEBIAN_PACKAGES)) -> list[Path]:
    """The .deb file of each package in `folder`, downloaded with ``apt-get download`` when missing.

    Raises:
        ConfigError: a package is missing and apt-get cannot download it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    found = []
    for package in packages:
        debs = sorted(folder.glob(f"{package}_*.deb"))
        if not debs:
            try:
                subprocess.run(
                    ["apt-get", "download", package], cwd=folder, check=True, capture_output=True, timeout=600
                )
            except (OSError, subprocess.SubprocessError) as e:
                raise ConfigError(
                    f"cannot download {package} ({type(e).__name__}); put its .deb into {folder} "
                    f"(`apt-get download {package}`) or build with --sources music21"
                ) from e
            debs = sorted(folder.glob(f"{package}_*.deb"))
        if not debs:
            raise ConfigError(f"no {package}_*.deb in {folder} after apt-get download")
        found.append(debs[-1])
    return found


def debian_items(folder: str | Path, limit: int | None = None) -> Iterator[Item]:
    """The MIDI files inside the Debian packages' .deb files (fetched into `folder`), sorted."""
    count = 0
    for deb in fetch_debs(folder):
        package = deb.name.split("_")[0]
        for name, data in sorted(deb_members(deb, (".mid", ".midi")).items()):
            if limit is not None and count >= limit:
                return
            count += 1
            ref = f"{package}/{Path(name).name}"
            yield Item(_id_of("deb", ref), "debian", ref, DEBIAN_PACKAGES[package], data)


def deb_members(deb: Path, suffixes: tuple[str, ...]) -> dict[str, bytes]:
    """The files of a .deb's data archive whose names end in `suffixes` (no dpkg needed).

    A .deb is an `ar` archive holding ``data.tar.*``; both are read here in memory.

    Raises:
        MidiganError: not a .deb we can read.
    """
    blob = deb.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise MidiganError(f"{deb}: not a Debian package (no ar header)")
    position, out = 8, {}
    while position + 60 <= len(blob):
        header = blob[position : position + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode().strip())
        body = blob[position + 60 : position + 60 + size]
        position += 60 + size + (size % 2)
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as archive:
                for member in archive.getmembers():
                    if member.isfile() and member.name.lower().endswith(suffixes):
                        handle = archive.extractfile(member)
                        if handle is not None:
                            out[member.name] = handle.read()
    return out


def _id_of(prefix: str, ref: str) -> str:
    stem = re.sub(r"\.(mxl|xml|musicxml|krn|midi?)$", "", ref, flags=re.IGNORECASE)
    return f"{prefix}-" + re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")


# ------------------------------------------------------------------ one piece
def read_item(item: Item) -> Score:
    """The item's whole score with velocities: the MIDI as played, or the score as marked.

    Raises:
        MidiganError: unreadable, or a score without dynamics markings.
    """
    if item.source == "debian":
        from midigan.io.midi import score_from_midi_bytes

        score, _ = score_from_midi_bytes(item.data, item.ref)
        return score
    from music21 import corpus

    from midigan.corpus.dynamics_render import render_dynamics
    from midigan.io.music21 import convert_music21

    try:
        parsed = corpus.parse(item.ref)
    except Exception as e:  # music21 raises anything on a file it cannot read
        raise MidiganError(f"music21 cannot read it ({type(e).__name__})") from e
    if hasattr(parsed, "scores"):  # an Opus: its first score
        parsed = parsed.scores[0]
    # The top part carries the tune (first violin, soprano, the piano's right hand); converting
    # only it costs a quarter of the whole score (music21's repeat expansion dominates).
    part = parsed.parts[0] if hasattr(parsed, "parts") and len(parsed.parts) else parsed
    if render_dynamics(part, extra_spanners=list(parsed.spannerBundle)) == 0:
        raise MidiganError("no dynamics markings")
    return convert_music21(part).score


def melody_of(score: Score, title: str) -> Score:
    """The melody alone (melody rule + skyline), velocities kept, cut at :data:`MAX_BARS` bars.

    Raises:
        MidiganError: no pitched notes, too few notes, or velocities too flat to learn from.
    """
    melody = extract_melody(score)
    starts = score.bar_starts()
    end = starts[min(MAX_BARS, len(starts) - 1)]
    melody.notes = [n for n in melody.notes if n.onset < end]
    for note in melody.notes:
        note.duration = min(note.duration, end - note.onset)
    if len(melody.notes) < MIN_NOTES:
        raise MidiganError(f"fewer than {MIN_NOTES} melody notes")
    if len({n.velocity for n in melody.notes}) < MIN_DISTINCT_VELOCITIES:
        raise MidiganError("flat velocities (nothing to learn)")
    out = Score(
        tracks=[melody],
        tempos=[t for t in score.tempos if t.tick < end] or score.tempos[:1],
        meters=[m for m in score.meters if m.tick < end] or score.meters[:1],
        keys=[k for k in score.keys if k.tick < end],
        end_tick=end,
        title=title,
    )
    out.sort()
    return out


def build_item(item: Item, out: Path) -> tuple[dict | None, str | None]:
    """Write one piece; returns its manifest row, or None and the reason it was skipped."""
    from midigan.io.midi import midi_bytes

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            melody = melody_of(read_item(item), item.ref)
            data = midi_bytes(melody)
    except MidiganError as e:
        return None, str(e).split(":")[-1].strip()[:80] or type(e).__name__
    except Exception as e:  # one bad file never stops the build; the reason names the failure
        return None, f"unexpected {type(e).__name__}"
    relative = f"{item.source}/{item.id}.mid"
    (out / item.source).mkdir(parents=True, exist_ok=True)
    write_atomic(out / relative, lambda: data)
    velocities = [n.velocity for n in melody.tracks[0].notes]
    mean = sum(velocities) / len(velocities)
    spread = (sum((v - mean) ** 2 for v in velocities) / len(velocities)) ** 0.5
    return {
        "id": item.id,
        "source": item.source,
        "ref": item.ref,
        "licence": item.licence,
        "meter": melody.meters[0].name,
        "bars": melody.bar_count,
        "notes": len(velocities),
        "velocity_mean": round(mean, 2),
        "velocity_sd": round(spread, 2),
        "velocities": len(set(velocities)),
        "level": LEVELS[level_of(mean)],
        "split": split_of(item.id),
        "path": relative,
    }, None


# ------------------------------------------------------------------ the build
def _build_star(args: tuple[Item, Path]) -> tuple[dict | None, str | None]:
    return build_item(*args)


def _built(
    items: Iterator[Item], out: Path, jobs: int
) -> Iterator[tuple[Item, tuple[dict | None, str | None]]]:
    """(item, build_item result) in item order, on `jobs` worker processes."""
    todo = list(items)
    if jobs <= 1:
        yield from ((item, build_item(item, out)) for item in todo)
        return
    with get_context("spawn").Pool(jobs) as pool:
        yield from zip(todo, pool.imap(_build_star, [(item, out) for item in todo]), strict=True)


def build_dynamics_corpus(
    out: str | Path,
    *,
    sources: Sequence[str] | None = None,
    deb_folder: str | Path | None = None,
    limit: int | None = None,
    jobs: int = 1,
    progress: bool = False,
) -> dict:
    """Build the dynamics corpus into `out`: MIDI files, manifest.jsonl, build_report.json.

    Args:
        out: the corpus folder (created; files of an earlier build are replaced).
        sources: any of :data:`SOURCES` (None: both).
        deb_folder: where the Debian packages' .deb files are (or are downloaded to);
            None = `out`/debs.
        limit: at most this many files from each source (a quick sample).
        jobs: worker processes (the order of the results does not depend on it).
        progress: log each piece.

    Returns:
        The build report (also written as build_report.json).

    Raises:
        ConfigError: an unknown source, or a .deb that cannot be had.
    """
    out = Path(out)
    names = list(sources) if sources else list(SOURCES)
    unknown = [s for s in names if s not in SOURCES]
    if unknown:
        raise ConfigError(f"--sources: {', '.join(unknown)} unknown; choose from {', '.join(SOURCES)}")
    started = time.perf_counter()
    rows: list[dict] = []
    report: dict = {"sources": {}, "format": "midigan-dynamics-corpus"}
    for source in names:
        if source == "music21":
            items = music21_items(limit)
        else:
            items = debian_items(deb_folder if deb_folder is not None else out / "debs", limit)
        skipped: Counter[str] = Counter()
        built = 0
        for item, (row, reason) in _built(items, out, jobs):
            if progress:
                log.info("%s: %s", item.ref, reason or "built")
            if row is None:
                skipped[reason or "unknown"] += 1
                continue
            rows.append(row)
            built += 1
        mine = [r for r in rows if r["source"] == source]
        report["sources"][source] = {
            "files": built + sum(skipped.values()),
            "built": built,
            "skipped": dict(skipped.most_common()),
            "notes": sum(r["notes"] for r in mine),
            "bars": sum(r["bars"] for r in mine),
            "splits": dict(Counter(r["split"] for r in mine)),
            "levels": dict(Counter(r["level"] for r in mine)),
        }
    rows.sort(key=lambda r: r["id"])
    report["pieces"] = len(rows)
    report["seconds"] = round(time.perf_counter() - started, 1)
    lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    write_atomic(out / "manifest.jsonl", lambda: lines.encode())
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    write_atomic(out / "build_report.json", lambda: text.encode())
    return report
