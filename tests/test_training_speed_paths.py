"""The faster training forms compute what the plain forms compute (to float rounding)."""

from __future__ import annotations

import torch
from model_helpers import random_batch, tiny_bundle

from midigan.model.config import DiscriminatorConfig
from midigan.model.discriminator import Discriminator
from midigan.model.generator import Generator
from midigan.train.gan import judge, real_window, set_requires_grad


def _copy_heads_on(generator: Generator) -> None:
    """Copy heads start at zero; random weights make the lookback paths count."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for layer in (generator.copy_pitch, generator.copy_duration):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))


def test_training_mode_logits_match_eval_mode_logits():
    """Training mode stacks the heads and sums the lookback rows in one bag; with dropout off
    the logits and their gradients are those of eval mode's separate lookups and products."""
    bundle = tiny_bundle(seed=4, lookback=(1, 2, 4), n_bar_index=32, dropout=0.0)
    g = bundle.generator
    _copy_heads_on(g)
    batch = random_batch(bundle.config, B=4, T=21, seed=3)
    z = g.sample_z(4, torch.Generator().manual_seed(0))
    results = []
    for training in (False, True):
        g.train(training)
        g.zero_grad()
        logits = g(batch, z)
        sum(lg.square().mean() for lg in logits).backward()
        results.append((logits, {n: p.grad.clone() for n, p in g.named_parameters() if p.grad is not None}))
    (eval_logits, eval_grads), (train_logits, train_grads) = results
    for a, b in zip(eval_logits, train_logits, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert eval_grads.keys() == train_grads.keys()
    for name, grad in eval_grads.items():
        torch.testing.assert_close(train_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_a_frozen_critic_judges_real_windows_apart_with_the_same_result():
    """For the generator's update the real windows skip autograd; logits and features are
    those of the stacked pass, and gradients reach the generated windows."""
    bundle = tiny_bundle(seed=1, lookback=(1, 2))
    cfg = bundle.config
    critic = Discriminator(DiscriminatorConfig(embed=8, hidden=8, dropout=0.0), cfg)
    sizes = (cfg.n_pitch, cfg.n_duration, cfg.n_velocity)
    batch = random_batch(cfg, B=3, T=12, seed=1)
    real = real_window(batch, sizes, 2, 8)
    fake = real_window(random_batch(cfg, B=3, T=12, seed=2), sizes, 2, 8)
    fake.streams = tuple(s.clone().requires_grad_(True) for s in fake.streams)
    stacked = judge(critic, real, fake, batch, 0.0)
    set_requires_grad(critic, False)
    apart = judge(critic, real, fake, batch, 0.0)
    set_requires_grad(critic, True)
    for a, b in zip(stacked, apart, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert not apart[0].requires_grad and not apart[2].requires_grad, "real windows carry no graph"
    apart[3].sum().backward()
    assert fake.streams[0].grad is not None and fake.streams[0].grad.abs().sum() > 0
