"""The training loop: gradient accumulation, per-epoch learning rate, mixed precision on GPU,
atomic checkpoints with everything needed to resume bit for bit, logging, validation.

The model contract: in training mode ``model(batch)`` returns a dict of named scalar loss tensors
whose ``"loss"`` entry is the optimised total (the weighted sum of the others, as the official
``parse_losses``); every entry is logged.
"""
import dataclasses
import logging
import math
import os
import random
import time
from typing import Any, Callable, Dict, Literal, Optional

import numpy as np
import torch

from sphmask.config_schema import Fraction, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from sphmask.engine import dist
from sphmask.engine.schedule import build_optimizer, constant_then_cosine, scaled_lr
from sphmask.checkpoint import save_checkpoint


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


def rng_state() -> Dict[str, Any]:
    """Every global random state a training step may draw from (restored on resume)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    # Tensors and plain Python values only, so the checkpoint loads with weights_only=True.
    state = {"torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached": float(cached)},
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (each rank passes ``seed + rank``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Runs epochs over ``train_loader`` and keeps ``work_dir/latest.pth`` and ``best.pth``.

    Args:
        model: the module to train (already on ``device``, possibly wrapped in DDP).
        train_loader: yields batches (dicts); its sampler may have ``set_epoch``.
        settings: :class:`TrainSettings`.
        work_dir: where checkpoints, ``train.log`` and TensorBoard events go.
        device: the process's device.
        batch_size: per-process batch size (for learning-rate scaling).
        config: the resolved config, stored in every checkpoint's ``meta``.
        validate: ``validate(model, epoch) -> {"ap": ..., ...}`` or ``None``; ``best.pth`` follows ``"ap"``.
        to_device: moves a batch to ``device`` (default: every tensor value of the dict).
    """

    def __init__(self, model: torch.nn.Module, train_loader, settings: TrainSettings, work_dir: str,
                 device: torch.device, batch_size: int, config: Optional[dict] = None,
                 validate: Optional[Callable[[torch.nn.Module, int], Dict[str, float]]] = None,
                 to_device: Optional[Callable[[Any, torch.device], Any]] = None,
                 logger: Optional[logging.Logger] = None, tensorboard=None):
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
        if settings.grad_accum < 1:
            raise ValueError(f"train.grad_accum must be >= 1, got {settings.grad_accum}")
        self.base_lr = (scaled_lr(settings.lr, batch_size, dist.world_size()) if settings.scale_lr
                        else settings.lr)
        self.optimizer = build_optimizer(model.parameters(), settings.optimizer, self.base_lr,
                                         settings.weight_decay)
        self.use_amp = settings.fp16 and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.epoch = 0  # epochs completed
        self.global_iter = 0
        self.best_ap = -math.inf
        self.history = []  # per-iteration total losses of this process (for tests and logs)

    def _raw_model(self) -> torch.nn.Module:
        return self.model.module if hasattr(self.model, "module") else self.model

    # ---------------------------------------------------------------- checkpoints
    def save(self, name: str) -> str:
        """Write ``work_dir/name``: the sphmask checkpoint plus everything :meth:`resume` needs."""
        path = os.path.join(self.work_dir, name)
        if dist.is_main():
            save_checkpoint(path, self.model, self.epoch, self.optimizer, self.config,
                            scaler=self.scaler.state_dict(), iter=self.global_iter, best_ap=self.best_ap,
                            rng=rng_state(), scheduler={"base_lr": self.base_lr, "step_epoch": self.s.step_epoch,
                                                        "epochs": self.s.epochs})
        return path

    def resume(self, path: str) -> None:
        """Continue from a checkpoint written by :meth:`save` (model, optimizer, epoch, RNG states)."""
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        missing = [k for k in ("net", "optimizer", "epoch", "rng") if k not in ckpt]
        if missing:
            raise ValueError(f"{path} cannot be resumed from: it lacks {missing} (a weights-only checkpoint "
                             f"can be used as a pretrained model instead)")
        self._raw_model().load_state_dict(ckpt["net"], strict=True)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if "scaler" in ckpt:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch = int(ckpt["epoch"])
        self.global_iter = int(ckpt.get("iter", 0))
        self.best_ap = float(ckpt.get("best_ap", -math.inf))
        set_rng_state(ckpt["rng"])
        self.log.info("resumed from %s at epoch %d", path, self.epoch)

    # ---------------------------------------------------------------- training
    def lr_at(self, epoch: int) -> float:
        return constant_then_cosine(self.base_lr, epoch, self.s.step_epoch, self.s.epochs, self.s.min_lr)

    def train_epoch(self) -> Dict[str, float]:
        """One pass over the loader (epoch index ``self.epoch``); returns mean named losses."""
        model, s = self.model, self.s
        model.train()
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        dataset = getattr(self.loader, "dataset", None)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.epoch)
        lr = self.lr_at(self.epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        sums: Dict[str, float] = {}
        n_iter = len(self.loader)
        pending = 0
        progress = _progress(n_iter, f"epoch {self.epoch + 1}/{s.epochs}")
        start = time.time()
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(self.loader):
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
            self.scaler.scale(total / s.grad_accum).backward()
            pending += 1
            if pending == s.grad_accum or i + 1 == n_iter:
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
                pending = 0
            self.global_iter += 1
            value = float(total.detach())
            self.history.append(value)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}")
            if dist.is_main() and (i + 1) % s.log_interval == 0:
                done = self.epoch * n_iter + i + 1
                left = s.epochs * n_iter - done
                eta = (time.time() - start) / (i + 1) * left
                self.log.info("epoch %d/%d iter %d/%d lr %.3e loss %.4f eta %s", self.epoch + 1, s.epochs,
                              i + 1, n_iter, lr, value, _hms(eta))
                if self.tb is not None:
                    for k, v in losses.items():
                        self.tb.add_scalar(f"train/{k}", float(v.detach()), self.global_iter)
                    self.tb.add_scalar("train/lr", lr, self.global_iter)
        if progress is not None:
            progress.close()
        means = {k: dist.all_reduce_mean(v / max(n_iter, 1), self.device) for k, v in sums.items()}
        return means

    def fit(self) -> None:
        """Train from ``self.epoch`` to ``settings.epochs`` with checkpoints and validation."""
        s = self.s
        while self.epoch < s.epochs:
            means = self.train_epoch()
            self.epoch += 1
            if dist.is_main():
                self.log.info("epoch %d/%d done: %s", self.epoch, s.epochs,
                              ", ".join(f"{k} {v:.4f}" for k, v in sorted(means.items())))
                if self.tb is not None:
                    for k, v in means.items():
                        self.tb.add_scalar(f"epoch/{k}", v, self.epoch)
            if s.save_every and (self.epoch % s.save_every == 0 or self.epoch == s.epochs):
                self.save("latest.pth")
                if s.keep_epoch_checkpoints:
                    self.save(f"epoch_{self.epoch}.pth")
            if self.validate is not None and s.validate_every and (
                    self.epoch % s.validate_every == 0 or self.epoch == s.epochs):
                metrics = self.validate(self._raw_model(), self.epoch)
                if dist.is_main() and metrics:
                    self.log.info("validation after epoch %d: %s", self.epoch,
                                  ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
                    if self.tb is not None:
                        for k, v in metrics.items():
                            self.tb.add_scalar(f"val/{k}", v, self.epoch)
                    ap = metrics.get("ap")
                    if ap is not None and ap > self.best_ap:
                        self.best_ap = ap
                        self.save("best.pth")
            dist.barrier()


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
