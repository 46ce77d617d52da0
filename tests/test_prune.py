"""Head pruning: exactly the chosen heads leave the weights, the pruned model computes what the
original computes with those heads masked, and the checkpoint loads back with its pruned shape."""

from __future__ import annotations

import pytest
import torch

from mobile_distill.errors import ConfigError
from mobile_distill.models import load_classifier, load_tokenizer
from mobile_distill.prune import head_importance, heads_to_prune, prune_heads, remaining_heads
from mobile_distill.prune import neuron_importance, neurons_to_keep, prune_neurons, remaining_neurons
from mobile_distill.prune.heads import HeadGates, attention_layers
from mobile_distill.prune.neurons import NeuronGates

from .planted import planted_texts, save_planted_model

from .conftest import tiny_run

TEXTS = planted_texts(48, seed=4)


def _batch(model_dir, kind):
    encoded = load_tokenizer(model_dir)(TEXTS, padding=True, return_tensors="pt")
    if kind == "distilbert":
        encoded.pop("token_type_ids", None)
    return dict(encoded)


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def planted(request, tmp_path_factory):
    folder = save_planted_model(tmp_path_factory.mktemp(request.param) / "model", TEXTS, model_type=request.param)
    return request.param, folder


def _heads_in_weights(model) -> list[int]:
    """Heads per layer as the weight shapes say (not as an attribute says)."""
    return [getattr(layer.module, layer.projections[0]).out_features // layer.head_size for layer in attention_layers(model)]


def test_pruning_removes_exactly_the_chosen_heads_and_equals_masking_them(planted):
    kind, folder = planted
    model, batch = load_classifier(folder), _batch(folder, kind)
    before = _heads_in_weights(model)
    chosen = {0: [1], 1: [0]}
    with torch.no_grad():
        with HeadGates(model) as gates:
            for layer, heads in chosen.items():
                gates.gates[layer][heads] = 0
            masked = model(**batch).logits
        original = model(**batch).logits
        prune_heads(model, chosen)
        pruned = model(**batch).logits
    assert _heads_in_weights(model) == remaining_heads(model) == [h - 1 for h in before]
    assert torch.allclose(pruned, masked, atol=1e-5)
    assert not torch.allclose(pruned, original, atol=1e-3)  # the heads mattered: the check above could fail
    assert model.config.pruned_heads == {"0": [1], "1": [0]}


def test_a_pruned_checkpoint_loads_back_with_its_shape_and_outputs(planted, tmp_path):
    kind, folder = planted
    model, batch = load_classifier(folder), _batch(folder, kind)
    prune_heads(model, {1: [1]})
    model.save_pretrained(tmp_path)
    load_tokenizer(folder).save_pretrained(tmp_path)
    again = load_classifier(tmp_path)
    with torch.no_grad():
        assert torch.equal(again(**batch).logits, model(**batch).logits)
    assert remaining_heads(again) == remaining_heads(model)


def test_pruning_twice_records_original_head_numbers(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                     num_attention_heads=4, intermediate_size=32))
    prune_heads(model, {0: [1]})  # heads now 0, 2, 3 at positions 0, 1, 2
    prune_heads(model, {0: [1]})  # position 1 is original head 2
    assert model.config.pruned_heads == {"0": [1, 2]} and remaining_heads(model) == [2]
    with pytest.raises(ConfigError, match="keep at least one"):
        prune_heads(model, {0: [0, 1]})


def test_neuron_pruning_keeps_exactly_the_chosen_neurons_and_equals_masking_the_rest(planted, tmp_path):
    kind, folder = planted
    model, batch = load_classifier(folder), _batch(folder, kind)
    labels = model(**batch).logits.argmax(-1)
    keep = neurons_to_keep(neuron_importance(model, [dict(batch, labels=labels)]), 0.5)
    widths = remaining_neurons(model)
    assert all(len(keep[layer]) == width // 2 for layer, width in enumerate(widths))
    with torch.no_grad():
        with NeuronGates(model) as gates:
            for layer, indices in keep.items():
                dropped = [i for i in range(widths[layer]) if i not in indices]
                gates.gates[layer][dropped] = 0
            masked = model(**batch).logits
        original = model(**batch).logits
        prune_neurons(model, keep)
        pruned = model(**batch).logits
    assert remaining_neurons(model) == [width // 2 for width in widths]
    assert torch.allclose(pruned, masked, atol=1e-5) and not torch.allclose(pruned, original, atol=1e-3)
    prune_heads(model, {0: [1]})  # both kinds in one checkpoint
    model.save_pretrained(tmp_path)
    load_tokenizer(folder).save_pretrained(tmp_path)
    again = load_classifier(tmp_path)
    assert remaining_neurons(again) == remaining_neurons(model) and remaining_heads(again) == remaining_heads(model)
    with torch.no_grad():
        assert torch.equal(again(**batch).logits, model(**batch).logits)


def test_importance_ranks_heads_and_the_budget_keeps_a_head_per_layer(planted):
    kind, folder = planted
    model, batch = load_classifier(folder), _batch(folder, kind)
    labels = load_classifier(folder)(**batch).logits.argmax(-1)
    scores = head_importance(model, [dict(batch, labels=labels)])
    assert [len(s) for s in scores] == remaining_heads(model)
    assert all(torch.isclose(s.norm(), torch.tensor(1.0)) for s in scores)
    assert sum(map(len, heads_to_prune(scores, 0.5).values())) == sum(remaining_heads(model)) // 2
    everything = heads_to_prune(scores, 0.99)
    assert all(len(everything.get(layer, [])) == heads - 1 for layer, heads in enumerate(remaining_heads(model)))
    with pytest.raises(ConfigError, match="fraction"):
        heads_to_prune(scores, 1.0)


def test_distilling_a_pruned_student_learns_and_exports_with_parity(trained_teacher, data, tmp_path):
    from mobile_distill.config import DistillConfig, LossWeights, StudentConfig, TrainConfig
    from mobile_distill.distill import distill
    from mobile_distill.export import ExportOptions, export
    from mobile_distill.runners import load_runner

    config = DistillConfig(train=TrainConfig(epochs=2.0, learning_rate=3e-3, batch_size=16, save_steps=20),
                           weights=LossWeights(hidden_mse=0.5, attention_mse=0.5))  # attention maps averaged over heads
    result = distill(trained_teacher, data, config, StudentConfig(prune_heads=0.5, prune_ffn=0.5), tmp_path / "student",
                     tiny_run(tmp_path))
    student = load_classifier(tmp_path / "student")
    assert sum(remaining_heads(student)) == 2 and student.config.pruned_heads  # 2 layers x 2 heads, half removed
    assert remaining_neurons(student) == [16, 16]  # the tiny teacher's feed-forward width is 32
    assert result.log["best_validation_accuracy"] > 0.8
    texts = list(data.splits["test"]["text"])[:64]
    reference = load_runner(tmp_path / "student", seq_len=32).predict(texts)
    artifact = export(tmp_path / "student", "onnx", "fp32", tmp_path / "onnx", ExportOptions(seq_len=32), texts, texts)
    assert abs(load_runner(artifact).predict(texts) - reference).max() < 1e-4
