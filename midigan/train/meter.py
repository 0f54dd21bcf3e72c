"""Losses summed on the device between log lines, read with one host sync."""

from __future__ import annotations

import time

import torch

from midigan.train import distributed as dist_util


class LossMeter:
    """Losses summed on the device between log lines (no host sync per step)."""

    def __init__(self, device: torch.device, info: dist_util.DistInfo) -> None:
        self.device = device
        self.info = info
        self.reset()

    def reset(self) -> None:
        self.values: dict[str, torch.Tensor] = {}
        self.nll = torch.zeros(3, device=self.device)
        self.events = torch.zeros((), device=self.device)
        self.steps = 0
        self.started = time.perf_counter()

    def add(self, values: dict[str, torch.Tensor], nll: torch.Tensor, events: torch.Tensor) -> None:
        for k, v in values.items():
            self.values[k] = self.values.get(k, 0) + v.float()
        self.nll += nll.float()
        self.events += events
        self.steps += 1

    def read(self) -> dict[str, float] | None:
        if not self.steps:
            return None
        names = list(self.values)
        packed = torch.stack([self.values[k] for k in names] + [*self.nll, self.events])
        packed = dist_util.all_mean(packed, self.info).tolist()  # every rank sees the same numbers
        events = max(packed[-1], 1.0)
        out = {k: v / self.steps for k, v in zip(names, packed, strict=False)}
        nll = packed[len(names) : len(names) + 3]
        out.update(
            {
                "nll": sum(nll) / events,
                "nll_pitch": nll[0] / events,
                "nll_duration": nll[1] / events,
                "nll_velocity": nll[2] / events,
            }
        )
        out["events_per_s"] = packed[-1] / max(time.perf_counter() - self.started, 1e-9)
        self.reset()
        return out
