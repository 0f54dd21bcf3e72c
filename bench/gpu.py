"""GPU benchmarks of issue 14, point 4: the figures a short lease on a CUDA machine should bring back.

One run measures, on the device it is given:

- batch sampling: events/s of the fused sampler at batch 4096 (goal >= 1M events/s on a GPU),
  with the shipped model when it loads (else a fresh generator of the recipe's size);
- the GAN step against a teacher-forced (cuDNN) MLE step of the same generator over the same
  windows: their time ratio (goal <= 3x); both from bench/train.py, which also times the plain
  PyTorch loops;
- bf16 autocast against fp32: the MLE loss of one batch (dropout off) and the cosine of the two
  gradients (goal: loss within 1 %, cosine >= 0.95);
- the default recipe's wall time: measured MLE and GAN steps at the recipe's sizes, times the
  steps the shipped model's training log counts (validation, the harmony model and data loading
  are not in the estimate).

Usage (from the repository root)::

    python bench/gpu.py                       # CUDA, full sizes (bench/gpu.sh runs it)
    python bench/gpu.py --device cpu --quick  # a smoke test anywhere: small sizes, tiny preset

Results print as JSON and a Markdown table; ``--out DIR`` (default: $OUT when set) also writes
``gpu_results.json`` and ``gpu_results.md`` there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train as train_bench  # bench/train.py: synthetic batches, MLE and GAN steps

from midigan.composer.request import conditions_from_text
from midigan.io.atomic import write_atomic
from midigan.model.checkpoint import ModelBundle, build_generator, load_model, model_config_for
from midigan.model.sampler import sample
from midigan.train.config import load_config
from midigan.train.gan import GeneratorObjective

LOG = Path(__file__).resolve().parent.parent / "midigan" / "pretrained" / "train_log.jsonl"
GOALS = {"sample_events_per_s": 1e6, "gan_over_teacher": 3.0, "bf16_loss_rel": 0.01, "bf16_grad_cos": 0.95}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_sampling(device: torch.device, batch: int, bars: int) -> dict[str, float | str]:
    """Events/s of one `sample` call of `batch` pieces (after a warm-up call)."""
    try:
        bundle, model = load_model(None, device=device), "shipped"
    except Exception as e:  # a benchmark falls back to a fresh generator rather than stop
        print(f"note: shipped model not loaded ({e}); sampling a fresh generator", file=sys.stderr)
        cfg = model_config_for(load_config(None).model, train_bench.VOCAB)
        generator = build_generator(cfg, train_bench.VOCAB).to(device).eval()
        bundle, model = ModelBundle(generator, train_bench.VOCAB, cfg, device=device), "fresh"
    request = conditions_from_text(bars, meter="4/4", key="G", chords="G C D G")
    sample(bundle, [request] * min(batch, 64), seed=0)  # warm-up: kernels, allocator
    sync(device)
    start = time.perf_counter()
    pieces = sample(bundle, [request] * batch, seed=1)
    sync(device)
    seconds = time.perf_counter() - start
    events = sum(len(p) for p in pieces)
    return {
        "sample_model": model,
        "sample_batch": batch,
        "sample_bars": bars,
        "sample_events": events,
        "sample_seconds": seconds,
        "sample_events_per_s": events / seconds,
    }


def bench_steps(device: torch.device, config: str | None, batch: int, repeats: int) -> dict[str, float]:
    """GAN step and teacher-forced MLE step over the same (batch, prefix + unroll) windows."""
    run = load_config(config)
    cfg = model_config_for(run.model, train_bench.VOCAB)
    window = run.gan.prefix + run.gan.unroll
    mle = train_bench.bench_mle(cfg, device, batch, window, repeats)
    gan = train_bench.bench_gan(cfg, run.discriminator, run.gan, device, batch, window, max(2, repeats // 2))
    return {
        "window": window,
        "teacher_events_per_s": mle["mle_events_per_s"],
        "gan_events_per_s": gan["gan_events_per_s"],
        "gan_over_teacher": mle["mle_events_per_s"] / gan["gan_events_per_s"],
        "gan_over_plain_gan": gan["gan_overhead"],
    }


def bench_bf16(device: torch.device, config: str | None, batch: int, length: int) -> dict[str, float]:
    """One batch's MLE loss and gradient in fp32 and under bf16 autocast, same weights, no dropout."""
    run = load_config(config)
    cfg = model_config_for(run.model, train_bench.VOCAB)
    torch.manual_seed(0)
    objective = GeneratorObjective(build_generator(cfg, train_bench.VOCAB)).to(device).eval()
    data = train_bench.synthetic_batch(cfg, batch, length, device)

    def loss_and_grad(autocast: bool) -> tuple[float, torch.Tensor]:
        objective.zero_grad(set_to_none=True)
        with torch.autocast(device.type, torch.bfloat16, enabled=autocast):
            loss = objective(data).mle
        loss.float().backward()
        grads = [p.grad.flatten().float() for p in objective.parameters() if p.grad is not None]
        return float(loss), torch.cat(grads)

    fp32, g32 = loss_and_grad(False)
    bf16, g16 = loss_and_grad(True)
    return {
        "fp32_loss": fp32,
        "bf16_loss": bf16,
        "bf16_loss_rel": abs(bf16 - fp32) / abs(fp32),
        "bf16_grad_cos": float(torch.nn.functional.cosine_similarity(g32, g16, dim=0)),
    }


