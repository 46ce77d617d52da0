"""The BiLSTM and CNN students: the step-by-step LSTM that every export traces equals the packed one
PyTorch trains, padding never changes an answer, the recipes refuse what they cannot do, and a student
distils from a teacher, trims and reloads. (Their exports' parity with PyTorch, gate 2 and diagnose on
every (target, precision) pair: tests/test_parity.py, which runs them beside the transformers.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobile_distill.config import (
    DistillConfig,
    StudentConfig,
    TrainConfig,
    recipe_from_dict,
)
from mobile_distill.errors import ConfigError
from mobile_distill.models import load_classifier, load_tokenizer
from mobile_distill.students.textnets import (
    BiLSTMConfig,
    BiLSTMForSequenceClassification,
    TextCNNConfig,
    TextCNNForSequenceClassification,
    unrolled_lstm,
)

from .planted import planted_texts, save_planted_model

from .conftest import tiny_run


def _model(kind: str):
    torch.manual_seed(3)
    shape = dict(vocab_size=60, embedding_size=12, hidden_size=10, classifier_size=8, dropout=0.0, num_labels=2)
    if kind == "bilstm":
        model = BiLSTMForSequenceClassification(BiLSTMConfig(**shape))
    else:
        model = TextCNNForSequenceClassification(TextCNNConfig(kernel_sizes=[2, 3, 5], **shape))
    with torch.no_grad():  # biases as a trained model has them: a window over pads alone then reads positive
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or "bias_" in name:
                parameter.normal_(0.5, 0.2)
    return model.eval()


def _batch(lengths, width, left=False, seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 60, (len(lengths), width), generator=generator)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, length in enumerate(lengths):
        if left:
            mask[row, width - length:] = 1
        else:
            mask[row, :length] = 1
    return ids * mask, mask


def test_the_exported_lstm_equals_the_packed_one_for_any_padding():
    model = _model("bilstm")
    ids, mask = _batch([12, 7, 3, 1], 12)
    with torch.no_grad():
        packed = model(ids, mask).logits
        unrolled = model(ids, mask, unrolled=True).logits
        # a direct check of the final states, against torch.nn.LSTM's own h_n on each row alone
        embedded = model.embeddings(ids) * mask[..., None]
        states = unrolled_lstm(model.lstm, embedded, mask[..., None].float())
        for row, length in enumerate([12, 7, 3, 1]):
            _, (final, _) = model.lstm(embedded[row: row + 1, :length])
            assert torch.allclose(states[row], torch.cat([final[0, 0], final[1, 0]]), atol=1e-6)
        left_ids, left_mask = _batch([12, 7, 3, 1], 12, left=True)
        left_ids[left_mask.bool()] = ids[mask.bool()]  # the same texts, padded on the left
        left = model(left_ids, left_mask).logits  # not packable: takes the step-by-step path
    assert torch.allclose(packed, unrolled, atol=1e-6) and torch.allclose(left, packed, atol=1e-6)
    assert (packed[:, 1] - packed[:, 0]).std() > 1e-3  # the rows differ: the checks above can fail


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_padding_never_changes_an_answer(kind):
    model = _model(kind)
    lengths = [9, 6, 2, 1]
    ids, mask = _batch(lengths, 9)
    longer = torch.nn.functional.pad(ids, (0, 23)), torch.nn.functional.pad(mask, (0, 23))
    junk = longer[0] + (1 - longer[1]) * 17  # other ids where the mask is 0
    with torch.no_grad():
        short, padded, masked_junk = model(ids, mask).logits, model(*longer).logits, model(junk, longer[1]).logits
        exported_path = model(junk, longer[1], unrolled=True).logits
        unmasked = model(junk, torch.ones_like(longer[1])).logits
        alone = torch.cat([model(ids[row:row + 1, :n], mask[row:row + 1, :n]).logits for row, n in enumerate(lengths)])
    assert torch.allclose(short, alone, atol=1e-6)  # each text as if it were the only one, with no pad at all
    assert torch.allclose(short, padded, atol=1e-6) and torch.allclose(short, masked_junk, atol=1e-6)
    assert torch.allclose(short, exported_path, atol=1e-6)
    assert (unmasked - short).abs().max() > 1e-3  # the mask is really read


def _config(recipe: str, **student) -> dict:
    return {"version": 1, "name": "t", "data": {"source": "rotten_tomatoes"}, "student": {"recipe": recipe, **student}}


@pytest.mark.parametrize("student,distill,message", [
    ({"num_layers": 2}, {}, "student.num_layers: the bilstm student has no transformer layers"),
    ({"kernel_sizes": [3]}, {}, "student.kernel_sizes: only the cnn student"),
    ({}, {"weights": {"cos": 1.0}}, "distill.weights: cos compare layers"),
    ({"prune_heads": 0.5}, {}, "no heads or feed-forward layers to prune"),
    ({"init": "runs/general"}, {}, "starts from the teacher's embeddings"),
])
def test_the_tiny_recipes_refuse_what_they_cannot_do(student, distill, message):
    from mobile_distill.students import resolve

    with pytest.raises(ConfigError, match=message):
        config = recipe_from_dict({**_config("bilstm", **student), "distill": distill})
        resolve(config.student, type("Teacher", (), {"num_hidden_layers": 4, "hidden_size": 16,
                                                     "num_attention_heads": 2, "intermediate_size": 32})())


def test_a_cnn_student_distils_trims_and_reloads(trained_teacher, data, tmp_path):
    from mobile_distill.distill import distill
    from mobile_distill.runners import load_runner
    from mobile_distill.trim import trim_vocabulary

    config = DistillConfig(train=TrainConfig(epochs=3.0, learning_rate=1e-2, batch_size=16, save_steps=20))
    student = StudentConfig(type="cnn", embedding_size=8, filters=8, intermediate_size=8, kernel_sizes=(2, 3))
    result = distill(trained_teacher, data, config, student, tmp_path / "student",
                     tiny_run(tmp_path))
    log = result.log
    assert log["best_validation_accuracy"] > 0.8 and log["loss_weights"]["logit_mse"] == 1.0
    assert any(row.get("loss_logit_mse", 0) > 0 for row in log["log_history"])  # the term was really trained on
    assert log["weight_origins"]["projected"]["names"] == ["embeddings.weight"]  # from the teacher's table, SVD
    assert log["parameters"]["student"] < log["parameters"]["teacher"] / 4
    model = load_classifier(tmp_path / "student")
    assert type(model).__name__ == "TextCNNForSequenceClassification" and model.config.kernel_sizes == [2, 3]
    assert load_tokenizer(tmp_path / "student").model_input_names == ["input_ids", "attention_mask"]
    texts = list(data.splits["test"]["text"])
    trimmed = trim_vocabulary(tmp_path / "student", texts, tmp_path / "trimmed", texts)
    assert trimmed.report["pieces_after"] < trimmed.report["pieces_before"]
    before = load_runner(tmp_path / "student", seq_len=32).predict(texts)
    after = load_runner(tmp_path / "trimmed", seq_len=32).predict(texts)
    np.testing.assert_allclose(after, before, atol=1e-5)


def test_a_planted_bilstm_reloads_exactly(tmp_path):
    texts = planted_texts(40, seed=2)
    folder = save_planted_model(tmp_path / "bilstm", texts, model_type="bilstm")
    model = load_classifier(folder)
    batch = load_tokenizer(folder)(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    again = load_classifier(folder)
    with torch.no_grad():
        assert torch.equal(again(**batch).logits, logits)
    assert 0.2 < float((logits.argmax(-1) == 1).float().mean()) < 0.8  # text-dependent, both classes
