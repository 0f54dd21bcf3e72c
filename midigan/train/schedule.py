"""The MLE schedule fitted to the corpus a run was given, and a word when the model is too big for it.

A preset's schedule is written for a corpus of some size: the default preset's 12 epochs
and 200-step warm-up assume the shipped corpus (196 batches an epoch, 2,352 steps). On a
folder of 64 songs the same 12 epochs are 36 steps: the warm-up never ends, the learning
rate never reaches its value, and the model that comes out is unusable. So when the
planned MLE steps fall short of ``[mle] min_steps``, :func:`fit_schedule`

- raises the MLE epochs until the phase takes at least ``min_steps`` steps,
- caps the warm-up at :data:`WARMUP_SHARE` of the phase, and
- validates every k-th epoch (k: the factor the epochs grew by), so a run of tiny epochs
  validates about as often as the preset planned rather than after every step.

Why more epochs rather than a smaller model: the model size is what the user chose (and
what a checkpoint is), the epochs are only how long it trains. A model far larger than its
data is worth a warning and the preset to use instead (:func:`model_size_note`), not a
silent swap. The adversarial phase is left as the preset says: it fine-tunes the MLE
model, its length is already capped by ``[gan] max_batches``, and on a small corpus more
adversarial steps mostly teach the critic the training pieces by heart.

A run whose corpus fits its schedule is left exactly as the preset says; so is a run
given ``--epochs`` or ``--max-steps`` (the user set the schedule). The fitted values are
what the run folder's ``config.toml`` records, so ``--resume`` continues the same schedule.
"""

from __future__ import annotations

import math
from dataclasses import replace

from midigan.train.config import RunConfig, TrainOptions, load_config

WARMUP_SHARE = 0.1  # the warm-up takes at most this share of a fitted MLE phase
WEIGHTS_PER_EVENT = 20  # more generator weights than this per training event: the model is too big


def fit_schedule(config: RunConfig, batches_per_epoch: int) -> tuple[RunConfig, list[str]]:
    """`config` with the MLE schedule fitted to `batches_per_epoch`, and what was changed (plain lines).

    Args:
        config: the resolved run configuration.
        batches_per_epoch: MLE batches in one epoch of this corpus (in one process).

    Returns:
        The fitted config (`config` itself when its schedule fits the data) and one line
        per change, empty when nothing changed.
    """
    mle = config.mle
    planned = mle.epochs * batches_per_epoch
    if mle.min_steps <= 0 or mle.epochs <= 0 or batches_per_epoch <= 0 or planned >= mle.min_steps:
        return config, []
    epochs = math.ceil(mle.min_steps / batches_per_epoch)
    steps = epochs * batches_per_epoch
    warmup = min(mle.warmup_steps, max(1, int(WARMUP_SHARE * steps)))
    every = max(1, epochs // mle.epochs)
    notes = [
        f"the corpus gives {batches_per_epoch} MLE batch(es) an epoch: {mle.epochs} epochs would be "
        f"{planned} steps, fewer than [mle] min_steps = {mle.min_steps}; training {epochs} epochs "
        f"({steps} steps) instead"
    ]
    if warmup != mle.warmup_steps:
        notes.append(f"warm-up {mle.warmup_steps} -> {warmup} steps ({WARMUP_SHARE:.0%} of the MLE phase)")
    if every > 1:
        notes.append(f"validating every {every} epochs (and at the end) rather than after each one")
    fitted = replace(
        config,
        mle=replace(mle, epochs=epochs, warmup_steps=warmup),
        train=replace(config.train, validate_every=config.train.validate_every * every),
    )
    return fitted, notes


def planned_schedule(
    config: RunConfig, batches_per_epoch: int, options: TrainOptions, weights: int, train_events: int
) -> tuple[RunConfig, list[str]]:
    """The run's config, fitted where `options.fit_schedule` asks, and every warning about its plan.

    Args:
        batches_per_epoch: MLE batches in one epoch of this corpus (in one process).
        weights: the generator's parameter count.
        train_events: events of the training pieces.
    """
    notes: list[str] = []
    if options.fit_schedule:
        config, notes = fit_schedule(config, batches_per_epoch)
    elif options.max_steps is None:
        notes = [n for n in [warmup_note(config, batches_per_epoch)] if n]
    smaller = "tiny" if config.model.hidden > load_config("tiny").model.hidden else None
    return config, notes + [n for n in [model_size_note(weights, train_events, smaller)] if n]


def warmup_note(config: RunConfig, batches_per_epoch: int) -> str | None:
    """A warning when the warm-up outlasts the whole MLE phase (a schedule the user fixed)."""
    planned = config.mle.epochs * batches_per_epoch
    if 0 < planned <= config.mle.warmup_steps:
        return (
            f"the MLE warm-up ({config.mle.warmup_steps} steps) is longer than the phase ({planned} steps): "
            "the learning rate never reaches [mle] lr; give more --epochs or a smaller warmup_steps"
        )
    return None


def model_size_note(weights: int, train_events: int, smaller_preset: str | None = "tiny") -> str | None:
    """A warning when the generator has far more weights than the corpus has training events.

    Args:
        smaller_preset: a preset with a smaller model to suggest; None when there is none.
    """
    if train_events <= 0 or weights <= WEIGHTS_PER_EVENT * train_events:
        return None
    instead = f"a smaller model (--config {smaller_preset}) suits a corpus this size, or give it more music"
    return (
        f"the model has {weights:,} weights for {train_events:,} training events: it will learn the "
        f"pieces by heart rather than the style; {instead if smaller_preset else 'give it more music'}"
    )
