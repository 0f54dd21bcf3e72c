"""Tune families: variants sharing a COPY_RUN run share a split; the test split is held out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_score

from midigan.cli import main
from midigan.corpus.families import find_families, melody_runs, resplit_corpus
from midigan.corpus.manifest import split_of
from midigan.errors import MidiganError, MidiReadError
from midigan.evaluate.copying import CopyIndex
from midigan.io.midi import read_midi, write_midi
from midigan.music.score import Score
from midigan.representations.tune import COPY_RUN, Tune, run_hashes

CORPORA = Path(__file__).resolve().parents[1] / "corpora"

# 13 notes = 12 (interval, duration) pairs: exactly one copy run
CORE = [(60, 6), (62, 6), (64, 12), (65, 6), (67, 6), (69, 12), (71, 6), (72, 18), (71, 6)]
CORE += [(69, 12), (67, 6), (65, 6), (64, 24)]
assert len(CORE) == COPY_RUN + 1


def melody(notes: list[tuple[int, int]], shift: int = 0) -> Score:
    """A one-track score from (pitch, duration) pairs played one after another."""
    onset, timed = 0, []
    for pitch, duration in notes:
        timed.append((pitch + shift, onset, duration, 90))
        onset += duration
    return make_score(timed)


def variant_a() -> Score:
    return melody([(50, 12), *CORE, (80, 12), (79, 12)])


def variant_b() -> Score:
    """The core transposed up a fourth, in different surroundings: the same 12 pairs."""
    return melody([(55, 3), (57, 9), *CORE, (40, 6)], shift=5)


def unrelated(seed: int) -> Score:
    """Triplet-eighth rhythms (4 ticks): no run of the core's rhythm can match."""
    rng = np.random.default_rng(seed)
    return melody([(int(p), 4) for p in 60 + rng.integers(-7, 8, size=40)])


# premises of the split tests below: the variant with the smaller id hashes to test
VARIANT_IDS = ("folk-00006", "folk-00007")


def test_premises_of_the_chosen_ids() -> None:
    assert split_of(VARIANT_IDS[0]) == "test" and split_of(VARIANT_IDS[1]) == "train"


def test_twelve_shared_pairs_link_two_variants_even_transposed() -> None:
    a, b = melody_runs(variant_a()), melody_runs(variant_b())
    assert np.intersect1d(a, b).size == 1
    families = find_families({"folk-00007": b, "folk-00006": a})
    assert families == {"folk-00006": "folk-00006", "folk-00007": "folk-00006"}


def test_eleven_shared_pairs_do_not_link() -> None:
    short = CORE[:-1]  # 12 notes, 11 pairs in common
    a = melody_runs(melody([(50, 12), *short, (80, 12), (79, 12)]))
    b = melody_runs(melody([(55, 3), (57, 9), *short, (40, 6)]))
    assert np.intersect1d(a, b).size == 0
    assert find_families({"folk-00006": a, "folk-00007": b}) == {
        "folk-00006": "folk-00006",
        "folk-00007": "folk-00007",
    }


def test_families_chain_through_a_middle_variant() -> None:
    # c shares a run with b (b's tail) but none with a: still one family a~b~c
    tail = [(40, 6), (47, 6), (52, 6), (55, 12), (52, 6), (47, 6), (45, 12), (43, 6)]
    tail += [(45, 6), (47, 12), (48, 6), (50, 6), (52, 24)]  # 13 notes: 12 pairs
    a = melody_runs(variant_a())
    b = melody_runs(melody([(55, 3), (57, 9), *CORE, *tail], shift=5))
    c = melody_runs(melody([(70, 12), *tail, (30, 12)], shift=5))
    assert np.intersect1d(a, c).size == 0 and np.intersect1d(b, c).size > 0
    families = find_families({"irish-00002": b, "folk-00100": c, "irish-00001": a})
    assert set(families.values()) == {"folk-00100"}


