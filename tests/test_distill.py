import json

import pytest
import torch
from transformers import TrainerCallback

from mobile_distill.config import (
    DistillConfig,
    LossWeights,
    StudentConfig,
    TrainConfig,
    TransferConfig,
)
from mobile_distill.data import load_transfer_texts
from mobile_distill.distill import distill
from mobile_distill.distill.losses import (
    ce_loss,
    cosine_loss,
    hidden_mse_loss,
    kd_loss,
)
from mobile_distill.training import last_checkpoint

from .conftest import tiny_run


def test_kd_loss_is_zero_for_equal_logits_and_scaled_by_t_squared():
    logits = torch.randn(4, 3)
    assert kd_loss(logits, logits, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.randn(4, 3)
    plain = kd_loss(other, logits, 1.0)
    # at T=1 this is the mean over examples of KL(teacher || student)
    expected = torch.nn.functional.kl_div(other.log_softmax(-1), logits.softmax(-1), reduction="batchmean")
    assert plain.item() == pytest.approx(expected.item(), rel=1e-5)
    assert kd_loss(other * 4, logits * 4, 4.0).item() == pytest.approx(16 * plain.item(), rel=1e-4)


def test_ce_loss_ignores_transfer_rows():
    logits = torch.randn(4, 2)
    labels = torch.tensor([0, 1, -100, -100])
    expected = torch.nn.functional.cross_entropy(logits[:2], labels[:2])
    assert ce_loss(logits, labels).item() == pytest.approx(expected.item())
    assert ce_loss(logits, torch.full((4,), -100)).item() == 0.0


def test_token_losses_ignore_padding_and_average_per_example():
    student, teacher = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    assert cosine_loss(teacher, teacher, mask).item() == pytest.approx(0.0, abs=1e-6)
    changed = student.clone()
    changed[1, 3:] = 1000.0  # padding positions must not count
    assert cosine_loss(changed, teacher, mask).item() == pytest.approx(cosine_loss(student, teacher, mask).item())
    per_example = [(student[i, :n] - teacher[i, :n]).pow(2).mean() for i, n in enumerate((5, 2))]
    assert hidden_mse_loss(student, teacher, mask).item() == pytest.approx(torch.stack(per_example).mean().item(), rel=1e-5)


def _config(epochs=2.0, **weights):
    return DistillConfig(train=TrainConfig(epochs=epochs, learning_rate=3e-3, batch_size=16, save_steps=20),
                         weights=LossWeights(**weights) if weights else LossWeights())


def test_distill_logs_each_loss_term_and_learns(trained_teacher, data, tmp_path):
    result = distill(trained_teacher, data, _config(hidden_mse=0.5, attention_mse=0.5), StudentConfig(),
                     tmp_path / "student", tiny_run(tmp_path))
    history = [row for row in result.log["log_history"] if "loss" in row]
    for term in ("loss_kd", "loss_ce", "loss_cos", "loss_hidden_mse", "loss_attention_mse"):
        assert all(term in row for row in history), term
    assert history[-1]["loss_kd"] < history[0]["loss_kd"]
    assert result.log["best_validation_accuracy"] > 0.8
    assert result.log["layer_map"] == [1, 3]
    saved = sorted(p.name for p in (tmp_path / "student").iterdir())
    assert {"config.json", "model.safetensors", "labels.json", "loss_curves.png", "distill_log.json"} <= set(saved)
    assert json.loads((tmp_path / "student" / "config.json").read_text())["model_type"] == "distilbert"


class _StopAfter(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C


class _CountSteps(TrainerCallback):
    steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        type(self).steps += 1


def _with_callback(monkeypatch, callback):
    import mobile_distill.distill.trainer as module

    original = module.DistillationTrainer.__init__

    def init_with_callback(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.add_callback(callback)

    monkeypatch.setattr(module.DistillationTrainer, "__init__", init_with_callback)


def test_interrupted_distillation_resumes_from_its_last_checkpoint(trained_teacher, data, tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        _with_callback(patch, _StopAfter(25))
        with pytest.raises(KeyboardInterrupt):
            distill(trained_teacher, data, _config(), StudentConfig(), tmp_path / "student", tiny_run(tmp_path))
    assert not (tmp_path / "student").exists()  # nothing half-written
    (checkpoints,) = (tmp_path / "checkpoints").glob("student-*/joint")  # named by the settings hash, then the stage
    assert last_checkpoint(checkpoints).endswith("checkpoint-20")

    _with_callback(monkeypatch, _CountSteps())
    result = distill(trained_teacher, data, _config(), StudentConfig(), tmp_path / "student", tiny_run(tmp_path))
    assert _CountSteps.steps == 20  # 40 steps in all (320 rows / 16 * 2 epochs); steps 1..20 were not redone
    assert result.log["steps"] == 40
    assert (tmp_path / "student" / "model.safetensors").is_file()


def test_transfer_set_adds_unlabelled_rows(trained_teacher, data, tiny_csv, tmp_path):
    transfer = load_transfer_texts(TransferConfig(source=str(tiny_csv), text_column="review", limit=48))
    result = distill(trained_teacher, data, _config(epochs=1.0), StudentConfig(type="bert", layers=(0, 3)),
                     tmp_path / "student", tiny_run(tmp_path), transfer_texts=transfer)
    assert result.log["examples"]["transfer"] == 48
    assert result.log["examples"]["train"] == 320
    assert result.log["steps"] == 23  # (320 + 48) / 16
