"""The training loop: gradient accumulation, a budget in epochs (learning rate per epoch) or in
optimizer steps (learning rate per step), mixed precision on GPU, atomic checkpoints with everything
needed to resume bit for bit, skipped batches without a gradient, logging, validation.

The model contract: in training mode ``model(batch)`` returns a dict of named scalar loss tensors
whose ``"loss"`` entry is the optimised total (the weighted sum of the others, as the official
``parse_losses``); every entry is logged. A total that does not require a gradient means the batch
had nothing to learn from; it is skipped and counted.
"""
import dataclasses
import logging
import math
import os
import time
from typing import Any, Callable, Dict, Literal, Mapping, Optional

import torch

from sphmask.config_schema import Fraction, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from sphmask.engine import dist
from sphmask.engine.run_state import rng_state, set_rng_state
from sphmask.engine.schedule import build_optimizer, constant_then_cosine, scaled_lr
from sphmask.checkpoint import CheckpointError, check_finite, save_checkpoint


@dataclasses.dataclass
class TrainSettings:
    """The ``train:`` section of a config (official ScanNetV2 values in configs/scannetv2).

    Attributes:
        epochs: number of epochs (the budget unless ``max_steps`` is set).
        step_epoch: epochs at constant learning rate before the cosine decay (official
            ``cosine_lr_after_step``).
        lr: base learning rate before scaling; ``scale_lr`` multiplies it by batch x world / 16.
        grad_accum: iterations whose gradients are summed (each loss divided by it) per optimizer step;
            a partial group at the end of an epoch is stepped too.
        fp16: autocast to half precision on CUDA with a GradScaler (ignored on CPU).
        validate_every / save_every: in epochs; 0 disables validation.
        keep_epoch_checkpoints: also keep ``epoch_<e>.pth`` beside ``latest.pth``.
        log_interval: iterations between log lines.
        max_steps: a budget in optimizer steps instead of epochs: training stops after this many
            steps (mid-epoch if need be) and the learning rate follows the step count, constant for
            ``constant_steps`` steps then cosine to ``min_lr`` at ``max_steps``; ``epochs`` and
            ``step_epoch`` are then unused. A recipe in steps keeps its meaning when the data set or
            the batch size changes.
        max_skip_fraction: share of iterations that may be skipped (batches without object voxels
            for the instance branch) before the end of training warns that the run learned little.
    """

    epochs: PositiveInt = 300
    step_epoch: NonNegativeInt = 50
    lr: PositiveFloat = 0.001
    min_lr: NonNegativeFloat = 1e-6
    scale_lr: bool = True
    optimizer: Literal["AdamW", "Adam", "SGD"] = "AdamW"
    weight_decay: NonNegativeFloat = 1e-4
    grad_accum: PositiveInt = 1
    fp16: bool = False
    validate_every: NonNegativeInt = 1
    save_every: NonNegativeInt = 1
    keep_epoch_checkpoints: bool = False
    log_interval: PositiveInt = 10
    max_steps: Optional[PositiveInt] = None
    constant_steps: NonNegativeInt = 0
    max_skip_fraction: Fraction = 0.1


