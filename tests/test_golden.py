"""Compose output is byte-for-byte what was recorded (tests/golden.py): refactors move no music."""

from __future__ import annotations

import golden


def test_compose_outputs_are_byte_identical_to_the_recording():
    assert golden.differences("compose") == []


def test_representations_of_corpus_files_are_byte_identical_to_the_recording():
    assert golden.differences("representations") == []
