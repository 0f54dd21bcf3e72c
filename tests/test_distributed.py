"""DistributedDataParallel on CPU: two gloo processes stay in lockstep."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from model_helpers import tiny_run_config, write_corpus
from safetensors.torch import load_file, save_file

from midigan.train.dataset import load_corpus


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, corpus: str, out: str, cache: str) -> None:
    from midigan.train.config import TrainOptions
    from midigan.train.trainer import Trainer

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    config = tiny_run_config(
        mle={"epochs": 5},
        gan={"epochs": 1, "max_batches": 2},
        train={"log_every": 1, "checkpoint_every": 100},
    )
    options = TrainOptions(
        Path(corpus),
        Path(out),
        config,
        device="cpu",
        seed=3,
        max_steps=3,
        progress=False,
        cache_dir=Path(cache),
    )
    trainer = Trainer(options)
    trainer.run()
    state = {k: v.contiguous() for k, v in trainer.generator.state_dict().items()}
    state.update({f"critic.{k}": v.contiguous() for k, v in trainer.critic.state_dict().items()})
    save_file(state, str(Path(out) / f"rank{rank}.safetensors"))


def test_two_gloo_ranks_end_with_identical_parameters(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", pieces=24, manifest=True)
    load_corpus(corpus, coverage=0.995, cache_dir=tmp_path / "cache")  # tokenized once, before the ranks
    out = tmp_path / "run"
    out.mkdir()
    mp.spawn(
        _worker, args=(2, _free_port(), str(corpus), str(out), str(tmp_path / "cache")), nprocs=2, join=True
    )
    rank0, rank1 = (load_file(str(out / f"rank{r}.safetensors")) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    saved = load_file(str(out / "gan" / "model.safetensors"))
    assert all(torch.equal(saved[k], rank0[k]) for k in saved), "rank 0 wrote what both ranks hold"
    fresh = load_file(str(out / "mle" / "model.safetensors"))
    assert any(not torch.equal(fresh[k], rank0[k]) for k in fresh), "the GAN phase moved the weights"
    log = (out / "train_log.jsonl").read_text().splitlines()
    assert '"world": 2' in log[0]


@pytest.mark.slow
def test_torchrun_launches_the_cli(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", pieces=16, manifest=True)
    out = tmp_path / "run"
    env = dict(os.environ, MIDIGAN_CACHE_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
    ]
    command = [
        *launcher,
        "-m",
        "midigan.cli.train_cmd",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--config",
        "tiny",
        "--max-steps",
        "2",
        "--quiet",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "gan" / "model.safetensors").exists()
