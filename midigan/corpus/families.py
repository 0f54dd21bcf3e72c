"""Tune families: variants of one tune share a split, so the test split is really held out.

Exact duplicate melodies are dropped by the build, but variants are not: the Essen
collection holds several versions of many songs, and O'Neill's and Ryan's share tunes.
Split by a hash of the id alone, such variants land on both sides of the train/test line
and the test split leaks (about a quarter of the test pieces shared a long run with a
training piece).

The rule:

1. **Link.** Two pieces are linked when their melodies share a run of
   :data:`~midigan.representations.tune.COPY_RUN` consecutive (interval, duration) pairs —
   exactly what :mod:`midigan.evaluate.copying` calls a copy, with its run hashes
   (:func:`~midigan.representations.tune.run_hashes`) over the melody of the piece as the
   evaluation reads it (:meth:`~midigan.representations.tune.Tune.from_score`: the melody
   rule's track, skyline, rests skipped).
2. **Family.** A family is a connected component of the links (union-find), so a chain
   of variants A~B~C is one family even when A and C share no run. Its name is its
   smallest id; a piece linked to nothing is a family of one, named by its own id.
3. **Split.** Every piece takes the split of its family's name under the id hash rule
   (:func:`~midigan.corpus.manifest.split_of`). A piece that is its own family keeps the
   split it always had; the result depends on the melodies only, not on the order in
   which pieces are read.

So no test piece shares a copy run with a training piece (nor with a validation piece),
and the evaluation's ``ceiling`` copied rate measures real music honestly.

:func:`assign_families` is the step :func:`~midigan.corpus.build.build_corpus` runs
before it writes the manifest; :func:`resplit_corpus` (``midigan corpus resplit``)
applies the same rule to a built corpus from its MIDI files, in seconds.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from midigan.corpus.manifest import MANIFEST_NAME, read_manifest, split_of
from midigan.errors import MidiReadError
from midigan.io.atomic import write_atomic
from midigan.music.score import Score
from midigan.representations.tune import COPY_RUN, Tune, run_hashes

log = logging.getLogger(__name__)

__all__ = [
    "assign_families",
    "family_summary",
    "find_families",
    "melody_runs",
    "resplit_corpus",
    "update_report",
]


def melody_runs(score: Score, run: int = COPY_RUN) -> np.ndarray:
    """Sorted unique hashes of every run of `run` (interval, duration) pairs in the melody.

    Empty for a melody of `run` notes or fewer (it can share no run).
    """
    return np.unique(run_hashes(Tune.from_score(score), run))


def find_families(runs: Mapping[str, np.ndarray]) -> dict[str, str]:
    """The family of every piece: the smallest id of the pieces its runs connect it to.

    Args:
        runs: piece id -> its run hashes (:func:`melody_runs`).

    Returns:
        piece id -> family name (an id of `runs`), for every id of `runs`.
    """
    ids = sorted(runs)
    parent = list(range(len(ids)))  # index into ids; a root is the smallest index of its set

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving
            i = parent[i]
        return i

    for first, other in _shared_run_pairs([np.unique(runs[i]) for i in ids]):
        a, b = root(first), root(other)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {piece: ids[root(i)] for i, piece in enumerate(ids)}


def _shared_run_pairs(runs: Sequence[np.ndarray]) -> Iterable[tuple[int, int]]:
    """(i, j) links: piece j holds a run whose first holder (lowest index) is piece i."""
    sizes = [r.size for r in runs]
    if not sum(sizes):
        return []
    hashes = np.concatenate(runs)
    owner = np.repeat(np.arange(len(runs)), sizes)
    order = np.lexsort((owner, hashes))  # by hash, then by owner
    hashes, owner = hashes[order], owner[order]
    starts = np.r_[True, hashes[1:] != hashes[:-1]]
    first_owner = owner[starts][np.cumsum(starts) - 1]  # per entry: the first holder of its hash
    linked = ~starts
    return zip(first_owner[linked].tolist(), owner[linked].tolist(), strict=True)


def assign_families(
    rows: Sequence[dict],
    corpus: str | Path,
    *,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> dict:
    """Set ``family`` and ``split`` of every manifest row from the melodies of its MIDI file.

    A file that is there but cannot be read (damaged, or past a reader's limit) is skipped
    and counted, not fatal: one hostile file should not stop a corpus of thousands. Its row
    keeps the split it had (a row without one gets its own id's, as a family of one: the
    split the build gives a tune with no variants), so nothing moves on a guess; its family
    is its own id. A missing file is still an error: it means a wrong or damaged folder.

    Args:
        rows: manifest rows with ``id`` and ``path`` (relative to `corpus`); changed in place.
        corpus: the corpus folder.
        progress: wraps the iteration over rows (a progress bar), or None.

    Returns:
        :func:`family_summary` of the result, plus ``moved``: rows whose split changed, and
        ``skipped``: ``{"path", "error"}`` of each unreadable file, in manifest order.

    Raises:
        MidiReadError: a row's MIDI file is missing.
    """
    from midigan.io.midi import read_midi_report

    runs: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for row in progress(rows) if progress else rows:
        path = Path(corpus) / row["path"]
        if not path.is_file():
            raise MidiReadError(f"{path}: no such file")
        try:
            score, _ = read_midi_report(path)
        except MidiReadError as e:
            skipped[row["id"]] = str(e)
            continue
        runs[row["id"]] = melody_runs(score)
    families = find_families(runs)
    moved = 0
    for row in rows:
        if row["id"] in skipped:
            family, split = row["id"], row.get("split") or split_of(row["id"])
        else:
            family = families[row["id"]]
            split = split_of(family)
        moved += int(row.get("split") != split)
        row["family"], row["split"] = family, split
    unread = [{"path": r["path"], "error": skipped[r["id"]]} for r in rows if r["id"] in skipped]
    return {**family_summary(rows), "moved": moved, "skipped": unread}


def family_summary(rows: Iterable[dict]) -> dict:
    """Counts of a manifest with families: pieces, families, their sizes, pieces per split."""
    rows = list(rows)
    sizes = Counter(row["family"] for row in rows)
    shared = [n for n in sizes.values() if n > 1]
    return {
        "pieces": len(rows),
        "families": len(sizes),
        "families_of_several": len(shared),
        "pieces_in_families_of_several": sum(shared),
        "largest": [{"family": f, "pieces": n} for f, n in sizes.most_common(3) if n > 1],
        "splits": dict(sorted(Counter(row["split"] for row in rows).items())),
    }


def resplit_corpus(
    corpus: str | Path = "corpora",
    *,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> dict:
    """Recompute families and splits of a built corpus; rewrite its manifest atomically.

    Reads the MIDI files only (no music21), so it takes seconds. Every field but
    ``split`` and ``family`` is kept as it is; rows stay in their order. When the corpus
    has a ``build_report.json``, its split counts per source and its ``families``
    summary are updated too.

    Returns:
        :func:`assign_families`'s summary.

    Raises:
        ConfigError: no manifest, or a malformed one (see :func:`~midigan.corpus.manifest.read_manifest`).
        MidiReadError: a manifest row's MIDI file is missing (unreadable ones are skipped,
            see :func:`assign_families`).
    """
    corpus = Path(corpus)
    manifest = corpus / MANIFEST_NAME
    rows = read_manifest(corpus)
    summary = assign_families(rows, corpus, progress=progress)
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    write_atomic(manifest, lambda: text.encode("utf-8"))
    report_path = corpus / "build_report.json"
    if report_path.is_file():
        report = json.loads(report_path.read_text(encoding="utf-8"))
        update_report(report, rows)
        write_atomic(report_path, lambda: (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    log.info("%s: %d families, %d pieces changed split", corpus, summary["families"], summary["moved"])
    return summary


def update_report(report: dict, rows: Sequence[dict]) -> None:
    """Refresh a build report's per-source split counts and its ``families`` summary in place."""
    for name, info in report.get("sources", {}).items():
        info["splits"] = dict(sorted(Counter(r["split"] for r in rows if r.get("source") == name).items()))
    summary = family_summary(rows)
    report["families"] = {k: v for k, v in summary.items() if k not in ("pieces", "splits")}
