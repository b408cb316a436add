"""Learning-rate schedule and optimizer construction (spec §6.8)."""
import math
from typing import Iterable

import torch


def constant_then_cosine(base_lr: float, epoch: int, step_epoch: int, total_epochs: int,
                         min_lr: float = 1e-6) -> float:
    """Learning rate of 0-based ``epoch``: ``base_lr`` before ``step_epoch``, then a cosine decay that
    reaches ``min_lr`` at ``total_epochs`` (the official ``cosine_lr_after_step``)."""
    if epoch < step_epoch:
        return base_lr
    span = max(total_epochs - step_epoch, 1)
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * (epoch - step_epoch) / span))


def scaled_lr(lr: float, batch_size: int, world_size: int, reference_batch: int = 16) -> float:
    """The official linear scaling: ``lr * batch_size * world_size / 16`` (0.001 -> 0.00075 for 12x1)."""
    return lr * batch_size * world_size / reference_batch


def build_optimizer(params: Iterable[torch.nn.Parameter], type: str = "AdamW", lr: float = 1e-3,
                    weight_decay: float = 1e-4) -> torch.optim.Optimizer:
    """AdamW (official) or Adam/SGD over the parameters that require a gradient."""
    params = [p for p in params if p.requires_grad]
    if type == "AdamW":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if type == "Adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if type == "SGD":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=0.9)
    raise ValueError(f"optimizer type must be AdamW, Adam or SGD, got {type!r}")
