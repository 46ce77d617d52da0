import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

from mobile_distill.config import StudentConfig
from mobile_distill.errors import ConfigError
from mobile_distill.students import build_student, default_layer_map

SMALL = dict(vocab_size=60, hidden_size=16, num_attention_heads=2, intermediate_size=32, num_hidden_layers=4,
             max_position_embeddings=40, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _teacher(kind: str):
    torch.manual_seed(0)
    if kind == "bert":
        return BertForSequenceClassification(BertConfig(**SMALL)).eval()
    return RobertaForSequenceClassification(RobertaConfig(**SMALL, pad_token_id=1, layer_norm_eps=1e-12)).eval()


def _batch(pad_id: int):
    ids = torch.randint(5, 60, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    mask[2, 4:] = 0
    return ids.masked_fill(mask == 0, pad_id), mask


def _hidden_states(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states


@pytest.mark.parametrize("kind", ["bert", "roberta"])
@pytest.mark.parametrize("recipe", ["distilbert", "bert"])
def test_keeping_all_layers_reproduces_the_teacher_hidden_states(kind, recipe):
    teacher = _teacher(kind)
    student = build_student(teacher, StudentConfig(type=recipe, layers=(0, 1, 2, 3))).model.eval()
    ids, mask = _batch(teacher.config.pad_token_id)
    real = mask.bool()
    teacher_states, student_states = _hidden_states(teacher, ids, mask), _hidden_states(student, ids, mask)
    assert len(teacher_states) == len(student_states) == 5
    for t, s in zip(teacher_states, student_states):
        torch.testing.assert_close(s[real], t[real], atol=2e-6, rtol=1e-5)


def test_distilbert_student_is_a_real_distilbert_without_token_types_or_pooler(tmp_path):
    teacher = _teacher("bert")
    student = build_student(teacher, StudentConfig()).model
    assert student.config.model_type == "distilbert"
    names = [name for name, _ in student.named_parameters()]
    assert not any("token_type" in n or "pooler" in n for n in names)
    student.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path, local_files_only=True)
    assert type(reloaded).__name__ == "DistilBertForSequenceClassification"
    assert reloaded.config.num_hidden_layers == 2


def test_subset_copies_the_mapped_layers():
    teacher = _teacher("bert")
    student = build_student(teacher, StudentConfig(layers=(0, 3))).model
    source = teacher.bert.encoder.layer[3].attention.self.query.weight
    torch.testing.assert_close(student.distilbert.transformer.layer[1].attention.q_lin.weight, source)
    plain = build_student(teacher, StudentConfig(type="bert", layers=(0, 3))).model
    torch.testing.assert_close(plain.bert.encoder.layer[1].output.dense.weight, teacher.bert.encoder.layer[3].output.dense.weight)
    torch.testing.assert_close(plain.bert.embeddings.token_type_embeddings.weight,
                               teacher.bert.embeddings.token_type_embeddings.weight)


def test_default_layer_map_takes_every_other_layer_ending_at_the_last():
    assert default_layer_map(6) == (1, 3, 5)
    assert default_layer_map(12) == (1, 3, 5, 7, 9, 11)
    assert default_layer_map(1) == (0,)


def test_layer_map_beyond_the_teacher_is_an_error():
    with pytest.raises(ConfigError, match=r"names layer 9 but the teacher has layers 0\.\.3"):
        build_student(_teacher("bert"), StudentConfig(layers=(1, 9)))


def test_distilled_student_tokenizer_omits_token_type_ids(tiny_bert, tmp_path):
    from mobile_distill.distill import student_tokenizer
    from mobile_distill.models import load_classifier, load_tokenizer

    teacher = load_classifier(tiny_bert)
    student = build_student(teacher, StudentConfig()).model
    student_tokenizer(load_tokenizer(tiny_bert), student).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    encoded = tokenizer("good film")
    assert "token_type_ids" not in encoded
    student(**tokenizer("good film", return_tensors="pt"))  # the student takes what its tokenizer gives
