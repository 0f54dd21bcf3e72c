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
    """Load what :func:`optimizer_to_flat` wrote back into `optimizer`.

    `torch.optim` trusts a state dict: a moment of the wrong shape or a learning rate
    given as text loads fine and fails at the next step. So every value is checked
    against the optimizer it goes into first.

    Raises:
        ValueError: a state entry for no parameter, a moment whose shape is not its
            parameter's, a missing moment, or a group value of the wrong type.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}.state."
    for name, value in tensors.items():
        if name.startswith(head):
            index, key = name[len(head) :].split(".", 1)
            state.setdefault(_param_index(index, len(params), name), {})[key] = value
    for index, values in meta.get("plain_state", {}).items():
        if not isinstance(values, dict) or not all(_is_number(v) for v in values.values()):
            raise ValueError(f"{prefix} plain state of parameter {index} must hold numbers (got {values!r})")
        state.setdefault(_param_index(index, len(params), f"{prefix} plain state"), {}).update(values)
    for index, values in state.items():
        _check_moments(prefix, index, values, params[index])
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    _check_groups(prefix, groups, optimizer.state_dict()["param_groups"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


_ADAM_STATE = {"step", "exp_avg", "exp_avg_sq"}  # what Adam / AdamW keep per parameter


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _param_index(text: str, count: int, name: str) -> int:
    if not text.isdigit() or int(text) >= count:
        raise ValueError(f"{name}: parameter {text!r} is not one of the optimizer's {count}")
    return int(text)


def _check_moments(prefix: str, index: int, values: dict[str, Any], param: torch.Tensor) -> None:
    missing = sorted(_ADAM_STATE - set(values))
    if missing:
        raise ValueError(f"{prefix}.state.{index} lacks {', '.join(missing)}")
    for key, value in values.items():
        if not isinstance(value, torch.Tensor):
            continue
        if key == "step" and value.numel() != 1:
            raise ValueError(
                f"{prefix}.state.{index}.step has shape {tuple(value.shape)}, expected one count"
            )
        elif key != "step" and value.shape != param.shape:
            raise ValueError(
                f"{prefix}.state.{index}.{key} has shape {tuple(value.shape)}, "
                f"its parameter {tuple(param.shape)}"
            )


def _check_groups(prefix: str, groups: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> None:
    """Each saved group must list the same parameters, with values of the fresh group's types."""
    if len(groups) != len(fresh):
        raise ValueError(f"{prefix}: {len(groups)} parameter groups, the optimizer has {len(fresh)}")
    for saved, want in zip(groups, fresh, strict=True):
        for key, default in want.items():
            if key not in saved:
                continue  # written by another torch version: load_state_dict keeps the default
            value = saved[key]
            if key == "params":
                same = value == default
            elif isinstance(default, bool) or default is None:
                same = value is None or isinstance(value, bool)
            elif _is_number(default):
                same = _is_number(value)
            elif isinstance(default, tuple):
                same = isinstance(value, tuple) and all(_is_number(v) for v in value)
            else:
                same = True
            if not same:
                raise ValueError(f"{prefix} group value {key} = {value!r} does not fit the optimizer")


def rng_tensors(
    states: list[torch.Tensor], cuda_states: list[torch.Tensor] | None
) -> dict[str, torch.Tensor]:
    """RNG states of every rank as named uint8 tensors."""
    out = {f"rng.cpu.{rank}": s for rank, s in enumerate(states)}
    for rank, s in enumerate(cuda_states or []):
        out[f"rng.cuda.{rank}"] = s
    return out


def restore_rng(tensors: dict[str, torch.Tensor], rank: int, device: torch.device) -> bool:
    """Restore this rank's RNG streams; False when the checkpoint has none for it.

    Raises:
        ValueError: a state that is not the generator's own size and type.
    """
    cpu = tensors.get(f"rng.cpu.{rank}")
    if cpu is None:
        return False
    _check_rng(f"rng.cpu.{rank}", cpu, torch.get_rng_state())
    cuda = tensors.get(f"rng.cuda.{rank}")
    use_cuda = cuda is not None and device.type == "cuda"
    if use_cuda:
        _check_rng(f"rng.cuda.{rank}", cuda, torch.cuda.get_rng_state(device))
    torch.set_rng_state(cpu)
    if use_cuda:
        torch.cuda.set_rng_state(cuda, device)
    return True


def _check_rng(name: str, state: torch.Tensor, current: torch.Tensor) -> None:
    if state.dtype != current.dtype or state.shape != current.shape:
        raise ValueError(
            f"RNG state {name} is {state.dtype} {tuple(state.shape)}, "
            f"expected {current.dtype} {tuple(current.shape)}"
        )
