"""`midigan corpus dynamics` and `midigan train-dynamics`: the velocity model's corpus and training."""

from __future__ import annotations

import json

import click

from midigan.cli import run_guarded

CORPUS_EXAMPLES = """Examples:

\b
  midigan corpus dynamics --out corpora/dynamics --jobs 2          # music21 scores + Debian MIDI
  midigan corpus dynamics --out corpora/dynamics --sources music21 # no .deb downloads
  midigan corpus dynamics --out corpora/dynamics --debs ~/debs     # .deb files you fetched
"""

TRAIN_EXAMPLES = """Examples:

\b
  midigan train-dynamics --corpus corpora/dynamics --out runs/dynamics
  midigan train-dynamics --corpus my_midi/ --out runs/my-dynamics --steps 500
"""


@click.command("dynamics", epilog=CORPUS_EXAMPLES)
@click.option(
    "--out", default="corpora/dynamics", show_default=True, type=click.Path(file_okay=False),
    help="Folder for <source>/<id>.mid, manifest.jsonl and build_report.json.",
)  # fmt: skip
@click.option("--sources", default=None, metavar="NAMES", help="music21,debian,freedoom (default: all).")
@click.option(
    "--debs", default=None, type=click.Path(file_okay=False),
    help="Folder with the Debian packages' .deb files; missing ones are fetched with "
    "`apt-get download` [default: OUT/debs].",
)  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N files per source.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option(
    "--train-parts/--top-parts-only", default=True, show_default=True,
    help="Train-split scores give their inner parts too (second violin, viola...); held-out pieces "
    "are top parts either way.",
)  # fmt: skip
def corpus_dynamics(
    out: str, sources: str | None, debs: str | None, limit: int | None, jobs: int, train_parts: bool
) -> None:
    """Build the dynamics corpus: melodies with real velocities, for the velocity model."""
    from midigan.corpus.dynamics import build_dynamics_corpus

    names = [s.strip() for s in sources.split(",") if s.strip()] if sources else None
    report = run_guarded(build_dynamics_corpus, out, sources=names, deb_folder=debs, limit=limit, jobs=jobs,
                         train_parts=train_parts)  # fmt: skip
    click.echo(f"built {report['pieces']} pieces in {report['seconds']} s -> {out}")
    for name, info in report["sources"].items():
        click.echo(f"  {name:<8} built {info['built']:>4} of {info['files']:>4}  notes {info['notes']:>6}  "
                   f"inner parts {info['inner_parts']:>4}")  # fmt: skip
        for reason, count in info["skipped"].items():
            click.echo(f"      {count:>4}  {reason}")


