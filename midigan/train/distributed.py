"""Multi-process training under `torchrun`: process group from the environment.

`torchrun --nproc_per_node=N -m midigan.cli train ...` (or `midigan train` under
torchrun) sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; we join
the group (NCCL on CUDA, gloo on CPU), pin each process to its local GPU, shard the
batches, wrap the models in DistributedDataParallel, and let rank 0 alone write
logs and checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the group (world 1 = not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup_distributed(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1).

    Returns:
        The group position and the device this process uses (its local GPU on CUDA).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), device
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local), device


def teardown_distributed() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(module: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """`module` inside DistributedDataParallel when distributed, else unchanged.

    DDP broadcasts rank 0's parameters at construction, so every rank starts equal,
    and averages gradients in backward, so they stay equal.
    """
    if not info.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (the tensor itself when not distributed)."""
    if not info.enabled:
        return values
    out = values.clone()
    dist.all_reduce(out)
    return out / info.world


def gather_rng(state: torch.Tensor, info: DistInfo) -> list[torch.Tensor]:
    """Every rank's RNG state (a uint8 tensor of the same size on each rank)."""
    if not info.enabled:
        return [state]
    on = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else state.device
    local = state.to(on)
    out = [torch.empty_like(local) for _ in range(info.world)]
    dist.all_gather(out, local)
    return [t.cpu() for t in out]
