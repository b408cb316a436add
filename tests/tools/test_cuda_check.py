"""make cuda-check without nvcc says it skipped (issue 15), instead of looking like a pass."""
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cuda_check_without_nvcc_says_skipped_no_nvcc(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "dirname", "env"):
        os.symlink(shutil.which(tool), bindir / tool)
    out = subprocess.run([str(bindir / "bash"), os.path.join(ROOT, "tools", "cuda_check.sh")],
                         env={"PATH": str(bindir)}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "cuda-check: skipped: no nvcc" in out.stdout
