"""The CPU-side parts of make gpu-check, so that its first GPU run is not its first run: the
no-CUDA exit, argument handling, step selection, report writing and the pass/fail judgements."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from sphmask.utils import gpu_check, gpu_steps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_driver_without_cuda_prints_one_line_and_exits_1(capsys, tmp_path):
    assert gpu_check.main(["--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().out == gpu_check.NO_CUDA + "\n"
    assert not (tmp_path / "r").exists()


def test_shell_script_without_cuda_prints_no_cuda_device():
    out = subprocess.run(["bash", "tools/gpu_check.sh", "--quick"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHON": sys.executable, "PYTHONPATH": ROOT}, timeout=120)
    assert out.returncode == 1
    assert out.stdout.strip().splitlines() == [gpu_check.NO_CUDA]


def test_shell_script_rejects_unknown_option():
    out = subprocess.run(["bash", "tools/gpu_check.sh", "--fast"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown option --fast" in out.stderr


def test_arguments():
    args = gpu_check.parse_args(["--quick", "--out", "x", "--build-info", "b"])
    assert args.quick and args.out == "x" and args.build_info == "b"
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--wheels"])


def test_plan_full_quick_and_without_backend():
    full = gpu_check.plan(False, ["spconv", "spconv_triton"])
    assert full == ["environment", "cuda_tests", "model_parity:spconv", "model_parity:spconv_triton",
                    "fp16_training", "timings"]
    assert gpu_check.plan(True, ["spconv_triton"]) == ["environment", "cuda_tests", "model_parity:spconv_triton"]
    assert "model_parity:none" in gpu_check.plan(False, [])


def test_importable_backends_on_this_machine():
    assert gpu_check.importable_backends()[0] == "spconv"


def test_report_written_with_every_check_and_timing(tmp_path):
    r = gpu_check.Report(mode="quick", environment={"device": "X"})
    r.add("a", True, "fine")
    r.add("b", None, "skipped here")
    r.run("c", lambda: (_ for _ in ()).throw(ValueError("broken | badly")))
    r.timings.append({"what": "voxelize", "size": "50k points", "cuda_ms": 0.5, "cpu_ms": 5.0})
    r.write(str(tmp_path))
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["ok"] is False and [c["passed"] for c in data["checks"]] == [True, None, False]
    assert data["checks"][2]["detail"] == "ValueError: broken | badly"
    md = (tmp_path / "report.md").read_text()
    assert "Result: **FAIL**" in md and "| voxelize | 50k points | 0.500 | 5.000 | 10.0 |" in md
    assert "broken / badly" in md
    assert not [p for p in os.listdir(tmp_path) if p not in ("report.json", "report.md")]


def test_report_passes_only_with_a_passed_check_and_no_failure():
    r = gpu_check.Report()
    assert not r.ok
    r.add("skipped", None)
    assert not r.ok
    r.add("a", True)
    assert r.ok


def _inst(mask, label=3, score=0.5):
    return {"mask": np.array(mask, bool), "label_id": label, "score": score}


def test_match_instances_hand_cases():
    a = [_inst([1, 1, 0, 0]), _inst([0, 0, 1, 1], 4, 0.9)]
    assert gpu_steps.match_instances(a, list(reversed(a))) == {"min_iou": 1.0, "max_score_diff": 0.0,
                                                                "label_mismatches": 0, "unmatched": 0}
    b = [_inst([1, 0, 0, 0], score=0.6), _inst([0, 0, 1, 1], 5, 0.9)]
    s = gpu_steps.match_instances(a, b)
    assert s["min_iou"] == 0.5 and s["label_mismatches"] == 1 and abs(s["max_score_diff"] - 0.1) < 1e-9
    assert gpu_steps.match_instances(a, a[:1])["unmatched"] == 1


def test_judge_training():
    down = [2.0 - 0.05 * i for i in range(30)]
    assert "scale drops at steps [1]" in gpu_steps.judge_training(down, [65536.0, 32768.0] + [32768.0] * 28)
    with pytest.raises(AssertionError, match="did not decrease"):
        gpu_steps.judge_training(down[::-1], [1.0] * 30)
    with pytest.raises(AssertionError, match="skipped steps after"):
        gpu_steps.judge_training(down, [2.0] * 20 + [1.0] * 10)
    with pytest.raises(AssertionError, match="non-finite loss at step 3"):
        gpu_steps.judge_training(down[:3] + [float("nan")] + down[4:], [1.0] * 30)


def test_compare_devices_of_one_model_on_cpu_is_exact():
    import sphmask
    from sphmask.models.testing import make_batch, synthetic_room

    model = sphmask.build_model(gpu_steps.TINY_CONFIG).eval()
    batch = make_batch([synthetic_room(3000, seed=4)], with_labels=False)
    s = gpu_steps.compare_devices(model, model, batch, batch)
    assert s["max_intermediate_diff"] == 0.0 and s["unmatched"] == 0 and s["min_iou"] == 1.0


def test_model_parity_step_cpu_against_cpu_passes():
    detail = gpu_steps.model_parity("spconv", 3000, device="cpu", config=gpu_steps.TINY_CONFIG)
    assert "min IoU 1.0000" in detail and "largest intermediate diff 0.00e+00" in detail


def test_training_loop_runs_on_cpu():
    r = gpu_steps.train_steps("cpu", steps=2, amp=False)
    assert len(r["losses"]) == 2 and all(np.isfinite(r["losses"]))


def test_op_calls_cover_every_cuda_op():
    names = {n.split(" ")[0] for n, _ in gpu_steps.op_calls(300, "cpu")}
    cuda_ops = {"voxelize", "voxel_mean", "furthest_point_sample", "ball_query", "sphere_coords", "rays_from_masks",
                "assemble_masks"}
    assert names == cuda_ops
    for _, fn in gpu_steps.op_calls(300, "cpu"):
        fn()
