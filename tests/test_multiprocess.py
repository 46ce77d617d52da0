"""Distillation under `torchrun --nproc_per_node=2` (gloo, CPU) gives the same student as one process."""

import os
import subprocess
import sys

import pytest
from safetensors.numpy import load_file

from mobile_distill.config import DataConfig
from mobile_distill.data import load_data

from .conftest import save_tiny_model

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]


# a narrow student trains projections in its intermediate stage: DDP must see them used in the forward
STUDENTS = {"distilbert": [],
            "tinybert": ["--student", "tinybert", "--num-layers", "2", "--hidden-size", "12", "--num-heads", "2",
                         "--intermediate-size", "24", "--intermediate-epochs", "1"]}


def _distill(command_prefix, teacher, data, out, batch_size, student):
    command = [*command_prefix, "-m", "mobile_distill.cli", "distill", str(teacher), "-o", str(out), "--data", str(data),
               "--epochs", "1", "--batch-size", str(batch_size), "--learning-rate", "2e-3", "--save-steps", "1000",
               "--intermediate-batch-size", str(batch_size), "--no-group-by-length", "--no-gate", "--threads", "1",
               *STUDENTS[student]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return load_file(str(out / "student" / "model.safetensors"))


@pytest.mark.parametrize("student", list(STUDENTS))
def test_two_processes_match_one_process(tmp_path, tiny_csv, student):
    teacher = save_tiny_model(tmp_path / "teacher", layers=2, dropout=0.0)  # no dropout: runs are comparable
    data = load_data(DataConfig(source=str(tiny_csv), text_column="review", label_column="sentiment"), seed=0)
    data.save(tmp_path / "data")

    single = _distill([sys.executable], teacher, tmp_path / "data", tmp_path / "one", 16, student)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517"]
    double = _distill(torchrun, teacher, tmp_path / "data", tmp_path / "two", 8, student)

    assert single.keys() == double.keys()
    for name in single:
        difference = abs(single[name] - double[name]).max()
        assert difference < 1e-4, f"{name} differs by {difference}"
    # and training did change the weights (the comparison is not between two untouched copies)
    from mobile_distill.config import StudentConfig
    from mobile_distill.models import load_classifier
    from mobile_distill.students import build_student

    shape = {"distilbert": StudentConfig(), "tinybert": StudentConfig(type="tinybert", num_layers=2, hidden_size=12,
                                                                     num_heads=2, intermediate_size=24)}[student]
    start = build_student(load_classifier(teacher), shape).model.state_dict()
    moved = max(float(abs(start[name].numpy() - single[name]).max()) for name in single if name in start)
    assert moved > 1e-2
