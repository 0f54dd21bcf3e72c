"""Fuzzing the MIDI reader: every mutated file loads (and saves, reloads, converts) or is refused.

The mutator and the check live in tests/midi_fuzz.py; here workers run them in
subprocesses under an address-space limit, so a file that made midigan allocate
gigabytes fails its test (as a MemoryError the worker reports) instead of taking the
machine down. A few hundred files run on every test run; the `slow` run checks
10,000 more. A failure names the seed and index that rebuild the file:
``python tests/midi_fuzz.py --seed S --start I --count 1 --keep /tmp/bad``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from midi_fuzz import mutated_file, seeds

WORKER = Path(__file__).with_name("midi_fuzz.py")
SECONDS_PER_FILE = 3.0
"""The most one file may take: load, save, reload and the three representations."""
MEMORY_MB = 3072
"""The worker's address-space limit (RLIMIT_AS), imports included."""
PEAK_MB = 1024
"""The most resident memory a worker may have reached over all its files."""


def run_worker(seed: int, start: int, count: int) -> Counter:
    """Check files `start`..`start + count` of `seed`; returns the outcomes, asserting each file's bounds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    command = [sys.executable, str(WORKER), "--seed", str(seed), "--start", str(start), "--count", str(count)]
    result = subprocess.run(
        [*command, "--memory-mb", str(MEMORY_MB)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60 + count * SECONDS_PER_FILE,
        check=False,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    done = [line for line in lines if "index" in line]
    where = f"seed {seed}, after index {done[-1]['index'] if done else start - 1}"
    assert result.returncode == 0, f"worker died ({where}): {result.stderr[-2000:]}"
    assert len(done) == count, where
    failed = [line for line in done if line["outcome"].startswith("FAILED")]
    assert not failed, f"seed {seed}: {failed[:5]}"
    slow = [line for line in done if line["seconds"] > SECONDS_PER_FILE]
    assert not slow, f"seed {seed}: over {SECONDS_PER_FILE} s: {slow[:5]}"
    assert lines[-1]["peak_mb"] < PEAK_MB, f"seed {seed}: peak {lines[-1]['peak_mb']} MB"
    return Counter(line["outcome"] for line in done)


def test_the_mutator_is_seeded():
    bases = seeds()
    assert mutated_file(12, 5, bases) == mutated_file(12, 5, bases)
    assert len({mutated_file(12, i, bases) for i in range(50)}) > 45


@pytest.mark.parametrize("start", [0, 200])
def test_a_few_hundred_mutated_files_load_or_are_refused_with_our_error(start):
    outcomes = run_worker(seed=12, start=start, count=200)
    # Both sides are exercised: mutations that still load and ones the reader refuses.
    assert outcomes["loaded"] >= 30 and outcomes["refused: load"] >= 60, outcomes


@pytest.mark.slow
@pytest.mark.parametrize("start", range(0, 10_000, 2_500))
def test_ten_thousand_mutated_files_load_or_are_refused_with_our_error(start):
    outcomes = run_worker(seed=2026, start=start, count=2_500)
    assert outcomes["loaded"] >= 400, outcomes
