"""What a run trains on, said at its start: pieces per split, each file left out and why, melody tracks.

A folder of someone's MIDI files loses pieces on the way (a file that will not parse, one
with only drums, a 837-bar medley longer than ``[data] max_events``) and takes one track of
each as the melody. None of that may happen silently: the run folder's
``data_log.jsonl`` holds one row per file (split, melody track and the rule that chose it,
events, why it was left out), ``train_log.jsonl`` a ``data`` record with the counts and the
files left out by name, and the screen a few summary lines (the per-file detail with
``--verbose``). Pieces longer than ``max_events`` are left out of training, not cut.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

log = logging.getLogger(__name__)

DATA_LOG_FILE = "data_log.jsonl"
RULE_WORDS = {
    "only track": "the only track",
    "by name": "a track named for it",
    "highest": "the highest busy track",
}


def file_rows(files: list[dict] | None, max_events: int) -> list[dict]:
    """The corpus's per-file rows (:class:`~midigan.train.dataset.TokenizedCorpus` `files`),
    with the pieces longer than `max_events` marked as left out."""
    rows = []
    for row in files or []:
        row = dict(row)
        if not row["skipped"] and row["events"] > max_events:
            row["skipped"] = f"too long: {row['events']:,} events, over [data] max_events = {max_events:,}"
        rows.append(row)
    return rows


def data_record(rows: list[dict], used: dict[str, int]) -> dict[str, Any]:
    """The ``data`` record of ``train_log.jsonl``.

    Args:
        rows: from :func:`file_rows`.
        used: pieces the run trains and validates on, by split ('train', 'valid', 'test').
    """
    return {
        "event": "data",
        "files": len(rows),
        "pieces": used,
        "skipped": {row["id"]: row["skipped"] for row in rows if row["skipped"]},
        "melody": dict(Counter(row["melody_rule"] for row in rows if not row["skipped"])),
        "data_log": DATA_LOG_FILE,
    }


def summary_lines(record: dict[str, Any], corpus: str, valid_total: int) -> tuple[list[str], str | None]:
    """The start-of-run lines for the screen, and a warning line when files were left out.

    Args:
        record: from :func:`data_record`.
        corpus: the corpus folder as the user named it.
        valid_total: usable pieces of the valid split (validation may take fewer, [data] valid_pieces).
    """
    pieces = record["pieces"]
    valid = f"{pieces['valid']}" + (f" of {valid_total}" if valid_total > pieces["valid"] else "")
    lines = [
        f"corpus {corpus}: {record['files']} files; training on {pieces['train']} pieces, validating on "
        f"{valid} (held out for testing: {pieces['test']})"
    ]
    rules = record["melody"]
    if rules:
        taken = ", ".join(f"{count} {RULE_WORDS.get(rule, rule)}" for rule, count in sorted(rules.items()))
        lines.append(f"melody taken from: {taken}")
    skipped = record["skipped"]
    if not skipped:
        return lines, None
    kinds = Counter(reason.split(":")[0] for reason in skipped.values())
    why = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    warning = (
        f"{len(skipped)} of {record['files']} corpus files left out ({why}); "
        f"{record['data_log']} in the run folder names them (--verbose: here too)"
    )
    return lines, warning


def detail_lines(rows: list[dict]) -> list[str]:
    """One line per file, for --verbose: what was left out and why, and each file's melody track."""
    lines = []
    for row in rows:
        if row["skipped"]:
            lines.append(f"left out {row['id']}: {row['skipped']}")
        else:
            lines.append(
                f"{row['id']}: {row['events']} events, melody {row['melody']} ({row['melody_rule']})"
            )
    return lines


def report_on_screen(record: dict[str, Any], rows: list[dict], corpus: str, valid_total: int) -> None:
    """Log the summary (info), the files left out (a warning) and the per-file detail (debug)."""
    lines, warning = summary_lines(record, corpus, valid_total)
    for line in lines:
        log.info("%s", line)
    if warning:
        log.warning("%s", warning)
    for line in detail_lines(rows):
        log.debug("%s", line)
