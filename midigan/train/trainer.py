"""`train`: MLE warm start, then adversarial fine-tuning, with checkpoints you can resume.

The run folder (:mod:`midigan.train.run_folder`) holds ``config.toml`` (the resolved
configuration), ``run.json`` (the seed), ``train_log.jsonl`` (one JSON object per log
interval and per validation), ``mle/`` (the teacher-forced model: the baseline) and
``gan/`` (after adversarial fine-tuning). Each checkpoint carries the optimizer and
RNG states, so ``--resume`` continues a killed run exactly where its last checkpoint
left it: a run of 2k steps and a run of k steps resumed for k more end with
identical parameters. Everything a resume reads is checked before a step is taken.

The inner loop never waits on the device: losses accumulate in device tensors
and are read (one host sync) every `log_every` steps, where non-finite or
exploding values stop the run with :class:`~midigan.errors.TrainingError` before
any checkpoint could be overwritten with bad weights.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from midigan.errors import CheckpointError, TrainingError
from midigan.io.atomic import write_atomic
from midigan.model.checkpoint import (
    MODEL_FILE,
    build_generator,
    checkpoint_files,
    model_config_for,
    write_folder,
)
from midigan.model.conditioning import Timeline
from midigan.model.discriminator import Discriminator
from midigan.model.unroll import unroll
from midigan.train import distributed as dist_util
from midigan.train.batch import Batch
from midigan.train.config import RUN_CONFIG_FILE, RUN_FILE, TrainOptions, run_record
from midigan.train.data_report import DATA_LOG_FILE, data_record, file_rows, report_on_screen
from midigan.train.dataset import (
    RunData,
    TokenizedCorpus,
    Window,
    chordless_rows,
    collate,
    epoch_batches,
    load_corpus,
)
from midigan.train.gan import (
    GeneratorObjective,
    critic_module,
    discriminator_loss,
    generator_loss,
    judge,
    real_window,
    set_requires_grad,
)
from midigan.train.harmony import harmony_phase
from midigan.train.meter import LossMeter
from midigan.train.run_folder import LOG_FILE, PHASES, Position, clear_previous_run, read_resume_state
from midigan.train.runtime import autocast_for, resolve_device
from midigan.train.schedule import planned_schedule
from midigan.train.state import optimizer_to_flat, restore_optimizer, restore_rng, rng_tensors
from midigan.train.validate import real_and_generated_stats, validation_nll

log = logging.getLogger(__name__)

_GAN_EPOCH_SALT = 1_000_003  # GAN epochs draw their batch order apart from MLE epochs


class _Stopped(Exception):
    """Raised internally by `stop_at_step` to end a run as a kill would."""


class Trainer:
    """Holds the models, data and state of one run; :meth:`run` trains both phases."""

    def __init__(self, options: TrainOptions) -> None:
        self.options = options
        self.config = options.config
        if self.config.train.num_threads > 0:
            torch.set_num_threads(self.config.train.num_threads)
        self.info, self.device = dist_util.setup_distributed(resolve_device(options.device))
        self.autocast, self.precision = autocast_for(self.device, self.config.train.precision)
        self.out = Path(options.out)
        torch.manual_seed(options.seed + self.info.rank)
        self.corpus = self._load_corpus()
        vocab = self.corpus.vocab
        self.model_config = model_config_for(self.config.model, vocab)
        torch.manual_seed(options.seed)  # identical initial weights on every rank
        self.generator = build_generator(self.model_config, vocab).to(self.device)
        self.critic = Discriminator(self.config.discriminator, self.model_config).to(self.device)
        torch.manual_seed(options.seed + self.info.rank)
        self.g_train = dist_util.wrap_ddp(GeneratorObjective(self.generator), self.info, self.device)
        self.d_train = dist_util.wrap_ddp(self.critic, self.info, self.device)
        # Adversarial windows hold just the prefix and the unroll: the MLE anchor then
        # costs no more than the events the critic judges.
        gan_len = max(2, self.config.gan.prefix + self.config.gan.unroll)
        self.data = RunData.of(self.corpus, self.config.data, gan_len)
        self.schedule_notes = self._fit_schedule(self.data.train_events)
        self.position = Position()
        self.metrics: dict[str, Any] = {}
        self._resumed: dict[str, torch.optim.Optimizer] | None = None  # restored optimizers
        self._total = 1
        self._validated_at = -1
        self._saved_at = 0
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.harmony_files: dict[str, bytes] = {}  # harmony.safetensors + .json, saved in every checkpoint

    # ------------------------------------------------------------------ setup
    def _load_corpus(self) -> TokenizedCorpus:
        opts = self.options
        coverage = self.config.data.coverage
        if self.info.enabled and not self.info.is_main:
            dist_util.barrier(self.info)  # rank 0 tokenizes and caches first
            return load_corpus(opts.corpus, coverage, opts.cache_dir, split=opts.split)
        corpus = load_corpus(opts.corpus, coverage, opts.cache_dir, progress=opts.progress, split=opts.split)
        dist_util.barrier(self.info)
        return corpus

    def _fit_schedule(self, train_events: int) -> list[str]:
        """Fit the MLE schedule to the corpus where asked (:mod:`midigan.train.schedule`); the warnings.

        The batches an epoch are counted as one process would (the corpus's size, not the
        world's), so a DDP run of the shipped corpus keeps the preset's schedule too.
        """
        weights = sum(p.numel() for p in self.generator.parameters())
        per_epoch = len(
            epoch_batches(self.data.train_windows, self.config.data.batch_size, self.options.seed, 0)
        )
        self.config, notes = planned_schedule(self.config, per_epoch, self.options, weights, train_events)
        return notes

    def _report_data(self) -> None:
        """Say what the run trains on (:mod:`midigan.train.data_report`): log, run folder, screen."""
        if not self.info.is_main:
            return
        rows = file_rows(self.corpus.files, self.config.data.max_events)
        record = data_record(rows, self.data.used)
        self._log(record)
        text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
        write_atomic(self.out / DATA_LOG_FILE, lambda: text.encode())
        report_on_screen(record, rows, str(self.options.corpus), self.data.valid_total)
        for note in self.schedule_notes:
            log.warning("%s", note)

    def _log(self, record: dict[str, Any]) -> None:
        if not self.info.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / LOG_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    # ------------------------------------------------------------------ run
    def run(self) -> dict[str, Any]:
        """Train (or resume) both phases. Returns the final metrics and checkpoint folders.

        Raises:
            TrainingError: NaN or divergence (the last good checkpoint is kept).
            CheckpointError: --resume without a usable checkpoint.
        """
        resumed = self._resume() if self.options.resume else None  # checked before anything is written
        if self.info.is_main:
            if self.options.force and not self.options.resume:
                clear_previous_run(self.out)
            self.out.mkdir(parents=True, exist_ok=True)
            write_atomic(self.out / RUN_CONFIG_FILE, lambda: self.config.to_toml().encode())
            if not self.options.resume or not (self.out / RUN_FILE).exists():
                write_atomic(self.out / RUN_FILE, lambda: run_record(self.options.seed, self.options.split))
        self._log(
            {
                "event": "start",
                "resumed_from": resumed,
                "device": str(self.device),
                "precision": self.precision,
                "world": self.info.world,
                "seed": self.options.seed,
                "pieces": len(self.corpus),
                "train_windows": len(self.data.train_windows),
                "schedule": self.schedule_notes,
            }
        )
        self._report_data()
        if self.info.is_main:  # the chord model is small: rank 0 trains it alone, before the generator
            self.harmony_files = harmony_phase(self.corpus, self.config, self.options, self._log)
        try:
            if self.position.phase == "mle" and not self.position.phase_done:
                self._phase("mle")
            if self.config.gan.epochs > 0:
                if self.position.phase == "mle":
                    self.position = replace(
                        self.position, phase="gan", epoch=0, batch=0, phase_step=0, phase_done=False
                    )
                if not self.position.phase_done:
                    self._phase("gan")
        except _Stopped:
            pass
        finally:
            dist_util.teardown_distributed()
        folders = {p: str(self.out / p) for p in PHASES if (self.out / p / MODEL_FILE).exists()}
        return {"metrics": self.metrics, "checkpoints": folders, "step": self.position.step}

    def _phase(self, phase: str) -> None:
        cfg = self.config
        epochs = cfg.mle.epochs if phase == "mle" else cfg.gan.epochs
        per_epoch = len(self._batches(phase, 0))
        total = epochs * per_epoch
        if self.options.max_steps is not None:
            total = min(total, self.options.max_steps)
        self._total = total
        optimizers, self._resumed = self._resumed or self._optimizers(phase), None
        accum = LossMeter(self.device, self.info)
        pos = self.position
        bar = None
        if self.options.progress and self.info.is_main:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=min(pos.phase_step, total), desc=phase.upper(), unit="step")
        try:
            while pos.epoch < epochs and pos.phase_step < total:
                batches = self._batches(phase, pos.epoch)
                for index in range(pos.batch, len(batches)):
                    self._step(phase, batches[index], optimizers, accum, pos.phase_step / max(total, 1))
                    pos.batch, pos.phase_step, pos.step = index + 1, pos.phase_step + 1, pos.step + 1
                    if bar is not None:
                        bar.update(1)
                    if pos.step % cfg.train.log_every == 0 or pos.phase_step >= total:
                        self._flush(phase, accum, bar)
                    if pos.phase_step % cfg.train.checkpoint_every == 0 and pos.phase_step < total:
                        self._save(phase, optimizers, accum, bar)
                    if pos.phase_step >= total:
                        break
                    if self.options.stop_at_step is not None and pos.step >= self.options.stop_at_step:
                        raise _Stopped
                if pos.batch >= len(batches):
                    pos.epoch, pos.batch = pos.epoch + 1, 0
                    if pos.epoch % cfg.train.validate_every == 0:
                        self._validate(phase)
                    if pos.phase_step < total and pos.step - self._saved_at >= self._epoch_save_gap():
                        self._save(phase, optimizers, accum, bar)
            pos.phase_done = True
            if self._validated_at != pos.step:
                self._validate(phase)
            self._save(phase, optimizers, accum, bar)
        finally:
            if bar is not None:
                bar.close()

    def _epoch_save_gap(self) -> int:
        """Fewest steps between an epoch-end checkpoint and the previous one (tiny epochs
        would otherwise write a checkpoint every few steps)."""
        return min(self.config.train.checkpoint_every, 50)

    def _batches(self, phase: str, epoch: int) -> list[list[Window]]:
        salt = 0 if phase == "mle" else _GAN_EPOCH_SALT
        batches = epoch_batches(
            self.data.train_windows if phase == "mle" else self.data.gan_windows,
            self.config.data.batch_size,
            self.options.seed,
            epoch + salt,
            self.info.rank,
            self.info.world,
        )
        if phase == "gan" and self.config.gan.max_batches:
            batches = batches[: self.config.gan.max_batches]
        return batches

    def _optimizers(self, phase: str) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        if phase == "mle":
            return {
                "g": torch.optim.AdamW(
                    self.generator.parameters(), lr=cfg.mle.lr, weight_decay=cfg.mle.weight_decay
                )
            }
        betas = (0.5, 0.999)  # the usual GAN momentum: less inertia against a moving target
        return {
            "g": torch.optim.Adam(self.generator.parameters(), lr=cfg.gan.lr_g, betas=betas),
            "d": torch.optim.Adam(self.critic.parameters(), lr=cfg.gan.lr_d, betas=betas),
        }

    # ------------------------------------------------------------------ steps
    def _lr(self, base: float, phase_step: int, total: int) -> float:
        warm = self.config.mle.warmup_steps
        ramp = min(1.0, (phase_step + 1) / warm) if warm else 1.0
        progress = min(1.0, phase_step / max(total, 1))
        return base * ramp * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    def _step(
        self, phase: str, windows_: list[Window], optimizers: dict, accum: LossMeter, progress: float
    ) -> None:
        lags = self.model_config.lookback
        drop = chordless_rows(
            self.options.seed, self.position.step, len(windows_), self.config.harmony.chord_dropout
        )
        batch = collate(
            self.corpus, windows_, self.generator.bos, lags, history=phase != "mle", chordless=drop
        )
        batch = batch.to(self.device)
        if phase == "mle":
            self._mle_step(batch, optimizers["g"], accum)
        else:
            timeline = self.corpus.timeline(windows_, drop).to(self.device, non_blocking=True)
            self._gan_step(batch, timeline, optimizers, accum, progress)

    def _mle_step(self, batch: Batch, opt: torch.optim.Optimizer, accum: LossMeter) -> None:
        cfg = self.config.mle
        for group in opt.param_groups:
            group["lr"] = self._lr(cfg.lr, self.position.phase_step, self._total)
        with self.autocast:
            out = self.g_train(batch)
        self._apply(out.mle, opt, self.generator, cfg.grad_clip)
        accum.add({"loss": out.mle.detach()}, out.nll_parts.detach(), batch.mask.sum())

    def _gan_step(
        self, batch: Batch, timeline: Timeline, optimizers: dict, accum: LossMeter, progress: float
    ) -> None:
        cfg = self.config.gan
        tau = cfg.tau + (cfg.tau_final - cfg.tau) * progress
        noise = cfg.instance_noise * (1.0 - progress)
        sizes = (self.model_config.n_pitch, self.model_config.n_duration, self.model_config.n_velocity)
        with self.autocast:
            out = self.g_train(batch, timeline, cfg.prefix, cfg.unroll, tau)
        real = real_window(batch, sizes, cfg.prefix, cfg.unroll)
        assert out.generated is not None, "the objective unrolls when given a timeline"
        detached = out.generated.detach()
        for _ in range(cfg.d_steps):
            with self.autocast:
                real_logits, fake_logits, _, _ = judge(self.d_train, real, detached, batch, noise)
                d_loss = discriminator_loss(real_logits, fake_logits, cfg.label_smoothing)
            self._apply(d_loss, optimizers["d"], self.critic, cfg.grad_clip)
        set_requires_grad(self.critic, False)
        try:
            with self.autocast:
                _, fake_logits, real_feat, fake_feat = judge(
                    critic_module(self.d_train), real, out.generated, batch, noise
                )
                g_loss, parts = generator_loss(out, fake_logits, real_feat, fake_feat, cfg)
            self._apply(g_loss, optimizers["g"], self.generator, cfg.grad_clip)
        finally:
            set_requires_grad(self.critic, True)
        values = {
            "loss": g_loss.detach(),
            "d_loss": d_loss.detach(),
            **parts,
            "d_real": torch.sigmoid(real_logits.detach().float()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach().float()).mean(),
        }
        accum.add(values, out.nll_parts.detach(), batch.mask.sum())

    def _apply(
        self, loss: torch.Tensor, opt: torch.optim.Optimizer, module: torch.nn.Module, clip: float
    ) -> None:
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if clip > 0:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
        self.scaler.step(opt)
        self.scaler.update()

    # ------------------------------------------------------------------ bookkeeping
    def _flush(self, phase: str, accum: LossMeter, bar: Any) -> None:
        """Read the accumulated losses (the loop's one host sync) and stop on divergence."""
        record = accum.read()
        if record is None:
            return
        pos = self.position
        bad = [k for k, v in record.items() if not math.isfinite(v)]
        if bad or record.get("nll", 0.0) > self.config.train.max_loss:
            raise TrainingError(
                f"training diverged at step {pos.step} ({phase}: "
                f"{', '.join(f'{k}={record[k]:.4g}' for k in (bad or ['nll']))}); "
                f"{self._last_good(phase)}; lower the learning rate and run again with --resume"
            )
        record.update({"phase": phase, "step": pos.step, "epoch": pos.epoch, "time": time.time()})
        self._log(record)
        if bar is not None:
            bar.set_postfix(
                {k: f"{v:.3f}" for k, v in record.items() if k in ("loss", "nll", "d_loss", "fm")}
            )

    def _last_good(self, phase: str) -> str:
        folder = self.out / phase
        if (folder / MODEL_FILE).exists():
            return f"the last good checkpoint is {folder}"
        if (self.out / "mle" / MODEL_FILE).exists():
            return f"the last good checkpoint is {self.out / 'mle'}"
        return "no checkpoint had been written yet"

    def _validate(self, phase: str) -> None:
        self._validated_at = self.position.step
        if not self.info.is_main:
            return
        metrics: dict[str, Any] = {}
        metrics.update(
            validation_nll(self.generator, self.corpus, self.data.valid_batches, self.device, self.autocast)
        )
        count = self.config.train.val_samples
        metrics.update(
            real_and_generated_stats(self.generator, self.corpus, self.data.valid_pieces[:count], self.device)
        )
        if phase == "gan" and self.data.valid_batches:
            metrics["feature_distance"] = self._feature_distance()
        self.metrics = metrics
        self._log(
            {
                "event": "validation",
                "phase": phase,
                "epoch": self.position.epoch,
                "step": self.position.step,
                **metrics,
            }
        )

    @torch.no_grad()
    def _feature_distance(self) -> float:
        """||mean real features - mean generated features|| under the critic, on held-out windows."""
        cfg = self.config.gan
        windows_ = self.data.valid_batches[0]
        lags = self.model_config.lookback
        batch = collate(self.corpus, windows_, self.generator.bos, lags, history=True).to(self.device)
        timeline = self.corpus.timeline(windows_).to(self.device)
        state = torch.get_rng_state()
        self.generator.eval(), self.critic.eval()
        try:
            torch.manual_seed(0)
            fake = unroll(
                self.generator, batch, timeline, prefix=cfg.prefix, steps=cfg.unroll, tau=cfg.tau_final
            )
            sizes = (self.model_config.n_pitch, self.model_config.n_duration, self.model_config.n_velocity)
            real = real_window(batch, sizes, cfg.prefix, cfg.unroll)
            _, _, real_features, fake_features = judge(self.critic, real, fake, batch, 0.0)
        finally:
            torch.set_rng_state(state)
            self.generator.train(), self.critic.train()
        return float((real_features.mean(0) - fake_features.mean(0)).norm())

    def _save(self, phase: str, optimizers: dict, accum: LossMeter, bar: Any) -> None:
        """Checkpoint (rank 0 writes; every rank contributes its RNG state)."""
        self._flush(phase, accum, bar)
        finite = all(torch.isfinite(p).all() for p in self.generator.parameters())
        if not finite:
            raise TrainingError(
                f"generator weights became NaN at step {self.position.step}; "
                f"{self._last_good(phase)}; lower the learning rate"
            )
        cpu = dist_util.gather_rng(torch.get_rng_state(), self.info)
        cuda = None
        if self.device.type == "cuda":
            cuda = dist_util.gather_rng(torch.cuda.get_rng_state(self.device), self.info)
        self._saved_at = self.position.step
        if not self.info.is_main:
            return
        tensors = rng_tensors(cpu, cuda)
        opt_meta = {}
        for name, opt in optimizers.items():
            flat, meta = optimizer_to_flat(f"opt_{name}", opt)
            tensors.update(flat)
            opt_meta[name] = meta
        if phase == "gan":
            tensors.update({f"critic.{k}": v for k, v in self.critic.state_dict().items()})
        trainer_meta = {
            "position": asdict(self.position),
            "optimizers": opt_meta,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
        }
        meta = {
            "phase": phase,
            "step": self.position.step,
            "epoch": self.position.epoch,
            "seed": self.options.seed,
            "run": self.config.to_dict(),
            "corpus": {
                "fingerprint": self.corpus.fingerprint,
                "path": str(self.options.corpus),
                "pieces": len(self.corpus),
                "events": len(self.corpus.events),
                **({"split": self.options.split} if self.options.split else {}),
            },
            "metrics": self.metrics,
            "precision": self.precision,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        files = checkpoint_files(self.generator, self.corpus.vocab, meta, tensors, trainer_meta)
        files.update(self.harmony_files)  # both phases' folders compose with the same chord model
        write_folder(self.out / phase, files)

    # ------------------------------------------------------------------ resume
    def _resume(self) -> str:
        """Load the latest checkpoint of the run folder; returns its folder name.

        Every part of the training state is read, checked and restored here, before a
        step is taken or a file written, so a damaged checkpoint costs one line.

        Raises:
            CheckpointError: nothing to resume, a damaged checkpoint, or one from
                another corpus, seed or model.
        """
        state = read_resume_state(self.out)
        folder = state.folder
        corpus = state.config.get("corpus")
        if not isinstance(corpus, dict) or corpus.get("fingerprint") != self.corpus.fingerprint:
            raise CheckpointError(
                f"{folder}: trained on another corpus (fingerprint differs); resume with the same --corpus"
            )
        seed = state.config.get("seed", self.options.seed)
        if seed != self.options.seed:
            raise CheckpointError(f"{folder}: the run was seeded {seed!r}; resume it with --seed {seed!r}")
        try:
            self.generator.load_state_dict(state.weights)
            if state.phase == "gan":
                critic = {k[7:]: v for k, v in state.tensors.items() if k.startswith("critic.")}
                self.critic.load_state_dict(critic)
        except RuntimeError as e:
            raise CheckpointError(
                f"{folder}: weights do not fit this config ({e}); resume with the run's config"
            ) from e
        self.position = state.position
        self._saved_at = self.position.step
        metrics = state.config.get("metrics", {})
        self.metrics = metrics if isinstance(metrics, dict) else {}
        try:
            if not restore_rng(state.tensors, self.info.rank, self.device):
                torch.manual_seed(self.options.seed + self.info.rank + self.position.step)
            if state.scaler and self.scaler.is_enabled():
                self.scaler.load_state_dict(state.scaler)
            if not self.position.phase_done:
                self._resumed = self._optimizers(state.phase)
                for name, opt in self._resumed.items():
                    restore_optimizer(f"opt_{name}", opt, state.tensors, state.optimizers[name])
        except (ValueError, KeyError, TypeError, RuntimeError) as e:
            raise CheckpointError(f"{folder}: training state does not fit this run ({e})") from e
        self._log({"event": "resume", "from": str(folder), "step": self.position.step})
        return str(folder)


def train(options: TrainOptions) -> dict[str, Any]:
    """Train a model on a corpus (see the module docstring).

    Raises:
        ConfigError: bad corpus, config or device.
        TrainingError: NaN or divergence.
        CheckpointError: --resume without a usable checkpoint.
    """
    np.seterr(all="ignore")
    return Trainer(options).run()
