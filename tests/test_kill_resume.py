"""`kill -9` a training run anywhere, resume it, and get the run that was never killed (issue 12).

A tiny seeded run (the tiny preset, a checkpoint after every step) is started as a real
`midigan train` process and killed with SIGKILL at seeded points of both phases: a step
the log has shown, then a seeded delay of up to a quarter second, so some kills land in
a checkpoint write. Each time `midigan train --resume` takes over. The final checkpoints
of both phases must equal, tensor by tensor (weights, optimizer moments, RNG states),
those of the same run left alone; and no temp folder of a killed write may be left.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from model_helpers import tiny_run_config, write_corpus
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

MLE_STEPS = range(1, 8)  # kill points: 4 MLE epochs of 2 steps (steps 1-8),
GAN_STEPS = range(9, 16)  # then 4 adversarial epochs (steps 9-16); steps count on across phases
TIMEOUT_S = 180


def train_command(work: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from midigan.cli import main; main()",
        "train",
        "--corpus",
        str(work / "corpus"),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--quiet",
        *extra,
    ]


def environment(work: Path) -> dict[str, str]:
    return {**os.environ, "MIDIGAN_CACHE_DIR": str(work / "cache"), "OMP_NUM_THREADS": "1"}


def logged_steps(log: Path, skip_bytes: int) -> list[int]:
    """The steps of the step records appended to the log after `skip_bytes`."""
    if not log.exists():
        return []
    with open(log, "rb") as handle:
        handle.seek(skip_bytes)
        text = handle.read().decode("utf-8", errors="replace")
    steps = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line a kill cut short
        if "event" not in record and "step" in record:
            steps.append(record["step"])
    return steps


def run_until(command: list[str], env: dict, log: Path, target: int | None, delay: float) -> int:
    """Run `command`; once the log shows step `target` or a later one, wait `delay` s and SIGKILL it.

    Returns the exit status (-9 when the kill landed, 0 when the run ended first).
    """
    skip = log.stat().st_size if log.exists() else 0
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + TIMEOUT_S
    while target is not None and process.poll() is None and time.monotonic() < deadline:
        if any(step >= target for step in logged_steps(log, skip)):
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    try:
        _, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode in (0, -signal.SIGKILL), stderr.decode(errors="replace")[-2000:]
    return process.returncode


def tensors(folder: Path) -> dict:
    return {
        f"{name}:{key}": value
        for name in ("model.safetensors", "trainer.safetensors")
        for key, value in load_file(str(folder / name)).items()
    }


def test_a_run_killed_at_random_points_of_both_phases_resumes_to_the_same_tensors(tmp_path):
    write_corpus(tmp_path / "corpus", pieces=12, manifest=True)
    config = tmp_path / "every_step.toml"
    config.write_text(
        tiny_run_config(train={"checkpoint_every": 1, "log_every": 1}).to_toml(), encoding="utf-8"
    )
    start = ["--config", str(config), "--seed", "7", "--epochs", "4", "--gan-epochs", "4"]
    env = environment(tmp_path)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert (
        run_until(train_command(tmp_path, straight, *start), env, straight / "train_log.jsonl", None, 0) == 0
    )

    rng = random.Random(12)
    targets = sorted(rng.sample(MLE_STEPS, 3) + rng.sample(GAN_STEPS, 3))
    log = killed / "train_log.jsonl"
    command = train_command(tmp_path, killed, *start)
    statuses = []
    for target in targets:  # a step's log line, then up to a step's time: some kills hit a checkpoint write
        statuses.append(run_until(command, env, log, target, rng.uniform(0, 0.1)))
        command = train_command(tmp_path, killed, "--resume")
    assert run_until(command, env, log, None, 0) == 0
    landed = [t for t, status in zip(targets, statuses, strict=True) if status == -signal.SIGKILL]
    assert min(landed) < GAN_STEPS[0] <= max(landed), f"kills that landed, by step: {landed}"

    for phase in ("mle", "gan"):
        a, b = tensors(straight / phase), tensors(killed / phase)
        assert a.keys() == b.keys(), phase
        for name in a:
            assert a[name].equal(b[name]), f"{phase}/{name} differs after {len(landed)} kills and resumes"
        position = json.loads((killed / phase / "trainer.json").read_text())["position"]
        assert position == json.loads((straight / phase / "trainer.json").read_text())["position"]
    assert not list(killed.glob(".*.tmp")) and not list(killed.glob(".*.old")), "a killed write left its temp"
