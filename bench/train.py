"""Training and sampling speed of the LSTM-GAN, next to plain PyTorch loops of the same size.

Measures, on CPU (and CUDA when present):

- MLE step (teacher-forced forward + backward + AdamW) in note-events/s, against
  a plain `nn.Embedding -> nn.LSTM -> nn.Linear` cross-entropy step with the same
  embedding width, hidden size, layers and batch;
- GAN step (free-running Gumbel unroll, discriminator update, generator update)
  in note-events/s, against a plain `nn.LSTMCell` Gumbel unroll feeding a plain
  bidirectional `nn.LSTM` critic, the same sizes and steps;
- sampling speed (events/s at batch 1 and 256, ms/event at batch 1) of the fused
  sampler, against a naive loop calling `nn.LSTM` once per event and against the
  step-by-step loop (`sampler.SCRIPTED_LOOP = False`, the code before the scripted
  loop); at batch 256 also the arithmetic bound: FLOPs per event against a matrix
  product of the same shape measured in the same run (fp32 and bf16).

Every figure is a pair (or triple) timed in interleaved rounds, and the ratios are
medians of per-round ratios, so they hold on a machine shared with other jobs.

Usage:
    python bench/train.py                    # default model size, CPU (+ CUDA if present)
    python bench/train.py --threads 1 --only sampling --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from midigan.composer.request import conditions_from_text
from midigan.errors import MidiganError
from midigan.model import fused_loop
from midigan.model import sampler as sampler_module
from midigan.model.checkpoint import ModelBundle, build_generator, load_model, model_config_for
from midigan.model.conditioning import Timeline
from midigan.model.discriminator import Discriminator
from midigan.model.sampler import sample
from midigan.representations.conditions import Conditions
from midigan.representations.stream_vocab import StreamVocab
from midigan.representations.streams import PieceTimeline
from midigan.train.batch import Batch
from midigan.train.config import load_config
from midigan.train.gan import (
    GeneratorObjective,
    discriminator_loss,
    generator_loss,
    judge,
    real_window,
    set_requires_grad,
)

VOCAB = StreamVocab(
    48,
    88,
    (1, 2, 3, 4, 6, 8, 9, 12, 16, 18, 24, 30, 36, 48, 60, 72, 96),
    (1, 17, 33, 49, 65, 81, 97, 113, 128),
)


def timed_pair(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1, device: torch.device | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds per call of each function, and the median ratio of each to the last one.

    Rounds interleave the functions (a, b, ..., a, b, ...), so a change in the load of the
    machine (shared by other jobs) hits them alike; the ratio is taken per round, then the
    median over the rounds, which is what stays comparable between runs on a busy machine.
    """
    sync = (
        (lambda: torch.cuda.synchronize()) if device is not None and device.type == "cuda" else (lambda: None)
    )
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    peer = list(fns)[-1]
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratios = {
        name: statistics.median(a / b for a, b in zip(t, times[peer], strict=True))
        for name, t in times.items()
    }
    return medians, ratios


def synthetic_batch(cfg, B: int, T: int, device: torch.device) -> Batch:
    g = torch.Generator().manual_seed(0)
    ids = lambda n: torch.randint(0, n, (B, T), generator=g)  # noqa: E731
    cond = torch.stack(
        [
            ids(cfg.n_chord),
            ids(cfg.n_position),
            1 + ids(cfg.n_bars_remaining - 1),
            ids(cfg.n_meter),
            ids(max(cfg.n_bar_index, 1)),
        ],
        -1,
    )
    batch = Batch(
        pitch=ids(cfg.n_pitch),
        duration=ids(cfg.n_duration),
        velocity=ids(cfg.n_velocity),
        conditions=cond,
        mask=torch.ones(B, T, dtype=torch.bool),
        prev=torch.tensor([cfg.n_pitch, cfg.n_duration, cfg.n_velocity]).expand(B, 3).clone(),
        mode=torch.randint(0, 2, (B,), generator=g),
        style=torch.randint(0, cfg.n_style, (B,), generator=g),
        start=torch.zeros(B, dtype=torch.int64),
    )
    if cfg.lookback:  # candidates as in real data (most exist), an empty history of 64 bars
        L = len(cfg.lookback)
        batch.candidates = torch.stack(
            (
                torch.randint(0, cfg.n_pitch + 1, (B, T, L), generator=g),
                torch.randint(0, cfg.n_duration, (B, T, L), generator=g),
            ),
            -1,
        )
        batch.repeat_states = torch.randint(0, 3, (B, T, L), generator=g)
        batch.history_pitch = torch.full((B, 64 * 48), cfg.n_pitch)
        batch.history_duration = torch.full((B, 64 * 48), cfg.n_duration)
    return batch.to(device)


