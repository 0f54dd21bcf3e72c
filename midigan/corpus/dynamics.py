"""The dynamics corpus: melodies whose velocities were played or marked, not templated.

The folk corpus (:mod:`midigan.corpus.build`) has no dynamics: its velocities are a
metric template. This corpus holds melodies with real ones, from two offline sources:

* ``music21``: the scores with dynamics markings in music21's own corpus (string quartets,
  piano pieces, songs...): the top part (first violin, soprano, right hand), every mark and
  hairpin rendered as velocities (:mod:`midigan.corpus.dynamics_render`);
* ``debian``: the MIDI songs that Debian packages ship (:data:`DEBIAN_PACKAGES`), read from
  the ``.deb`` files in a folder (``apt-get download`` fills it; see :func:`fetch_debs`);
* ``freedoom``: the music of Freedoom (Debian's ``freedoom`` package, BSD-3-Clause): MIDI
  songs stored as lumps inside its game data files (:func:`wad_midi_lumps`), sequenced
  with velocities, under a licence that lets a model trained on them ship with midigan.

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
import struct
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

FREEDOOM_PACKAGE = "freedoom"
FREEDOOM_LICENCE = "BSD-3-Clause (Freedoom, the freedoom package's copyright file)"

SOURCES = ("music21", "debian", "freedoom")
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
    data: bytes = b""  # MIDI bytes (debian, freedoom); empty for music21 (ref is the corpus path)


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


def freedoom_items(folder: str | Path, limit: int | None = None) -> Iterator[Item]:
    """The MIDI songs of Freedoom's game data files (fetched into `folder`), sorted, each once.

    Both campaigns' files hold songs; a song found in an earlier file (by its bytes) is not
    repeated, so no song sits in two splits.
    """
    (deb,) = fetch_debs(folder, (FREEDOOM_PACKAGE,))
    seen: set[str] = set()
    count = 0
    for name, wad in sorted(deb_members(deb, (".wad",)).items()):
        for lump, data in wad_midi_lumps(wad, name).items():
            digest = hashlib.sha1(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            if limit is not None and count >= limit:
                return
            count += 1
            ref = f"{Path(name).stem}/{lump}"
            yield Item(_id_of("fd", ref), "freedoom", ref, FREEDOOM_LICENCE, data)


def wad_midi_lumps(wad: bytes, name: str = "wad") -> dict[str, bytes]:
    """Lump name -> bytes of every MIDI lump of a Doom WAD file, in directory order.

    A WAD is a 12-byte header (``IWAD``/``PWAD``, lump count, directory offset) and a
    directory of 16-byte entries (offset, size, 8-byte name); music lumps are named ``D_*``
    and, in Freedoom, are standard MIDI files (a lump in the older MUS format is left out).

    Raises:
        MidiganError: not a WAD, or a directory that points outside the file.
    """
    if len(wad) < 12 or wad[:4] not in (b"IWAD", b"PWAD"):
        raise MidiganError(f"{name}: not a WAD file")
    count, directory = struct.unpack_from("<ii", wad, 4)
    if count < 0 or directory < 0 or directory + 16 * count > len(wad):
        raise MidiganError(f"{name}: WAD directory runs past the end of the file")
    out = {}
    for entry in range(count):
        at = directory + 16 * entry
        offset, size, raw = struct.unpack_from("<ii8s", wad, at)
        lump = raw.rstrip(b"\0").decode("ascii", "replace")
        if not lump.startswith("D_") or offset < 0 or size < 0 or offset + size > len(wad):
            continue
        data = wad[offset : offset + size]
        if data[:4] == b"MThd":
            out[lump] = data
    return out


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
def read_item(item: Item, all_parts: bool = False) -> list[tuple[int, Score]]:
    """(part index, music with velocities): the MIDI as played, or the score's parts as marked.

    A MIDI file is one Score (the melody rule picks its tune later). A music21 score gives
    its top part (first violin, soprano, the piano's right hand: the tune) and, with
    `all_parts`, each further part that carries marks of its own, one Score each: a second
    violin or a viola under a crescendo plays it too, so the inner parts are more examples
    of how loudness follows a line. A part without marks is left out.

    Raises:
        MidiganError: unreadable, or a score whose top part has no dynamics markings.
    """
    if item.source in ("debian", "freedoom"):
        from midigan.io.midi import score_from_midi_bytes

        score, _ = score_from_midi_bytes(item.data, item.ref)
        return [(0, score)]
    from music21 import corpus

    from midigan.corpus.dynamics_render import render_dynamics
    from midigan.io.music21 import convert_music21

    try:
        parsed = corpus.parse(item.ref)
    except Exception as e:  # music21 raises anything on a file it cannot read
        raise MidiganError(f"music21 cannot read it ({type(e).__name__})") from e
    if hasattr(parsed, "scores"):  # an Opus: its first score
        parsed = parsed.scores[0]
    # Each part is converted on its own: converting only the top one costs a quarter of the
    # whole score (music21's repeat expansion dominates), so inner parts are read only when asked.
    parts = list(parsed.parts) if hasattr(parsed, "parts") and len(parsed.parts) else [parsed]
    scores = []
    for index, part in enumerate(parts if all_parts else parts[:1]):
        if render_dynamics(part, extra_spanners=list(parsed.spannerBundle)) == 0:
            if index == 0:
                raise MidiganError("no dynamics markings")
            continue
        try:
            scores.append((index, convert_music21(part).score))
        except MidiganError:
            if index == 0:
                raise
    return scores


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


def build_item(item: Item, out: Path, all_parts: bool = False) -> tuple[list[dict], str | None]:
    """Write one item's pieces: its manifest rows, and the reason its top part was skipped (or None).

    The top part is the piece `item.id`; an inner part `index` (with `all_parts`) is the piece
    `<id>-part<index + 1>` in the same split as its score (so no score straddles two splits),
    with ``"part": index`` in its row.
    """
    from midigan.io.midi import midi_bytes

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = read_item(item, all_parts)
    except MidiganError as e:
        return [], _reason(e)
    except Exception as e:  # one bad file never stops the build; the reason names the failure
        return [], f"unexpected {type(e).__name__}"
    rows, reason = [], None
    for index, score in scores:
        piece_id = item.id if index == 0 else f"{item.id}-part{index + 1}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                melody = melody_of(score, item.ref)
                data = midi_bytes(melody)
        except MidiganError as e:
            reason = _reason(e) if index == 0 else reason
            continue
        except Exception as e:
            reason = f"unexpected {type(e).__name__}" if index == 0 else reason
            continue
        rows.append(_write_piece(item, piece_id, index, melody, data, out))
    return rows, reason


def _reason(error: MidiganError) -> str:
    return str(error).split(":")[-1].strip()[:80] or type(error).__name__


def _write_piece(item: Item, piece_id: str, part: int, melody: Score, data: bytes, out: Path) -> dict:
    """Write one melody's MIDI file; returns its manifest row."""
    relative = f"{item.source}/{piece_id}.mid"
    (out / item.source).mkdir(parents=True, exist_ok=True)
    write_atomic(out / relative, lambda: data)
    velocities = [n.velocity for n in melody.tracks[0].notes]
    mean = sum(velocities) / len(velocities)
    spread = (sum((v - mean) ** 2 for v in velocities) / len(velocities)) ** 0.5
    row = {
        "id": piece_id,
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
    }
    if part:
        row["part"] = part
    return row


# ------------------------------------------------------------------ the build
def _build_star(args: tuple[Item, Path, bool]) -> tuple[list[dict], str | None]:
    return build_item(*args)


def _built(
    items: Iterator[Item], out: Path, jobs: int, train_parts: bool
) -> Iterator[tuple[Item, tuple[list[dict], str | None]]]:
    """(item, build_item result) in item order, on `jobs` worker processes.

    With `train_parts`, a music21 score of the train split gives its inner parts too.
    """
    todo = [(item, out, train_parts and item.source == "music21" and split_of(item.id) == "train")
            for item in items]  # fmt: skip
    if jobs <= 1:
        yield from ((args[0], build_item(*args)) for args in todo)
        return
    with get_context("spawn").Pool(jobs) as pool:
        yield from zip((args[0] for args in todo), pool.imap(_build_star, todo), strict=True)


def build_dynamics_corpus(
    out: str | Path,
    *,
    sources: Sequence[str] | None = None,
    deb_folder: str | Path | None = None,
    limit: int | None = None,
    jobs: int = 1,
    train_parts: bool = True,
    progress: bool = False,
) -> dict:
    """Build the dynamics corpus into `out`: MIDI files, manifest.jsonl, build_report.json.

    Args:
        out: the corpus folder (created; files of an earlier build are replaced).
        sources: any of :data:`SOURCES` (None: all of them).
        deb_folder: where the Debian packages' .deb files are (or are downloaded to);
            None = `out`/debs.
        limit: at most this many files from each source (a quick sample).
        jobs: worker processes (the order of the results does not depend on it).
        train_parts: the train split's music21 scores give their inner parts too (second
            violin, viola, alto...: more lines to learn from); the held-out pieces are the
            top parts only either way, so valid and test do not change with it.
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
        elif source == "freedoom":
            items = freedoom_items(deb_folder if deb_folder is not None else out / "debs", limit)
        else:
            items = debian_items(deb_folder if deb_folder is not None else out / "debs", limit)
        skipped: Counter[str] = Counter()
        built = 0
        for item, (made, reason) in _built(items, out, jobs, train_parts):
            if progress:
                log.info("%s: %s", item.ref, reason or f"built ({len(made)} parts)")
            if reason is not None:
                skipped[reason] += 1
            built += reason is None
            rows += made
        mine = [r for r in rows if r["source"] == source]
        report["sources"][source] = {
            "files": built + sum(skipped.values()),
            "built": built,
            "inner_parts": sum("part" in r for r in mine),
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
