"""Every distillation loss term against a known answer: identical teacher and student give zero, a perturbed
student a positive value that grows with the perturbation, padding counts for nothing, and the gradient
reaches the student and the projection W that compares it across widths."""

from __future__ import annotations

import pytest
import torch

from mobile_distill.distill.losses import (
    attention_kl_loss,
    attention_mse_loss,
    cosine_loss,
    hidden_mse_loss,
    kd_loss,
)
from mobile_distill.distill.taps import AttentionTap

torch.manual_seed(0)
MASK = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]])


def _scores(heads=4, scale=1.0):
    return torch.randn(2, heads, 6, 6) * scale


@pytest.mark.parametrize("loss", [attention_mse_loss, attention_kl_loss])
def test_attention_losses_are_zero_for_equal_scores_and_grow_with_the_difference(loss):
    teacher = _scores()
    assert loss(teacher.clone(), teacher, MASK).item() == pytest.approx(0.0, abs=1e-6)
    small, large = loss(teacher + 0.1 * _scores(), teacher, MASK), loss(teacher + 1.0 * _scores(), teacher, MASK)
    assert 0 < small.item() < large.item()


@pytest.mark.parametrize("loss", [attention_mse_loss, attention_kl_loss])
def test_attention_losses_ignore_padded_queries_and_keys(loss):
    teacher, student = _scores(), _scores()
    changed = student.clone()
    changed[0, :, 4:, :] += 100.0  # padded queries of text 0
    changed[1, :, :, 3:] -= 100.0  # padded keys of text 1
    assert loss(changed, teacher, MASK).item() == pytest.approx(loss(student, teacher, MASK).item(), rel=1e-5)


def test_attention_mse_is_the_mean_squared_score_difference_on_real_positions():
    teacher = torch.zeros(1, 1, 3, 3)
    student = torch.full((1, 1, 3, 3), 2.0)
    assert attention_mse_loss(student, teacher, torch.tensor([[1, 1, 0]])).item() == pytest.approx(4.0)


def test_different_head_counts_are_compared_through_the_mean_over_heads():
    teacher = _scores(heads=4)
    student = teacher.mean(1, keepdim=True).repeat(1, 2, 1, 1)  # 2 heads, each the teacher's mean
    assert attention_mse_loss(student, teacher, MASK, "mean").item() == pytest.approx(0.0, abs=1e-6)
    assert attention_mse_loss(student, teacher, MASK).item() == pytest.approx(0.0, abs=1e-6)  # unequal: mean
    with pytest.raises(ValueError, match="need equal head counts"):
        attention_mse_loss(student, teacher, MASK, "per-head")


@pytest.mark.parametrize("loss", [hidden_mse_loss, cosine_loss])
def test_hidden_losses_are_zero_for_equal_states_and_positive_otherwise(loss):
    teacher = torch.randn(2, 6, 8)
    assert loss(teacher.clone(), teacher, MASK).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(teacher + torch.randn(2, 6, 8), teacher, MASK).item() > 0.01


def test_kd_is_zero_for_equal_logits_and_positive_otherwise():
    logits = torch.randn(4, 3)
    assert kd_loss(logits, logits, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    assert kd_loss(logits + torch.randn(4, 3), logits, 2.0).item() > 0


def test_gradient_flows_through_the_projection_across_widths():
    """A 6-wide student compared with an 8-wide teacher through W: both W and the student get a gradient,
    and training W alone drives the loss to the part W can explain."""
    teacher = torch.randn(2, 6, 8)
    student = torch.randn(2, 6, 6, requires_grad=True)
    projection = torch.nn.Linear(6, 8)
    loss = hidden_mse_loss(projection(student), teacher, MASK)
    loss.backward()
    assert projection.weight.grad.abs().sum() > 0 and student.grad.abs().sum() > 0
    assert student.grad[0, 4:].abs().sum() == 0  # padding gets no gradient
    target = torch.nn.Linear(6, 8)(student.detach())  # a teacher W can explain exactly
    optimiser = torch.optim.Adam(projection.parameters(), lr=0.05)
    for _ in range(400):
        optimiser.zero_grad()
        hidden_mse_loss(projection(student.detach()), target.detach(), MASK).backward()
        optimiser.step()
    assert hidden_mse_loss(projection(student.detach()), target.detach(), MASK).item() < 1e-3


def test_attention_scores_from_the_taps_are_the_models_own(tmp_path):
    """Scores built from the captured query/key projections give the model's attention probabilities."""
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=32, attn_implementation="eager")).eval()
    ids, mask = torch.randint(5, 50, (2, 6)), MASK
    with torch.no_grad(), AttentionTap(_Classifier(model), [0, 1]) as tap:
        probabilities = model(input_ids=ids, attention_mask=mask, output_attentions=True).attentions
    for layer in (0, 1):
        scores = tap.scores(layer).masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        torch.testing.assert_close(scores.softmax(-1), probabilities[layer], atol=1e-5, rtol=1e-4)


class _Classifier(torch.nn.Module):
    """A bare encoder as the taps see a classifier (base_model, config)."""

    def __init__(self, encoder):
        super().__init__()
        self.base_model, self.config = encoder, encoder.config


def test_the_configs_layer_terms_are_the_distillations():
    from mobile_distill.config import LAYER_TERMS
    from mobile_distill.distill.losses import INTERMEDIATE

    assert set(LAYER_TERMS) == INTERMEDIATE


def test_logit_mse_is_the_mean_squared_difference_of_the_logits():
    from mobile_distill.distill.losses import logit_mse_loss

    student, teacher = torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    assert float(logit_mse_loss(student, teacher)) == pytest.approx((1 + 4 + 0 + 4) / 4)
