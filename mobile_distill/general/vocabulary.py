"""DistilBERT's general distillation (Sanh et al. 2019): a masked-LM teacher and a masked-LM student,
trained with the triple loss on dynamically masked text (a new mask every time a text is seen, no NSP):

    L = a * L_ce   soft targets over the vocabulary at temperature T, on the masked positions
      + b * L_mlm  the student's own masked-LM cross-entropy
      + c * L_cos  1 - cos(student, teacher) of the last hidden states, on real tokens

The student is the recipe's classification student (`students`) with a masked-LM head around its
encoder; after training the encoder goes back into the classification student, which is what is
saved. transformers has no distillation trainer, so the loss is written here (the terms reuse
`distill.losses`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling
from transformers.utils import ModelOutput

from ..distill.trainer import TeacherTrainer
from ..errors import ConfigError
from ..families import family
from ..models import load_classifier, load_masked_lm
from .corpus import stream_corpus, tokenized_stream

# A BERT teacher's masked-LM head and the DistilBERT student's, tensor by tensor (their names differ).
_BERT_TO_DISTILBERT_HEAD = {
    "cls.predictions.transform.dense.weight": "vocab_transform.weight",
    "cls.predictions.transform.dense.bias": "vocab_transform.bias",
    "cls.predictions.transform.LayerNorm.weight": "vocab_layer_norm.weight",
    "cls.predictions.transform.LayerNorm.bias": "vocab_layer_norm.bias",
    "cls.predictions.bias": "vocab_projector.bias",
}


@dataclass
class MaskedLMDistillationOutput(ModelOutput):
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    projected_last: torch.Tensor | None = None  # the last hidden state, through the projection when narrower


class MaskedLMStudent(torch.nn.Module):
    """The student with a masked-LM head, and a projection for L_cos when it is narrower than the teacher."""

    main_input_name = "input_ids"

    def __init__(self, classifier, masked_lm, projection: torch.nn.Module | None):
        super().__init__()
        self.masked_lm = masked_lm
        self.projection = projection
        self._classifier = [classifier]  # not a submodule: its encoder is copied back once, at the end

    @property
    def config(self):
        return self.masked_lm.config

    def forward(self, **inputs):
        """The masked-LM output and its last hidden state through the projection (computed here, not in
        the loss: DDP only accounts for parameters a forward uses)."""
        output = self.masked_lm(**inputs)
        last = output.hidden_states[-1]
        # a ModelOutput, so DDP finds every tensor (and through them the parameters) the loss will use
        return MaskedLMDistillationOutput(logits=output.logits, hidden_states=output.hidden_states,
                                          projected_last=self.projection(last) if self.projection is not None else last)

    def student_classifier(self):
        """The classification student with the trained encoder (the masked-LM head is left behind)."""
        classifier = self._classifier[0]
        trained = {name: tensor for name, tensor in self.masked_lm.state_dict().items()
                   if name in classifier.state_dict()}
        classifier.load_state_dict(trained, strict=False)
        return classifier


def load_masked_lm_teacher(teacher_path):
    """The teacher with its masked-LM head, or a one-line error when its checkpoint has none."""
    teacher, lacking = load_masked_lm(teacher_path)
    if lacking:
        raise ConfigError(f"the distilbert general objective needs a teacher with a masked-LM head, and the one at "
                          f"{teacher_path} has none (its weights lack {lacking}); use objective tinybert, which reads "
                          "hidden states and attention only, or a teacher saved as a masked-LM model",
                          fields=("objective",))
    return teacher


def build_masked_lm_trainer(teacher_path, tokenizer, student_config, config, args, seed: int):
    from transformers import set_seed

    from ..students import build_student

    teacher = load_masked_lm_teacher(teacher_path)
    set_seed(seed)
    student = build_student(load_classifier(teacher_path), student_config)
    masked_lm = AutoModelForMaskedLM.from_config(student.model.config)
    masked_lm.load_state_dict({name: tensor for name, tensor in student.model.state_dict().items()
                               if name in masked_lm.state_dict()}, strict=False)
    _copy_head(teacher, masked_lm)
    masked_lm.tie_weights()
    ours, theirs = _width(masked_lm), _width(teacher)
    projection = torch.nn.Linear(ours, theirs) if ours != theirs else None
    module = MaskedLMStudent(student.model, masked_lm, projection)
    stream = tokenized_stream(stream_corpus(config.corpus, seed), tokenizer, config.max_length)
    # padded to max_length: under DDP the first process concatenates one batch per process (see __init__)
    collate = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=config.mlm_probability, seed=seed,
                                              pad_to_multiple_of=config.max_length)
    trainer = VocabularyDistillationTrainer(
        model=module, args=args, train_dataset=stream, processing_class=tokenizer, data_collator=collate,
        teacher=teacher, temperature=config.temperature, weights=config.resolved_weights())
    return trainer, student


def _width(model) -> int:
    return getattr(model.config, "hidden_size", None) or model.config.dim


def _copy_head(teacher, student) -> None:
    """Start the student's masked-LM head from the teacher's where the shapes allow (same width)."""
    theirs, ours = teacher.state_dict(), student.state_dict()
    names = {name: name for name in ours}
    if teacher.config.model_type == "bert" and student.config.model_type == "distilbert":
        names = {target: source for source, target in _BERT_TO_DISTILBERT_HEAD.items()}
    with torch.no_grad():
        for target, source in names.items():
            if target in ours and source in theirs and ours[target].shape == theirs[source].shape \
                    and not target.startswith(("bert.", "distilbert.", "mobilebert.", "roberta.")):
                ours[target].copy_(theirs[source])


class VocabularyDistillationTrainer(TeacherTrainer):
    """DistilBERT's triple loss, each term logged as ``loss_<term>``."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        from ..distill.losses import cosine_loss, kd_loss

        labels = inputs["labels"]
        features = {name: value for name, value in inputs.items() if name != "labels"}
        module = self.accelerator.unwrap_model(model)
        student_inputs = {k: v for k, v in features.items() if k != "token_type_ids" or family(module.masked_lm).token_types}
        teacher_inputs = {k: v for k, v in features.items() if k != "token_type_ids" or family(self.teacher).token_types}
        with torch.no_grad():
            teacher_out = self.teacher(**teacher_inputs, output_hidden_states=True)
        student_out = model(**student_inputs, output_hidden_states=True)
        masked = labels >= 0
        terms = {}
        if not masked.any():  # a batch of very short texts can draw no mask: no vocabulary term this step
            masked = None
        zero = student_out.logits.sum() * 0.0
        if "vocab_kd" in self.weights:
            terms["vocab_kd"] = zero if masked is None else kd_loss(student_out.logits[masked],
                                                                    teacher_out.logits[masked], self.temperature)
        if "mlm" in self.weights:
            terms["mlm"] = zero if masked is None else torch.nn.functional.cross_entropy(student_out.logits[masked],
                                                                                         labels[masked])
        if "cos" in self.weights:
            terms["cos"] = cosine_loss(student_out.projected_last, teacher_out.hidden_states[-1],
                                       features["attention_mask"])
        loss = self.weighted_sum(terms)
        return (loss, student_out) if return_outputs else loss

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Checkpoint without the tied copy of the word embeddings (the output projection shares them,
        and safetensors refuses shared tensors); resume loads non-strictly and the tie restores it."""
        state_dict = state_dict if state_dict is not None else self.model.state_dict()
        seen, unique = set(), {}
        for name, tensor in state_dict.items():
            if tensor.data_ptr() not in seen:
                seen.add(tensor.data_ptr())
                unique[name] = tensor
        super()._save(output_dir, unique)
