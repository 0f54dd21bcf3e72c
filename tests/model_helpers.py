"""Builders shared by the model and training tests: tiny vocabularies, models and corpora."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

from conftest import make_score

import midigan
from midigan.model.checkpoint import ModelBundle, build_generator, model_config_for
from midigan.model.config import ModelConfig
from midigan.representations.stream_vocab import StreamVocab
from midigan.train.batch import Batch
from midigan.train.config import RunConfig, load_config

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


def random_batch(config: ModelConfig, B: int = 3, T: int = 17, seed: int = 0) -> Batch:
    """Random ids of every field a model reads (lookback candidates for a lookback config)."""
    import torch

    g = torch.Generator().manual_seed(seed)

    def ids(n: int, low: int = 0) -> torch.Tensor:
        return torch.randint(low, n, (B, T), generator=g)

    conditions = torch.stack(
        [
            ids(config.n_chord),
            ids(config.n_position),
            ids(config.n_bars_remaining, 1),
            ids(config.n_meter),
            ids(max(config.n_bar_index, 1)),  # read only by a model with a form table
        ],
        -1,
    )
    batch = Batch(
        pitch=ids(config.n_pitch),
        duration=ids(config.n_duration),
        velocity=ids(config.n_velocity),
        conditions=conditions,
        mask=torch.ones(B, T, dtype=torch.bool),
        prev=torch.tensor([config.n_pitch, config.n_duration, config.n_velocity]).expand(B, 3),
        mode=torch.randint(0, 2, (B,), generator=g),
        style=torch.randint(0, config.n_style, (B,), generator=g),
        start=torch.zeros(B, dtype=torch.int64),
    )
    if config.lookback:  # random candidates ("none" = n_pitch, n_duration) and repeat states
        L = len(config.lookback)
        cand_pitch = torch.randint(0, config.n_pitch + 1, (B, T, L), generator=g)
        cand_duration = torch.randint(0, config.n_duration, (B, T, L), generator=g)
        cand_duration[cand_pitch == config.n_pitch] = config.n_duration
        batch.candidates = torch.stack((cand_pitch, cand_duration), -1)
        batch.repeat_states = torch.randint(0, 3, (B, T, L), generator=g)
    return batch


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
        midigan.save(score, folder / name)
        split = "valid" if i % 6 == 5 else "train"
        rows.append({"id": f"folk-{i:05d}", "path": name, "split": split, "style": "folk"})
    if manifest:
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (folder / "manifest.jsonl").write_text(text, encoding="utf-8")
    return folder


def write_tiny_checkpoint(folder: Path, seed: int = 0, **overrides: object) -> Path:
    """A loadable (untrained) checkpoint folder of :func:`tiny_bundle`, written in milliseconds."""
    from midigan.model.checkpoint import checkpoint_files, write_folder

    bundle = tiny_bundle(seed, **overrides)
    files = checkpoint_files(bundle.generator, bundle.vocab, {"phase": "mle", "step": 0, "seed": seed})
    return write_folder(folder, files)