def test_short_and_unrelated_melodies_are_their_own_family() -> None:
    tiny = melody(CORE[:5])
    assert melody_runs(tiny).size == 0
    runs = {f"fiddle-{i:05d}": melody_runs(unrelated(i)) for i in range(1, 7)}
    runs["fiddle-00099"] = melody_runs(tiny)
    assert find_families(runs) == {piece: piece for piece in runs}


def test_families_do_not_depend_on_order_or_repetition() -> None:
    scores = [variant_a(), variant_b(), unrelated(1), unrelated(2), variant_a().transpose(-3)]
    ids = ["folk-00040", "chorale-00003", "irish-00500", "folk-00001", "fiddle-00010"]
    runs = {piece: melody_runs(s) for piece, s in zip(ids, scores, strict=True)}
    once = find_families(runs)
    again = find_families(dict(reversed(list(runs.items()))))
    assert once == again
    assert once["folk-00040"] == once["chorale-00003"] == once["fiddle-00010"] == "chorale-00003"
    assert once["irish-00500"] == "irish-00500" and once["folk-00001"] == "folk-00001"


# ------------------------------------------------------------------ resplit of a folder
def write_corpus(folder: Path, pieces: dict[str, Score]) -> list[dict]:
    """A tiny built corpus: <style>/<id>.mid, a manifest with the old hash-of-id split, a report."""
    rows = []
    for piece, score in sorted(pieces.items()):
        style = piece.split("-")[0]
        (folder / style).mkdir(exist_ok=True)
        write_midi(score, folder / style / f"{piece}.mid")
        rows.append(
            {
                "id": piece,
                "path": f"{style}/{piece}.mid",
                "source": style,
                "notes": 3,
                "split": split_of(piece),
            }
        )
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    (folder / "manifest.jsonl").write_text(text, encoding="utf-8")
    report = {"sources": {"folk": {"splits": {}}, "fiddle": {"splits": {}}}, "seconds": 1.0}
    (folder / "build_report.json").write_text(json.dumps(report), encoding="utf-8")
    return rows


def tiny_pieces() -> dict[str, Score]:
    pieces = {VARIANT_IDS[0]: variant_a(), VARIANT_IDS[1]: variant_b()}
    pieces.update({f"fiddle-{i:05d}": unrelated(i) for i in range(1, 5)})
    return pieces


def read_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def test_resplit_changes_only_split_and_family(tmp_path: Path) -> None:
    before = write_corpus(tmp_path, tiny_pieces())
    summary = resplit_corpus(tmp_path)
    after = read_rows(tmp_path)
    assert [(r["id"], r["path"]) for r in after] == [(r["id"], r["path"]) for r in before]
    for old, new in zip(before, after, strict=True):
        assert {k: v for k, v in new.items() if k not in ("split", "family")} == {
            k: v for k, v in old.items() if k != "split"
        }
    by_id = {r["id"]: r for r in after}
    # the variant that hashed to train follows its family (named by the smaller id) into test
    assert by_id["folk-00007"]["family"] == "folk-00006" and by_id["folk-00007"]["split"] == "test"
    for piece in ("folk-00006", "fiddle-00001", "fiddle-00002", "fiddle-00003", "fiddle-00004"):
        assert by_id[piece]["family"] == piece and by_id[piece]["split"] == split_of(piece)
    assert summary["moved"] == 1 and summary["families"] == 5 and summary["families_of_several"] == 1
    report = json.loads((tmp_path / "build_report.json").read_text(encoding="utf-8"))
    assert report["sources"]["folk"]["splits"] == {"test": 2}
    assert sum(report["sources"]["fiddle"]["splits"].values()) == 4
    assert report["families"]["largest"] == [{"family": "folk-00006", "pieces": 2}]
    first = (tmp_path / "manifest.jsonl").read_bytes()
    assert resplit_corpus(tmp_path)["moved"] == 0
    assert (tmp_path / "manifest.jsonl").read_bytes() == first  # idempotent, byte for byte


