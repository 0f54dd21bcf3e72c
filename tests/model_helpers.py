"""Builders shared by the model and training tests: tiny vocabularies, models and corpora."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

from conftest import make_score

from midigan.model.checkpoint import ModelBundle, build_generator, model_config_for
from midigan.model.config import ModelConfig, RunConfig, load_config
from midigan.representations.streams import StreamVocab

TINY_VOCAB = StreamVocab(
    pitch_low=55,
    pitch_high=84,
    durations=(1, 2, 3, 4, 6, 8, 9, 12, 18, 24, 36, 48),
    velocity_edges=(1, 17, 33, 49, 65, 81, 97, 113, 128),
)


def tiny_model_config(**overrides: object) -> ModelConfig:
    base = ModelConfig(embed=24, hidden=32, layers=2, z_dim=4, dropout=0.0)
    return model_config_for(replace(base, **overrides), TINY_VOCAB)


def tiny_bundle(seed: int = 0, **overrides: object) -> ModelBundle:
    import torch

    torch.manual_seed(seed)
    config = tiny_model_config(**overrides)
    generator = build_generator(config, TINY_VOCAB).eval()
    return ModelBundle(generator=generator, vocab=TINY_VOCAB, config=config)


def tiny_run_config(**sections: dict) -> RunConfig:
    """The shipped tiny preset with per-section overrides, e.g. mle={"epochs": 3}."""
    config = load_config("tiny")
    for name, values in sections.items():
        config = replace(config, **{name: replace(getattr(config, name), **values)})
    return config


SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


def write_corpus(
    folder: Path, pieces: int = 12, bars: int = 4, seed: int = 0, manifest: bool = False, meter=(4, 4)
) -> Path:
    """Random C-major melodies with one chord a bar, as MIDI files (and a manifest if asked)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    bar = 48 * meter[0] // meter[1]
    rows = []
    for i in range(pieces):
        notes, tick = [], 0
        while tick < bars * bar:
            length = min(rng.choice((6, 12, 12, 24)), bars * bar - tick)
            notes.append((rng.choice(SCALE), tick, length, 90))
            tick += length
        chords = [(b * bar, rng.choice((0, 5, 7)), "maj") for b in range(bars)]
        score = make_score(notes, meter=meter, chords=chords, end_tick=bars * bar)
        name = f"tune{i:03d}.mid"
        score.save(folder / name)
        split = "valid" if i % 6 == 5 else "train"
        rows.append({"id": f"folk-{i:05d}", "path": name, "split": split, "style": "folk"})
    if manifest:
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (folder / "manifest.jsonl").write_text(text, encoding="utf-8")
    return folder
