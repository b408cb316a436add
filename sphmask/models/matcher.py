"""Hungarian matching of queries to GT instances (spec §6.2, official ``HungarianMatcher.get_match``).

Cost ``0.5 * (-p_cls) + 0.2 * (-conf) + 0.2 * (-GIoU(box))``; masks and rays play no role.
The one-to-one assignment feeds the main losses; a second assignment against the GT set tiled
``dup_gt`` times (each GT matched up to ``dup_gt`` times) feeds the auxiliary losses.
"""
from typing import Tuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from sphmask.models.box import giou_pairwise

#: Replaces NaN/inf costs so the assignment stays solvable.
INVALID_COST = 1e5


@torch.no_grad()
def matching_cost(cls_logits: torch.Tensor, conf_logits: torch.Tensor, boxes: torch.Tensor, gt_cls: torch.Tensor,
                  gt_boxes: torch.Tensor, w_cls: float = 0.5, w_conf: float = 0.2, w_giou: float = 0.2) -> torch.Tensor:
    """(Q, K) cost from class logits (Q, C+1), raw confidences (Q,), boxes (Q, 6) and GT (K,), (K, 6)."""
    prob = torch.softmax(cls_logits.float(), dim=-1)
    cost = (-w_cls * prob[:, gt_cls] - w_conf * conf_logits.float()[:, None]
            - w_giou * giou_pairwise(boxes.float(), gt_boxes.float())[1])
    return torch.nan_to_num(cost, nan=INVALID_COST, posinf=INVALID_COST, neginf=INVALID_COST)


def hungarian(cost: torch.Tensor, dup: int = 1) -> Tuple[torch.Tensor, torch.Tensor]:
    """Minimum-cost assignment of rows (queries) to columns (GT) of ``cost`` tiled ``dup`` times
    horizontally; returns ``(rows, cols)`` int64 with rows increasing and cols in ``0..K-1``."""
    k = cost.shape[1]
    c = cost.detach().cpu().numpy()
    rows, cols = linear_sum_assignment(np.tile(c, (1, dup)) if dup > 1 else c)
    dev = cost.device
    return torch.as_tensor(rows, dtype=torch.int64, device=dev), torch.as_tensor(cols % k, dtype=torch.int64, device=dev)
