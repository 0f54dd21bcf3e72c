"""Training: the tokenized corpus, MLE and adversarial steps, checkpoints, DDP.

The entry point is :func:`midigan.train.trainer.train` (what `midigan train` calls).
"""

from __future__ import annotations
