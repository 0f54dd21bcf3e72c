"""`torch_threads`: run a block on a set number of CPU threads, then put the count back.

Small recurrent networks (the sampler at small batches, the chord and velocity models)
run fastest on one thread: their matrix products are too small to split, and on a busy
2-core machine a second thread only waits on the first. One context manager, so every
caller restores the process's setting the same way, even on an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count is `count` inside the block and what it was after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