class PlainLSTM(nn.Module):
    """The baseline: one embedding, nn.LSTM, one linear layer for all three streams."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.emb = nn.Embedding(cfg.n_pitch + 1, cfg.embed)
        self.lstm = nn.LSTM(cfg.embed, cfg.hidden, cfg.layers, batch_first=True)
        self.head = nn.Linear(cfg.hidden, cfg.n_pitch + cfg.n_duration + cfg.n_velocity)
        self.sizes = (cfg.n_pitch, cfg.n_duration, cfg.n_velocity)

    def loss(self, batch: Batch) -> torch.Tensor:
        out, _ = self.lstm(self.emb(batch.pitch))
        logits = self.head(out).split(self.sizes, -1)
        return sum(
            F.cross_entropy(lg.reshape(-1, lg.shape[-1]), target.reshape(-1))
            for lg, target in zip(logits, (batch.pitch, batch.duration, batch.velocity), strict=True)
        )


def bench_mle(cfg, device: torch.device, B: int, T: int, repeats: int) -> dict[str, float]:
    batch = synthetic_batch(cfg, B, T, device)
    ours = GeneratorObjective(build_generator(cfg, VOCAB)).to(device)
    plain = PlainLSTM(cfg).to(device)
    autocast = (
        torch.autocast("cuda", torch.bfloat16)
        if device.type == "cuda"
        else torch.autocast("cpu", enabled=False)
    )

    def step(model: nn.Module, opt: torch.optim.Optimizer, loss_fn: Callable[[], torch.Tensor]) -> None:
        with autocast:
            loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    opt_o = torch.optim.AdamW(ours.parameters(), 1e-3)
    opt_p = torch.optim.AdamW(plain.parameters(), 1e-3)
    medians, ratios = timed_pair(
        {
            "ours": lambda: step(ours, opt_o, lambda: ours(batch).mle),
            "plain": lambda: step(plain, opt_p, lambda: plain.loss(batch)),
        },
        repeats,
        device=device,
    )
    events = B * T
    return {
        "mle_events_per_s": events / medians["ours"],
        "plain_events_per_s": events / medians["plain"],
        "mle_overhead": ratios["ours"],
    }


class PlainGAN(nn.Module):
    """Baseline GAN step: nn.LSTMCell Gumbel unroll + bidirectional nn.LSTM critic, same sizes."""

    def __init__(self, cfg, dcfg) -> None:
        super().__init__()
        n = cfg.n_pitch + cfg.n_duration + cfg.n_velocity
        self.sizes = (cfg.n_pitch, cfg.n_duration, cfg.n_velocity)
        self.inp = nn.Linear(n, cfg.embed)
        self.cells = nn.ModuleList(
            [nn.LSTMCell(cfg.embed if i == 0 else cfg.hidden, cfg.hidden) for i in range(cfg.layers)]
        )
        self.head = nn.Linear(cfg.hidden, n)
        self.d_in = nn.Linear(n, dcfg.embed)
        self.d_lstm = nn.LSTM(dcfg.embed, dcfg.hidden, batch_first=True, bidirectional=True)
        self.d_out = nn.Linear(2 * dcfg.hidden, 1)
        self.teacher = nn.LSTM(cfg.embed, cfg.hidden, cfg.layers, batch_first=True)

    def unroll(self, B: int, steps: int) -> torch.Tensor:
        dev = self.head.weight.device
        x = torch.zeros(B, sum(self.sizes), device=dev)
        state = [(torch.zeros(B, c.hidden_size, device=dev),) * 2 for c in self.cells]
        outs = []
        for _ in range(steps):
            h = self.inp(x)
            for i, cell in enumerate(self.cells):
                state[i] = cell(h, state[i])
                h = state[i][0]
            parts = [F.gumbel_softmax(lg, hard=True) for lg in self.head(h).split(self.sizes, -1)]
            x = torch.cat(parts, -1)
            outs.append(x)
        return torch.stack(outs, 1)

    def critic(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, _ = self.d_lstm(self.d_in(x))
        f = h.mean(1)
        return self.d_out(f).squeeze(-1), f


def bench_gan(cfg, dcfg, gcfg, device: torch.device, B: int, T: int, repeats: int) -> dict[str, float]:
    batch = synthetic_batch(cfg, B, T, device)
    gen = build_generator(cfg, VOCAB).to(device)
    objective = GeneratorObjective(gen)
    critic = Discriminator(dcfg, cfg).to(device)
    timeline = Timeline.stack([PieceTimeline.of(Conditions(64))] * B).to(device)
    opt_g, opt_d = torch.optim.Adam(gen.parameters(), 1e-4), torch.optim.Adam(critic.parameters(), 1e-4)
    sizes = (cfg.n_pitch, cfg.n_duration, cfg.n_velocity)

    def ours() -> None:
        out = objective(batch, timeline, gcfg.prefix, gcfg.unroll, 1.0)
        real = real_window(batch, sizes, gcfg.prefix, gcfg.unroll)
        real_logits, fake_logits, _, _ = judge(critic, real, out.generated.detach(), batch, 0.1)
        opt_d.zero_grad()
        discriminator_loss(real_logits, fake_logits, 0.1).backward()
        opt_d.step()
        set_requires_grad(critic, False)
        _, fake_logits, real_features, fake_features = judge(critic, real, out.generated, batch, 0.1)
        loss, _ = generator_loss(out, fake_logits, real_features, fake_features, gcfg)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        set_requires_grad(critic, True)

    plain = PlainGAN(cfg, dcfg).to(device)
    opt_p = torch.optim.Adam(plain.parameters(), 1e-4)
    real_x = torch.cat(
        [
            F.one_hot(ids[:, : gcfg.unroll], n).float()
            for ids, n in zip((batch.pitch, batch.duration, batch.velocity), sizes, strict=True)
        ],
        -1,
    )
    teacher_x = torch.randn(B, T, cfg.embed, device=device)

    def baseline() -> None:
        plain.teacher(teacher_x)[0].sum().backward()  # the MLE anchor's teacher-forced pass
        fake = plain.unroll(B, gcfg.unroll)
        rl, rf = plain.critic(torch.cat((real_x, fake.detach())))
        d_loss = F.softplus(-rl[:B]).mean() + F.softplus(rl[B:]).mean()
        opt_p.zero_grad()
        d_loss.backward()
        opt_p.step()
        fl, ff = plain.critic(fake)
        (F.softplus(-fl).mean() + (rf[:B].detach().mean(0) - ff.mean(0)).pow(2).sum()).backward()
        opt_p.step()

    events = B * (gcfg.prefix + gcfg.unroll)
    medians, ratios = timed_pair({"ours": ours, "plain": baseline}, repeats, device=device)
    return {
        "gan_events_per_s": events / medians["ours"],
        "plain_gan_events_per_s": events / medians["plain"],
        "gan_overhead": ratios["ours"],
    }


def sampling_flops_per_event(cfg) -> float:
    """Multiply-adds x 2 of one sampled event: the LSTM's matrix products and the heads."""
    H, L = cfg.hidden, len(cfg.lookback)
    lstm = H * 4 * H + (cfg.layers - 1) * 2 * H * 4 * H  # layer 0's input is a fused-table row sum
    heads = H * (cfg.n_pitch + cfg.n_duration + cfg.n_velocity + 3 * L)
    rows = (3 + 5 + 3 * L) * 4 * H / 2  # the summed table rows (adds, counted as half a multiply-add)
    return 2.0 * (lstm + heads + rows)


