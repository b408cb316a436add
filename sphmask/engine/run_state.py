"""State of a training run outside the model: the global random generators (saved in checkpoints
for bit-for-bit resumption), the work folder and its stale temporary files."""
import os
import random
import re
from typing import Any, Dict, List

import numpy as np
import torch

#: Names :func:`sphmask.io.atomic.atomic_path` gives its temporary files: ``.tmp-<final name>-``
#: followed by ``tempfile.mkstemp``'s 8 random characters.
TEMP_NAME = re.compile(r"^\.tmp-.+-[a-z0-9_]{8}$")


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



def default_work_dir(config: str) -> str:
    """``work_dirs/<config file name without .yaml>``, relative to the current folder: where
    tools/train.py writes and tools/test.py writes its metrics unless told otherwise."""
    return os.path.join("work_dirs", os.path.splitext(os.path.basename(config))[0])


def remove_stale_temp_files(work_dir: str) -> List[str]:
    """Delete the temporary files an interrupted atomic write left in ``work_dir`` (a killed process
    cannot clean up after itself); every other file is kept. Returns the names removed."""
    removed = []
    if not os.path.isdir(work_dir):
        return removed
    for name in sorted(os.listdir(work_dir)):
        path = os.path.join(work_dir, name)
        if TEMP_NAME.match(name) and os.path.isfile(path) and not os.path.islink(path):
            os.remove(path)
            removed.append(name)
    return removed