def test_resplit_cli_prints_the_counts(tmp_path: Path) -> None:
    write_corpus(tmp_path, tiny_pieces())
    result = CliRunner().invoke(main, ["corpus", "resplit", "--corpus", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "6 pieces in 5 families" in result.output and "1 changed split" in result.output


def test_resplit_without_manifest_or_with_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MidiganError, match=r"manifest\.jsonl not found"):
        resplit_corpus(tmp_path)
    write_corpus(tmp_path, tiny_pieces())
    (tmp_path / "fiddle" / "fiddle-00002.mid").unlink()
    before = (tmp_path / "manifest.jsonl").read_bytes()
    with pytest.raises(MidiReadError, match=r"fiddle-00002\.mid"):
        resplit_corpus(tmp_path)
    assert (tmp_path / "manifest.jsonl").read_bytes() == before  # nothing half-written
    result = CliRunner().invoke(main, ["corpus", "resplit", "--corpus", str(tmp_path), "--quiet"])
    assert result.exit_code == 1 and "fiddle-00002.mid" in result.output


def test_resplit_skips_and_counts_hostile_files_which_keep_their_split(tmp_path: Path) -> None:
    """Was: one damaged file refused the whole manifest in one line (issue 12)."""
    before = write_corpus(tmp_path, tiny_pieces())
    (tmp_path / "fiddle" / "fiddle-00002.mid").write_bytes(b"RIFF not a MIDI file")
    whole = (tmp_path / "fiddle" / "fiddle-00003.mid").read_bytes()
    (tmp_path / "fiddle" / "fiddle-00003.mid").write_bytes(whole[:30])  # truncated
    summary = resplit_corpus(tmp_path)
    skipped = [row["path"] for row in summary["skipped"]]
    assert skipped == ["fiddle/fiddle-00002.mid", "fiddle/fiddle-00003.mid"]
    assert "not a MIDI file" in summary["skipped"][0]["error"]
    by_id = {r["id"]: r for r in read_rows(tmp_path)}
    for old in before:
        assert by_id[old["id"]]["split"] == (old["split"] if old["id"] != "folk-00007" else "test")
    assert by_id["fiddle-00002"]["family"] == "fiddle-00002"
    assert by_id["folk-00007"]["family"] == "folk-00006"  # the readable rows are resplit as ever
    assert summary["pieces"] == 6 and summary["moved"] == 1
    result = CliRunner().invoke(main, ["corpus", "resplit", "--corpus", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "2 unreadable file(s) skipped, keeping their split: fiddle/fiddle-00002.mid, " in result.output


def test_resplit_rejects_a_malformed_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.jsonl").write_text('{"id": "folk-00001"}\n', encoding="utf-8")
    with pytest.raises(MidiganError, match=r"manifest\.jsonl:1: a manifest row needs an id and a path"):
        resplit_corpus(tmp_path)


# ------------------------------------------------------------------ the committed corpus
def test_committed_test_split_shares_no_copy_run_with_training() -> None:
    """Read as `midigan evaluate` reads them, no test piece holds a run of a training piece."""
    rows = read_rows(CORPORA)
    tunes = {r["id"]: Tune.from_score(read_midi(CORPORA / r["path"])) for r in rows}
    index = CopyIndex(tunes[r["id"]] for r in rows if r["split"] == "train")
    test = [r["id"] for r in rows if r["split"] == "test"]
    assert len(index) > 100_000 and len(test) > 400
    assert [piece for piece in test if index.is_copied(tunes[piece])] == []
    # and the committed manifest is what the rule gives today (not stale, not edited by hand)
    families = find_families({piece: run_hashes(tune) for piece, tune in tunes.items()})
    assert all(r["family"] == families[r["id"]] and r["split"] == split_of(r["family"]) for r in rows)
