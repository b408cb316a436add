"""`make segment` (Makefile): the command it runs, and the usage error when IN or CKPT is missing.

Checked with `make -n` (print, do not run), so nothing is installed or built."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _make_n(*args):
    env = {k: v for k, v in os.environ.items() if k not in ("VENV", "OUT", "ARGS", "IN", "CKPT", "MAKEFLAGS")}
    return subprocess.run(["make", "-n", "--no-print-directory", "segment", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def test_make_segment_runs_segment_py_with_the_venv_python():
    r = _make_n("IN=a.ply b.npy", "CKPT=model.pth", "OUT=results", "ARGS=--render --threads 2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == (
        ".venv/bin/python tools/segment.py a.ply b.npy --ckpt model.pth --out results --render --threads 2")


def test_make_segment_default_out_folder():
    r = _make_n("IN=a.ply", "CKPT=model.pth")
    assert r.stdout.strip().splitlines()[-1].endswith("--ckpt model.pth --out segment_out")


@pytest.mark.parametrize("args,missing", [((), "IN"), (("IN=a.ply",), "CKPT"), (("CKPT=m.pth",), "IN")])
def test_make_segment_without_in_or_ckpt_is_a_usage_error_before_any_set_up(args, missing):
    r = _make_n(*args)
    assert r.returncode == 2
    assert f"make segment needs {missing}: make segment IN=" in r.stderr
    assert "pip" not in r.stdout and "setup.py" not in r.stdout