class Trainer:
    """Runs epochs (or ``max_steps`` optimizer steps) over ``train_loader`` and keeps
    ``work_dir/latest.pth`` and ``best.pth``.

    A batch whose total loss carries no gradient (the model found nothing to learn from, e.g. no
    object voxels for the instance branch on a frozen backbone) is skipped: no backward, no
    optimizer step, counted and logged; under DDP every process skips it together.

    Args:
        model: the module to train (already on ``device``, possibly wrapped in DDP).
        train_loader: yields batches (dicts); its sampler may have ``set_epoch``.
        settings: :class:`TrainSettings`.
        work_dir: where checkpoints, ``train.log`` and TensorBoard events go.
        device: the process's device.
        batch_size: per-process batch size (for learning-rate scaling).
        config: the resolved config, stored in every checkpoint's ``meta``.
        validate: ``validate(model, epoch) -> {"ap": ..., ...}`` or ``None``; ``best.pth`` follows
            ``best_metric`` of its result.
        to_device: moves a batch to ``device`` (default: every tensor value of the dict).
        best_metric: the validation metric (higher is better) that ``best.pth`` follows.
        progress: a :class:`sphmask.cli.Progress` told about every checkpoint written (what an
            interrupted run reports).
    """

    def __init__(self, model: torch.nn.Module, train_loader, settings: TrainSettings, work_dir: str,
                 device: torch.device, batch_size: int, config: Optional[dict] = None,
                 validate: Optional[Callable[[torch.nn.Module, int], Dict[str, float]]] = None,
                 to_device: Optional[Callable[[Any, torch.device], Any]] = None,
                 logger: Optional[logging.Logger] = None, tensorboard=None, best_metric: str = "ap",
                 progress=None):
        self.model = model
        self.loader = train_loader
        self.s = settings
        self.work_dir = work_dir
        self.device = device
        self.config = config or {}
        self.validate = validate
        self.to_device = to_device or move_to_device
        self.log = logger or logging.getLogger("sphmask.train")
        self.tb = tensorboard
        self.best_metric = best_metric
        self.progress = progress
        self.batch_size = batch_size
        if settings.grad_accum < 1:
            raise ValueError(f"train.grad_accum must be >= 1, got {settings.grad_accum}")
        self.base_lr = (scaled_lr(settings.lr, batch_size, dist.world_size()) if settings.scale_lr
                        else settings.lr)
        self.optimizer = build_optimizer(model.parameters(), settings.optimizer, self.base_lr,
                                         settings.weight_decay)
        self.use_amp = settings.fp16 and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.epoch = 0  # epochs completed (in a step budget, a last partial epoch counts)
        self.global_iter = 0  # batches drawn, skipped ones included
        self.global_step = 0  # optimizer steps
        self.samples = 0  # scenes seen by this process
        self.skipped = 0  # batches skipped by this process (loss without gradient)
        self.train_seconds = 0.0
        self.best_ap = -math.inf
        self.history = []  # per-iteration total losses of this process (for tests and logs)

    def _raw_model(self) -> torch.nn.Module:
        return self.model.module if hasattr(self.model, "module") else self.model

    @property
    def by_steps(self) -> bool:
        return self.s.max_steps is not None

    def done(self) -> bool:
        return self.global_step >= self.s.max_steps if self.by_steps else self.epoch >= self.s.epochs

    # ---------------------------------------------------------------- checkpoints
    def save(self, name: str) -> str:
        """Write ``work_dir/name``: the sphmask checkpoint plus everything :meth:`resume` needs."""
        path = os.path.join(self.work_dir, name)
        if dist.is_main():
            save_checkpoint(path, self.model, self.epoch, self.optimizer, self.config,
                            scaler=self.scaler.state_dict(), iter=self.global_iter, best_ap=self.best_ap,
                            rng=rng_state(), step=self.global_step, samples=self.samples, skipped=self.skipped,
                            train_seconds=self.train_seconds,
                            scheduler={"base_lr": self.base_lr, "step_epoch": self.s.step_epoch,
                                       "epochs": self.s.epochs, "max_steps": self.s.max_steps,
                                       "constant_steps": self.s.constant_steps})
        if self.progress is not None and name == "latest.pth":
            self.progress.set(f"{path} holds epoch {self.epoch} (step {self.global_step}); continue with --resume")
        return path

    def resume(self, path: str) -> None:
        """Continue from a checkpoint written by :meth:`save` (model, optimizer, epoch, RNG states).

        Raises:
            CheckpointError: a missing, unreadable (truncated, not weights-only-safe) or
                weights-only file, or one that does not fit this model and optimizer.
        """
        if not os.path.isfile(path):
            raise CheckpointError(f"--resume: no checkpoint at {path}")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types (zip, pickle, unpickling policy)
            raise CheckpointError(f"cannot resume from {path}: not a readable weights-only checkpoint "
                                  f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        missing = [k for k in ("net", "optimizer", "epoch", "rng") if not isinstance(ckpt, dict) or k not in ckpt]
        if missing:
            raise CheckpointError(f"{path} cannot be resumed from: it lacks {missing} (a weights-only checkpoint "
                                  f"can be used as a pretrained model instead: pretrain: {path})")
        if isinstance(ckpt["net"], Mapping):
            check_finite({k: v for k, v in ckpt["net"].items() if isinstance(v, torch.Tensor)})
        try:
            self._raw_model().load_state_dict(ckpt["net"], strict=True)
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if "scaler" in ckpt:
                self.scaler.load_state_dict(ckpt["scaler"])
            set_rng_state(ckpt["rng"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"cannot resume from {path}: it does not fit this config's model and optimizer "
                                  f"({first})") from None
        self.epoch = int(ckpt["epoch"])
        self.global_iter = int(ckpt.get("iter", 0))
        self.global_step = int(ckpt.get("step", 0))
        self.samples = int(ckpt.get("samples", 0))
        self.skipped = int(ckpt.get("skipped", 0))
        self.train_seconds = float(ckpt.get("train_seconds", 0.0))
        self.best_ap = float(ckpt.get("best_ap", -math.inf))
        self.log.info("resumed from %s at epoch %d (step %d)", path, self.epoch, self.global_step)

    # ---------------------------------------------------------------- training
    def lr_at(self, epoch: int) -> float:
        return constant_then_cosine(self.base_lr, epoch, self.s.step_epoch, self.s.epochs, self.s.min_lr)

    def lr_at_step(self, step: int) -> float:
        return constant_then_cosine(self.base_lr, step, self.s.constant_steps, self.s.max_steps, self.s.min_lr)

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _skip(self, total: torch.Tensor) -> bool:
        """Whether to skip this batch: its loss has no gradient here (or, under DDP, on any process)."""
        skip = not total.requires_grad
        if dist.world_size() > 1:
            skip = dist.all_reduce_mean(float(skip), self.device) > 0
        return skip

    def train_epoch(self) -> Dict[str, float]:
        """One pass over the loader (epoch index ``self.epoch``; in a step budget it ends early once
        ``max_steps`` is reached); returns mean named losses of the batches trained on."""
        model, s = self.model, self.s
        model.train()
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        dataset = getattr(self.loader, "dataset", None)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.epoch)
        lr = self.lr_at_step(self.global_step) if self.by_steps else self.lr_at(self.epoch)
        self._set_lr(lr)
        sums: Dict[str, float] = {}
        n_iter = len(self.loader)
        pending = trained = 0
        progress = _progress(n_iter, f"epoch {self.epoch + 1}" + ("" if self.by_steps else f"/{s.epochs}"))
        start = time.time()
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(self.loader):
            if self.by_steps and self.global_step >= s.max_steps:
                break
            batch = self.to_device(batch, self.device)
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.use_amp):
                losses = model(batch)
            if "loss" not in losses:
                raise KeyError(f"the model's training output must hold the total under 'loss', got keys "
                               f"{sorted(losses)}")
            total = losses["loss"]
            if not torch.isfinite(total):
                raise FloatingPointError(f"non-finite loss at epoch {self.epoch + 1} iteration {i + 1}: "
                                         f"{ {k: float(v.detach()) for k, v in losses.items()} }")
            if self._skip(total):
                self.skipped += 1
                self.log.info("epoch %d iter %d/%d skipped: no loss with a gradient (no object voxels for the "
                              "instance branch); %d skipped so far", self.epoch + 1, i + 1, n_iter, self.skipped)
            else:
                self.scaler.scale(total / s.grad_accum).backward()
                pending += 1
                trained += 1
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
            if pending and (pending == s.grad_accum or i + 1 == n_iter):
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
                pending = 0
                self.global_step += 1
                if self.by_steps and not self.done():
                    lr = self.lr_at_step(self.global_step)
                    self._set_lr(lr)
            self.global_iter += 1
            self.samples += int(batch["batch_size"]) if isinstance(batch, dict) and "batch_size" in batch \
                else self.batch_size
            value = float(total.detach())
            self.history.append(value)
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}")
            if dist.is_main() and (i + 1) % s.log_interval == 0:
                self._log_iteration(i, n_iter, lr, value, time.time() - start)
                if self.tb is not None:
                    for k, v in losses.items():
                        self.tb.add_scalar(f"train/{k}", float(v.detach()), self.global_iter)
                    self.tb.add_scalar("train/lr", lr, self.global_iter)
        if progress is not None:
            progress.close()
        self.train_seconds += time.time() - start
        return {k: dist.all_reduce_mean(v / max(trained, 1), self.device) for k, v in sums.items()}

    def _log_iteration(self, i: int, n_iter: int, lr: float, value: float, elapsed: float) -> None:
        s = self.s
        if self.by_steps:
            done = self.global_step
            eta = elapsed / max(i + 1, 1) * s.grad_accum * (s.max_steps - done)
            self.log.info("step %d/%d epoch %d iter %d/%d lr %.3e loss %.4f eta %s", done, s.max_steps,
                          self.epoch + 1, i + 1, n_iter, lr, value, _hms(eta))
            return
        done = self.epoch * n_iter + i + 1
        eta = elapsed / (i + 1) * (s.epochs * n_iter - done)
        self.log.info("epoch %d/%d iter %d/%d lr %.3e loss %.4f eta %s", self.epoch + 1, s.epochs,
                      i + 1, n_iter, lr, value, _hms(eta))

    def fit(self) -> None:
        """Train until the budget (``epochs``, or ``max_steps``) is spent, with checkpoints and validation;
        then log steps, samples seen, time and skipped batches."""
        s = self.s
        if self.by_steps:
            self.log.info("training budget: %d optimizer steps (train.max_steps; constant lr for %d, then cosine); "
                          "train.epochs is not used", s.max_steps, s.constant_steps)
        while not self.done():
            step_before = self.global_step
            means = self.train_epoch()
            self.epoch += 1
            stalled = self.by_steps and self.global_step == step_before
            if dist.is_main():
                total = f"/{s.epochs}" if not self.by_steps else ""
                self.log.info("epoch %d%s done (step %d): %s", self.epoch, total, self.global_step,
                              ", ".join(f"{k} {v:.4f}" for k, v in sorted(means.items())))
                if self.tb is not None:
                    for k, v in means.items():
                        self.tb.add_scalar(f"epoch/{k}", v, self.epoch)
            last = self.done() or stalled
            if s.save_every and (self.epoch % s.save_every == 0 or last):
                self.save("latest.pth")
                if s.keep_epoch_checkpoints:
                    self.save(f"epoch_{self.epoch}.pth")
            if self.validate is not None and s.validate_every and (self.epoch % s.validate_every == 0 or last):
                self._validate()
            dist.barrier()
            if stalled:
                self.log.warning("epoch %d made no optimizer step (every batch was skipped): stopping at step %d "
                                 "of %d", self.epoch, self.global_step, s.max_steps)
                break
        self.report()

    def _validate(self) -> None:
        metrics = self.validate(self._raw_model(), self.epoch)
        if dist.is_main() and metrics:
            self.log.info("validation after epoch %d: %s", self.epoch,
                          ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
            if self.tb is not None:
                for k, v in metrics.items():
                    self.tb.add_scalar(f"val/{k}", v, self.epoch)
            score = metrics.get(self.best_metric)
            if score is not None and score > self.best_ap:
                self.best_ap = score
                self.save("best.pth")

    def report(self) -> None:
        """Log what the run did: steps, iterations, samples seen (all processes), time, skipped batches."""
        world = dist.world_size()
        samples = round(dist.all_reduce_mean(float(self.samples), self.device) * world)
        skipped = round(dist.all_reduce_mean(float(self.skipped), self.device) * world)
        iters = round(dist.all_reduce_mean(float(self.global_iter), self.device) * world)
        if not dist.is_main():
            return
        self.log.info("trained %d optimizer steps over %d epoch(s): %d iterations, %d samples seen, %d skipped, "
                      "%s of training", self.global_step, self.epoch, self.global_iter, samples,
                      self.skipped, _hms(self.train_seconds))
        share = skipped / max(iters, 1)
        if share > self.s.max_skip_fraction:
            self.log.warning("%.0f%% of the batches (%d of %d) were skipped for lack of object voxels, more than "
                             "train.max_skip_fraction (%.0f%%): the instance branch learned from few batches; "
                             "train the backbone longer (stage 1) or lower model.filter_bg_thresh",
                             100 * share, skipped, iters, 100 * self.s.max_skip_fraction)


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) dict/list batch to ``device``; other values are kept."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


def _progress(total: int, desc: str):
    if not dist.is_main():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, dynamic_ncols=True, leave=False, disable=None)


def _hms(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
