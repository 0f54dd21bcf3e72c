"""The conditional LSTM-GAN: configs, generator, discriminator, sampler and checkpoints.

Importing this package imports torch; the data layer (score, representations,
corpus) never does.
"""

from __future__ import annotations