@click.command("train-dynamics", epilog=TRAIN_EXAMPLES)
@click.option(
    "--corpus", default="corpora/dynamics", show_default=True, type=click.Path(exists=True, file_okay=False),
    help="A dynamics corpus (midigan corpus dynamics) or any folder of MIDI files with varying velocities.",
)  # fmt: skip
@click.option("--out", required=True, type=click.Path(file_okay=False), help="The velocity-model folder.")
@click.option("--steps", type=click.IntRange(min=1), default=700, show_default=True, help="Optimizer steps.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True, help="Windows per step.")
@click.option("--hidden", type=click.IntRange(min=4, max=1024), default=48, show_default=True)
@click.option("--dropout", type=click.FloatRange(min=0, max=0.9), default=0.3, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=3e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--temperature", type=click.FloatRange(min=0.1, max=4.0), default=1.15, show_default=True,
    help="Sampling temperature saved with the model (1.15: the best two-sample score on the corpus's "
    "valid split, against 1.0 and 1.3).",
)  # fmt: skip
@click.option(
    "--split", default=None, metavar="SHARES",
    help="Shares for a plain folder, e.g. train=0.8,valid=0.1,test=0.1 [default: by a hash of each name].",
)  # fmt: skip
@click.option(
    "--threads", type=click.IntRange(min=1), default=1, show_default=True,
    help="CPU threads (one is fastest for these small LSTMs on a shared machine).",
)  # fmt: skip
@click.option("--quiet", is_flag=True, help="No progress lines.")
def train_dynamics(
    corpus: str, out: str, steps: int, batch: int, hidden: int, dropout: float, lr: float, seed: int,
    temperature: float, split: str | None, threads: int, quiet: bool,
) -> None:  # fmt: skip
    """Train the velocity model that gives composed melodies their dynamics.

    Copy the folder OUT into a checkpoint folder as `dynamics/` (beside its model.safetensors)
    and `midigan compose --model` that checkpoint plays it.
    """
    import torch

    from midigan.model.dynamics import DynamicsConfig
    from midigan.train.dynamics import DynamicsTraining
    from midigan.train.dynamics import train_dynamics as run

    torch.set_num_threads(threads)

    def show(row: dict) -> None:
        if not quiet:
            click.echo(json.dumps(row), err=True)

    summary = run_guarded(
        run, corpus, out, config=DynamicsConfig(hidden=hidden, dropout=dropout),
        training=DynamicsTraining(steps=steps, batch=batch, lr=lr, seed=seed), split=split,
        temperature=temperature, progress=show,
    )  # fmt: skip
    metrics = summary["metrics"]
    click.echo(f"{out}: best validation NLL {metrics['best_nll']:.4f} nats/note "
               f"({metrics['train_notes']} training notes)")  # fmt: skip


EVALUATE_EXAMPLES = """Examples:

\b
  midigan evaluate-dynamics --corpus corpora/dynamics --model runs/dynamics
  midigan evaluate-dynamics --model runs/dynamics --generator runs/x/gan --pieces 50 --json
"""


@click.command("evaluate-dynamics", epilog=EVALUATE_EXAMPLES)
@click.option(
    "--corpus", default="corpora/dynamics", show_default=True, type=click.Path(exists=True, file_okay=False),
    help="The dynamics corpus whose held-out pieces the model plays.",
)  # fmt: skip
@click.option(
    "--model", "model_path", required=True, type=click.Path(exists=True, file_okay=False),
    help="A velocity-model folder (train-dynamics --out, or a checkpoint's dynamics/).",
)  # fmt: skip
@click.option("--split", type=click.Choice(["test", "valid"]), default="test", show_default=True)
@click.option(
    "--generator", default=None, metavar="PATH",
    help="Also compose --pieces default 16-bar pieces with this generator checkpoint and the velocity "
    "model, and report their velocity statistics.",
)  # fmt: skip
@click.option("--pieces", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The whole report as JSON.")
def evaluate_dynamics(
    corpus: str, model_path: str, split: str, generator: str | None, pieces: int, seed: int, as_json: bool
) -> None:
    """Velocity features of the velocity model's playing against held-out real dynamics."""
    from dataclasses import replace

    import torch

    from midigan.evaluate.dynamics import compose_statistics
    from midigan.evaluate.dynamics import evaluate_dynamics as run
    from midigan.model.dynamics import load_dynamics

    torch.set_num_threads(1)
    model = run_guarded(load_dynamics, model_path)
    report = run_guarded(run, corpus, model, split=split, seed=seed)
    if generator is not None:
        from midigan.composer import compose, load_model

        bundle = replace(run_guarded(load_model, generator), dynamics=model)
        made = run_guarded(compose, bars=16, seed=seed, n=pieces, model=bundle)
        report["compose"] = compose_statistics(made if isinstance(made, list) else [made])
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['pieces']} {split} pieces, {report['excerpts']} excerpts; real mean velocity "
               f"{report['real']['mean_velocity']:.1f}, spread {report['real']['spread']:.1f}")  # fmt: skip
    for row in ("model", "template"):
        r = report[row]
        areas = " ".join(f"{k} {v:.2f}" for k, v in r["oa"].items())
        tests = " ".join(f"{k} {v['accuracy']:.2f}" for k, v in r["two_sample"].items())
        click.echo(f"{row:<9} mean OA {r['mean_oa']:.3f} ({areas}); two-sample {tests}")
    if "compose" in report:
        c = report["compose"]
        click.echo(f"compose: {c['distinct_velocities']} distinct melody velocities, {c['pieces']} pieces; "
                   f"bar-mean range {c['bar_mean_range']:.1f} (min {c['bar_mean_range_min']:.1f}, "
                   f"{100 * c['bar_mean_range_share']:.0f}% of pieces >= 10), "
                   f"metrical position explains {100 * c['metric_share']:.0f}% of the variance")  # fmt: skip
