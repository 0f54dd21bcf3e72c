"""Training state as safetensors + JSON: optimizers, scaler, RNG streams. No pickle.

`torch.optim` state dicts mix tensors (moments) with plain values (step counts,
hyper-parameters); the tensors go to safetensors under `<prefix>.state.<param>.<key>`
and everything else to JSON, and :func:`restore_optimizer` puts them back together.
"""

from __future__ import annotations

from typing import Any

import torch


def optimizer_to_flat(
    prefix: str, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's state dict into tensors and JSON-able values."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, values in sd["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(index), {})[key] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "plain_state": plain}


def restore_optimizer(
    prefix: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    """Load what :func:`optimizer_to_flat` wrote back into `optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}.state."
    for name, value in tensors.items():
        if name.startswith(head):
            index, key = name[len(head) :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, values in meta.get("plain_state", {}).items():
        state.setdefault(int(index), {}).update(values)
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def rng_tensors(
    states: list[torch.Tensor], cuda_states: list[torch.Tensor] | None
) -> dict[str, torch.Tensor]:
    """RNG states of every rank as named uint8 tensors."""
    out = {f"rng.cpu.{rank}": s for rank, s in enumerate(states)}
    for rank, s in enumerate(cuda_states or []):
        out[f"rng.cuda.{rank}"] = s
    return out


def restore_rng(tensors: dict[str, torch.Tensor], rank: int, device: torch.device) -> bool:
    """Restore this rank's RNG streams; False when the checkpoint has none for it."""
    cpu = tensors.get(f"rng.cpu.{rank}")
    if cpu is None:
        return False
    torch.set_rng_state(cpu)
    cuda = tensors.get(f"rng.cuda.{rank}")
    if cuda is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda, device)
    return True
