"""Class weights from label frequencies (sphmask.data.class_weights, tools/class_weights.py)."""
import os
import subprocess
import sys

import numpy as np
import pytest

from sphmask.data.class_weights import frequency_weights, label_counts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_frequency_weights_by_hand():
    # frequencies 0.8, 0.2, 0 -> 0.8**-0.5 = 1.118, 0.2**-0.5 = 2.236, mean 1.677 -> 0.6667, 1.3333, 0
    assert frequency_weights([80, 20, 0]) == [0.6667, 1.3333, 0.0]
    assert frequency_weights([80, 20, 0], power=1.0) == [0.4, 1.6, 0.0]
    assert frequency_weights([5, 5], power=2.0) == [1.0, 1.0]


@pytest.mark.parametrize("counts,power", [([0, 0], 0.5), ([-1, 3], 0.5), ([1, 2], -1.0)])
def test_frequency_weights_reject_bad_input(counts, power):
    with pytest.raises(ValueError):
        frequency_weights(counts, power)


class _Files:
    semantic_classes = 4
    filenames = ["a", "b", "a"]  # repeated files are counted once

    def load(self, name):
        sem = {"a": np.array([0, 0, 1, -100]), "b": np.array([1, 3, 3, 3])}[name]
        return None, None, sem, None, None


def test_label_counts_counts_each_file_once_and_skips_ignored():
    assert label_counts(_Files()).tolist() == [2, 2, 0, 3]


def test_tool_reports_a_config_error_in_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "tools/class_weights.py", "configs/scannet200/spherical_mask.yaml",
                          "--set", f"data.train.data_root={tmp_path}"], cwd=ROOT, env=env, capture_output=True,
                         text=True)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