def matmul_gflops(cfg, dtype: torch.dtype, repeats: int) -> float:
    """GFLOP/s of the batch-256 recurrent product (256 x H) @ (H x 4H) in `dtype`."""
    H = cfg.hidden
    a, w, bias = (
        torch.randn(256, H, dtype=dtype),
        torch.randn(H, 4 * H, dtype=dtype),
        torch.zeros(4 * H, dtype=dtype),
    )
    for _ in range(3):
        torch.addmm(bias, a, w)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(20):
            torch.addmm(bias, a, w)
        seconds.append((time.perf_counter() - start) / 20)
    return 2 * 256 * H * 4 * H / statistics.median(seconds) / 1e9


def bench_sampling(cfg, device: torch.device, bars: int, repeats: int) -> dict[str, float]:
    """Batch 1 against the naive loop and the step-by-step loop, interleaved; batch 256.

    Uses the shipped model when there is one (its pieces have realistic lengths), else a
    fresh model of `cfg`."""
    try:  # the shipped model writes realistic pieces (a fresh one writes long notes only)
        bundle = load_model(device=device)
    except MidiganError:
        bundle = ModelBundle(build_generator(cfg, VOCAB).to(device).eval(), VOCAB, cfg, device=device)
    gen, cfg = bundle.generator, bundle.config
    request = conditions_from_text(bars, meter="4/4", key="G", chords="G C D G")
    events = sum(len(p) for p in sample(bundle, [request], seed=1))  # also warms every path up

    def ours(batch: int, scripted: bool, bf16: bool = False) -> Callable[[], object]:
        def run() -> None:
            sampler_module.SCRIPTED_LOOP = scripted
            fused_loop.BF16_MATMULS = bf16  # opt-in: changes the draws, so never the default
            try:
                sample(bundle, [request] * batch, seed=1)
            finally:
                sampler_module.SCRIPTED_LOOP = True
                fused_loop.BF16_MATMULS = False

        return run

    def naive() -> None:  # one nn.LSTM call per event, batch 1, as many events as the piece
        with torch.inference_mode():
            x = torch.zeros(1, 1, cfg.embed, device=device)
            state = None
            for _ in range(events):
                h, state = gen.lstm(x, state)
                gen.pitch_head(h).argmax(-1)

    medians, ratios = timed_pair(
        {"fused": ours(1, True), "step_loop": ours(1, False), "naive": naive}, repeats, device=device
    )
    out = {
        "sample_ms_per_event_b1": 1e3 * medians["fused"] / events,
        "sample_events_per_s_b1": events / medians["fused"],
        "step_loop_ms_per_event_b1": 1e3 * medians["step_loop"] / events,
        "naive_nn_lstm_ms_per_event_b1": 1e3 * medians["naive"] / events,
        "b1_over_naive (goal <= 0.25)": ratios["fused"],
        "step_loop_b1_over_naive": ratios["step_loop"],
    }
    big = 256
    events_big = sum(len(p) for p in sample(bundle, [request] * big, seed=1))
    medians, ratios = timed_pair(
        {"fused_bf16": ours(big, True, True), "fused": ours(big, True), "step_loop": ours(big, False)},
        max(2, repeats // 2),
        warmup=0,
        device=device,
    )
    flops = sampling_flops_per_event(cfg)
    fp32 = matmul_gflops(cfg, torch.float32, 5) if device.type == "cpu" else float("nan")
    bf16 = matmul_gflops(cfg, torch.bfloat16, 5) if device.type == "cpu" else float("nan")
    out.update(
        {
            "sample_events_per_s_b256": events_big / medians["fused"],
            "step_loop_events_per_s_b256": events_big / medians["step_loop"],
            "sample_events_per_s_b256_bf16_opt_in": events_big / medians["fused_bf16"],
            "b256_bf16_over_fp32": ratios["fused_bf16"] / ratios["fused"],
            "b256_fused_over_step_loop": ratios["fused"],
            "mflop_per_event": flops / 1e6,
            "matmul_gflops_fp32_256x256x1024": fp32,
            "matmul_gflops_bf16_256x256x1024": bf16,
            "fp32_bound_events_per_s": fp32 * 1e9 / flops,
            "b256_share_of_fp32_bound": events_big / medians["fused"] / (fp32 * 1e9 / flops),
        }
    )
    return out


def run(device: torch.device, config: str | None, repeats: int, parts: str) -> dict[str, float]:
    run_cfg = load_config(config)
    cfg = model_config_for(run_cfg.model, VOCAB)
    B, T = run_cfg.data.batch_size, run_cfg.data.seq_len
    results: dict[str, float] = {"batch": B, "seq_len": T, "hidden": cfg.hidden, "layers": cfg.layers}
    if parts in ("all", "mle"):
        results.update(bench_mle(cfg, device, B, T, repeats))
    if parts in ("all", "gan"):
        gan_len = run_cfg.gan.prefix + run_cfg.gan.unroll  # adversarial windows are this long in training
        results.update(
            bench_gan(cfg, run_cfg.discriminator, run_cfg.gan, device, B, gan_len, max(2, repeats // 2))
        )
    if parts in ("all", "sampling"):
        results.update(bench_sampling(cfg, device, bars=64, repeats=repeats))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="preset or TOML (default: the shipped model's)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--cpu-only", action="store_true")
    parser.add_argument("--only", choices=("all", "mle", "gan", "sampling"), default="all")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "load_average_1min": os.getloadavg()[0],
        "torch": torch.__version__,
        "cpu": run(torch.device("cpu"), args.config, args.repeats, args.only),
    }
    if torch.cuda.is_available() and not args.cpu_only:
        report["cuda_device"] = torch.cuda.get_device_name()
        report["cuda"] = run(torch.device("cuda"), args.config, args.repeats, args.only)
    else:
        report["cuda"] = "no CUDA device in this run"
    text = json.dumps(report, indent=2, default=lambda v: round(v, 4))
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
