"""The same code on CUDA: cuDNN LSTM, mixed precision, the sampler on the device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import random_batch, tiny_bundle, tiny_run_config, write_corpus

from midigan.composer.request import conditions_from_text
from midigan.model.checkpoint import load_model
from midigan.model.sampler import sample
from midigan.model.stepper import FusedStepper
from midigan.representations.conditions import Conditions
from midigan.train.config import TrainOptions
from midigan.train.trainer import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_cudnn_forward_matches_cpu_and_fused_step():
    cpu = tiny_bundle(seed=1)
    batch = random_batch(cpu.config, B=4, T=9)
    z = torch.randn(4, cpu.config.z_dim)
    with torch.no_grad():
        expected = cpu.generator(batch, z)
        gpu = cpu.generator.to("cuda")
        got = gpu(batch.to(torch.device("cuda")), z.cuda())
        fused = FusedStepper(gpu, 1.0)
    for a, b in zip(expected, got, strict=True):
        torch.testing.assert_close(b.cpu(), a, atol=1e-4, rtol=1e-3)
    assert fused.fused0.is_cuda


def test_sampling_on_cuda_is_exact_and_reproducible():
    bundle = tiny_bundle(seed=2)
    bundle.generator.to("cuda")
    bundle.device = torch.device("cuda")
    requests = [
        conditions_from_text(b, meter=m, key="D", chords="D G A D")
        for b, m in ((3, "3/4"), (8, "6/8"), (5, "4/4"))
    ]
    first = sample(bundle, requests, seed=4)
    again = sample(bundle, requests, seed=4)
    for request, a, b in zip(requests, first, again, strict=True):
        assert int(a.duration.sum()) == request.total_ticks()
        assert np.array_equal(a.pitch, b.pitch) and np.array_equal(a.duration, b.duration)


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_training_on_cuda_with_mixed_precision(tmp_path, precision):
    corpus = write_corpus(tmp_path / "c", pieces=12, manifest=True)
    config = tiny_run_config(train={"precision": precision, "log_every": 2})
    options = TrainOptions(
        corpus,
        tmp_path / "run",
        config,
        device="cuda",
        max_steps=4,
        progress=False,
        cache_dir=tmp_path / "cache",
    )
    result = train(options)
    assert set(result["checkpoints"]) == {"mle", "gan"}
    bundle = load_model(tmp_path / "run", device="cpu")
    assert int(sample(bundle, [Conditions(2)], seed=0)[0].duration.sum()) == 96