def recipe_steps(log: Path) -> tuple[int, int]:
    """(MLE steps, GAN steps) of the shipped model's training, from its log (0, 0 without one)."""
    if not log.exists():
        return 0, 0
    last = {"mle": 0, "gan": 0}
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("phase") in last and "step" in entry:
            last[entry["phase"]] = max(last[entry["phase"]], int(entry["step"]))
    return last["mle"], max(last["gan"] - last["mle"], 0)


def bench_recipe(device: torch.device, config: str | None, repeats: int, scale: float) -> dict[str, float]:
    """Seconds per MLE and GAN step at the recipe's sizes (batch times `scale`), and the estimate."""
    run = load_config(config)
    cfg = model_config_for(run.model, train_bench.VOCAB)
    batch = max(1, round(run.data.batch_size * scale))
    length = max(8, round(run.data.seq_len * scale))
    window = run.gan.prefix + run.gan.unroll
    mle = train_bench.bench_mle(cfg, device, batch, length, repeats)
    gan = train_bench.bench_gan(cfg, run.discriminator, run.gan, device, batch, window, max(2, repeats // 2))
    mle_step = batch * length / mle["mle_events_per_s"]
    gan_step = batch * window / gan["gan_events_per_s"]
    mle_steps, gan_steps = recipe_steps(LOG)
    return {
        "recipe_batch": batch,
        "recipe_seq_len": length,
        "mle_step_s": mle_step,
        "gan_step_s": gan_step,
        "recipe_mle_steps": mle_steps,
        "recipe_gan_steps": gan_steps,
        "recipe_minutes_estimate": (mle_steps * mle_step + gan_steps * gan_step) / 60,
    }


def markdown(report: dict) -> str:
    r = report["results"]
    rows = [
        ("device", report["device_name"]),
        ("torch / CUDA / cuDNN", f"{report['torch']} / {report['cuda']} / {report['cudnn']}"),
        ("command", report["command"]),
        (
            f"sampling, batch {r['sample_batch']}, {r['sample_bars']} bars ({r['sample_model']} model), "
            "events/s (goal >= 1M on a GPU)",
            f"{r['sample_events_per_s']:,.0f}",
        ),
        ("GAN step / teacher-forced MLE step, same windows (goal <= 3x)", f"{r['gan_over_teacher']:.2f}x"),
        ("GAN step / plain PyTorch GAN loop", f"{r['gan_over_plain_gan']:.2f}x"),
        (
            "bf16 vs fp32 MLE loss, relative difference (goal <= 1 %)",
            f"{100 * r['bf16_loss_rel']:.3f} % ({r['fp32_loss']:.4f} vs {r['bf16_loss']:.4f})",
        ),
        ("bf16 vs fp32 gradient cosine (goal >= 0.95)", f"{r['bf16_grad_cos']:.4f}"),
        (
            f"recipe wall time estimate ({r['recipe_mle_steps']} MLE + {r['recipe_gan_steps']} GAN steps; "
            f"{r['mle_step_s'] * 1e3:.1f} / {r['gan_step_s'] * 1e3:.1f} ms a step)",
            f"{r['recipe_minutes_estimate']:.1f} min",
        ),
        ("benchmark wall time", f"{report['seconds']:.0f} s"),
    ]
    lines = ["| measure | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]
    if report["quick"]:
        lines.append("\n--quick: reduced sizes and the tiny preset; a smoke test, not figures to record.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes and the tiny preset: a smoke test")
    parser.add_argument("--config", default=None, help="preset or TOML (default: the shipped recipe)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run with --device cpu --quick for a smoke test")
    if device.type == "cpu":
        torch.set_num_threads(min(2, torch.get_num_threads()))
    config = args.config or ("tiny" if args.quick else None)
    repeats = 1 if args.quick else args.repeats
    started = time.perf_counter()
    results: dict[str, float | str] = {}
    results.update(bench_sampling(device, 64 if args.quick else 4096, 4 if args.quick else 16))
    results.update(bench_steps(device, config, 8 if args.quick else 64, repeats))
    results.update(bench_bf16(device, config, 4 if args.quick else 64, 32 if args.quick else 128))
    results.update(bench_recipe(device, config, repeats, 0.125 if args.quick else 1.0))
    report = {
        "device_name": (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"CPU {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
        ),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else "none",
        "command": "python " + " ".join(sys.argv),
        "quick": args.quick,
        "goals": GOALS,
        "results": results,
        "seconds": time.perf_counter() - started,
    }
    text = markdown(report)
    print(json.dumps(report, indent=2, default=str))
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        data = json.dumps(report, indent=2, default=str) + "\n"
        write_atomic(args.out / "gpu_results.json", lambda: data.encode())
        write_atomic(args.out / "gpu_results.md", lambda: (text + "\n").encode())


if __name__ == "__main__":
    main()
