"""The conditional LSTM-GAN: generator, discriminator, the free-running loop, sampling, checkpoints.

`generator` and `discriminator` are the networks (their condition tables are
`conditioning.ConditionTables`); `free_run` is the one loop in which a batch writes
itself event by event, with the adversarial `unroll` and the fused `sampler` as its
two steps; `checkpoint` reads and writes them. The run configuration and training
live in :mod:`midigan.train`, which this package never imports. Importing it
imports torch; the data layer (score, representations, corpus) never does.
"""

from __future__ import annotations
