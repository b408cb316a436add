"""``make gpu-check``: the GPU path proven in one run (driver; tools/gpu_check.sh builds first).

Steps (docs/gpu.md): CUDA op tests (``pytest -m cuda``), the whole model on CUDA against CPU with
every importable sparse backend, 30 fp16-autocast training steps, timings with CUDA events, and
``report.md`` / ``report.json``. Exit status 0 only if every check passed; on a machine without a
CUDA device it prints one line and exits 1 without checking anything.

Usage: ``python -m sphmask.utils.gpu_check [--quick] [--out gpu_report] [--build-info TEXT]``.
"""
import argparse
import dataclasses
import json
import os
import sys
import time
from typing import Callable, Dict, List, Optional

NO_CUDA = "gpu-check: no CUDA device (torch.cuda.is_available() is False); nothing was checked"


@dataclasses.dataclass
class Check:
    name: str
    passed: Optional[bool]  # None: skipped
    detail: str = ""


@dataclasses.dataclass
class Report:
    """What the run found; written as report.md and report.json."""

    environment: Dict[str, str] = dataclasses.field(default_factory=dict)
    checks: List[Check] = dataclasses.field(default_factory=list)
    timings: List[Dict] = dataclasses.field(default_factory=list)
    mode: str = "full"

    def add(self, name: str, passed: Optional[bool], detail: str = "") -> bool:
        self.checks.append(Check(name, passed, detail))
        status = "SKIP" if passed is None else ("ok" if passed else "FAIL")
        print(f"gpu-check: {status:4s} {name}{': ' + detail if detail else ''}", flush=True)
        return bool(passed)

    def run(self, name: str, fn: Callable[[], str]) -> None:
        """Record ``fn``'s outcome: its return value is the detail; an exception is a failure."""
        try:
            self.add(name, True, fn())
        except Exception as exc:  # noqa: BLE001 (every failure is reported, the run goes on)
            self.add(name, False, f"{type(exc).__name__}: {exc}")

    @property
    def ok(self) -> bool:
        return all(c.passed is not False for c in self.checks) and any(c.passed for c in self.checks)

    def to_json(self) -> str:
        return json.dumps({"mode": self.mode, "ok": self.ok, "environment": self.environment,
                           "checks": [dataclasses.asdict(c) for c in self.checks], "timings": self.timings},
                          indent=2)

    def to_markdown(self) -> str:
        lines = [f"# gpu-check report ({self.mode})", "", f"Result: **{'PASS' if self.ok else 'FAIL'}**", "",
                 "| | |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in self.environment.items()]
        lines += ["", "## Checks", "", "| check | result | detail |", "| --- | --- | --- |"]
        for c in self.checks:
            result = "skipped" if c.passed is None else ("pass" if c.passed else "FAIL")
            lines.append(f"| {c.name} | {result} | {c.detail.replace('|', '/')} |")
        if self.timings:
            lines += ["", "## Timings (CUDA events after warm-up; CPU with perf_counter)", "",
                      "| what | size | CUDA ms (median) | CPU ms (median) | CPU / CUDA |", "| --- | --- | --- | --- | --- |"]
            for t in self.timings:
                cpu = t.get("cpu_ms")
                ratio = f"{cpu / t['cuda_ms']:.1f}" if cpu and t["cuda_ms"] else "-"
                lines.append(f"| {t['what']} | {t['size']} | {t['cuda_ms']:.3f} | "
                             f"{'-' if cpu is None else f'{cpu:.3f}'} | {ratio} |")
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str) -> None:
        from sphmask.io.atomic import write_text

        os.makedirs(out_dir, exist_ok=True)
        write_text(self.to_json(), os.path.join(out_dir, "report.json"))
        write_text(self.to_markdown(), os.path.join(out_dir, "report.md"))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="ops and one model forward only (<= 3 min)")
    p.add_argument("--out", default="gpu_report", help="report folder (default gpu_report)")
    p.add_argument("--build-info", default="", help="what tools/gpu_check.sh built (for the report)")
    p.add_argument("--pytest-args", default="", help="extra arguments for the CUDA test run")
    return p.parse_args(argv)


def importable_backends() -> List[str]:
    """Sparse backends whose library imports here (the model check runs once per backend)."""
    from sphmask.models import sparse_backend

    names = []
    for name in ("spconv", "spconv_triton"):
        try:
            sparse_backend.resolve(name)
            names.append(name)
        except Exception:  # noqa: BLE001
            pass
    return names


def plan(quick: bool, backends: List[str]) -> List[str]:
    """The steps to run, in order (quick: ops and one model forward with the first backend)."""
    steps = ["environment", "cuda_tests"]
    model_backends = backends[:1] if quick else backends
    steps += [f"model_parity:{b}" for b in model_backends] or ["model_parity:none"]
    if not quick:
        steps += ["fp16_training", "timings"]
    return steps


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(NO_CUDA)
        return 1
    from sphmask.utils import gpu_steps

    report = Report(mode="quick" if args.quick else "full")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    started = time.perf_counter()
    for step in plan(args.quick, importable_backends()):
        if step == "environment":
            report.environment.update(gpu_steps.environment(args.build_info))
            report.run("extension built with CUDA kernels", gpu_steps.check_extension_has_cuda)
        elif step == "cuda_tests":
            report.run("pytest -m cuda (ops CUDA vs CPU, gradcheck, determinism)",
                       lambda: gpu_steps.run_cuda_tests(args.pytest_args))
        elif step == "model_parity:none":
            report.add("model CUDA vs CPU", False, "no sparse backend imports: pass --wheels DIR with spconv "
                                                   "or spconv-triton wheels (docs/gpu.md)")
        elif step.startswith("model_parity:"):
            backend = step.split(":")[1]
            report.run(f"model CUDA vs CPU, 100k-point room, backend {backend}",
                       lambda: gpu_steps.model_parity(backend, 100_000))
        elif step == "fp16_training":
            report.run("30 fp16 autocast + GradScaler training steps (tiny config)", gpu_steps.fp16_training)
        elif step == "timings":
            report.run("timings", lambda: gpu_steps.timings(report.timings))
    report.environment["wall time of the checks (s)"] = f"{time.perf_counter() - started:.0f}"
    report.environment["peak GPU memory (MiB)"] = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}"
    report.write(args.out)
    print(f"gpu-check: {'PASS' if report.ok else 'FAIL'}; report in {args.out}/report.md")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
