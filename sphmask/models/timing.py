"""Optional wall-time accounting of model stages (used by bench/model.py)."""
import contextlib
import time
from collections import defaultdict
from typing import Dict


class StageTimer:
    """Accumulates wall time per named stage: ``with timer.stage("backbone"): ...``."""

    def __init__(self):
        self.seconds: Dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0

    def reset(self) -> None:
        self.seconds.clear()
