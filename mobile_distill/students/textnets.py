"""Tiny non-transformer students: a BiLSTM (Tang et al. 2019, "Distilling Task-Specific Knowledge from
BERT into Simple Neural Networks") and a CNN (Kim 2014) text classifier over the teacher's WordPiece ids.

They are `transformers` models (a config class and a PreTrainedModel each, registered with the Auto
classes under their own model types), so Trainer, ``save_pretrained``/safetensors, the loader, the
gate, vocabulary trimming and every exporter treat them as any other student; the artifact contract
(input_ids and attention_mask in, logits out) is unchanged. The code is this package's, so loading
one never needs ``trust_remote_code``.

Padding never changes an answer: both read only the real tokens (the mask), so a text gives the same
logits padded to its batch's longest text in training and to the full length on the phone.

Why the LSTM is written out step by step for export: no exporter carries a *masked* bidirectional
LSTM to every runtime (PyTorch's packed sequences do not trace; TFLite's and ONNX's LSTM ops come
through different converters or not at all, and ExecuTorch's XNNPACK has none). Training and PyTorch
evaluation use ``torch.nn.LSTM`` on packed sequences (fast); export traces the same weights through
``unrolled_lstm``, plain matmuls and elementwise ops that every runtime and quantizer takes, at the
artifact's fixed length. Parity tests hold the two to fp32 tolerance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import SequenceClassifierOutput

BILSTM_TYPE = "mdistill-bilstm"
CNN_TYPE = "mdistill-cnn"
MODEL_TYPES = (BILSTM_TYPE, CNN_TYPE)
MAX_LENGTH = 512  # the longest sequence the exporters accept: these models have no position table


@strict
class _TextNetConfig(PreTrainedConfig):
    """What both configs hold. ``classifier_size``: the ReLU layer before the logits."""

    vocab_size: int = 30522
    embedding_size: int = 128
    hidden_size: int = 128
    classifier_size: int = 128
    dropout: float | int = 0.1
    pad_token_id: int | None = 0
    max_position_embeddings: int = MAX_LENGTH  # no position table: the longest sequence the exporters accept
    type_vocab_size: int = 0  # no token types: the artifact takes input_ids and attention_mask only
    num_hidden_layers: int = 1


@strict
class BiLSTMConfig(_TextNetConfig):
    """``hidden_size``: the LSTM's width per direction."""

    model_type = BILSTM_TYPE


@strict
class TextCNNConfig(_TextNetConfig):
    """``hidden_size``: filters per kernel size; ``kernel_sizes``: the window widths, in tokens."""

    model_type = CNN_TYPE

    kernel_sizes: list[int] | tuple[int, ...] = (3, 4, 5)


class _TextNet(PreTrainedModel):
    base_model_prefix = "textnet"
    main_input_name = "input_ids"
    takes_padding_mask = True  # the export wrapper passes the 0/1 mask, not BERT's additive 4D one

    def __init__(self, config):
        super().__init__(config)
        self.embeddings = torch.nn.Embedding(config.vocab_size, config.embedding_size,
                                             padding_idx=config.pad_token_id)
        self.dropout = torch.nn.Dropout(config.dropout)
        self.pre_classifier = torch.nn.Linear(self.features(config), config.classifier_size)
        self.classifier = torch.nn.Linear(config.classifier_size, config.num_labels)

    def get_input_embeddings(self):
        return self.embeddings

    def set_input_embeddings(self, value):
        self.embeddings = value

    def _init_weights(self, module):
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv1d)):
            torch.nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.Embedding):
            torch.nn.init.normal_(module.weight, std=0.1)

    def forward(self, input_ids, attention_mask=None, labels=None, output_hidden_states=None, return_dict=None,
                unrolled: bool = False, **_):
        """``unrolled``: the export path (a Python constant, so each trace takes one path)."""
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        mask = mask.to(self.embeddings.weight.dtype).unsqueeze(-1)  # (batch, seq, 1)
        embedded = self.dropout(self.embeddings(input_ids.to(torch.long))) * mask  # pads read as zeros
        features = self.encode(embedded, mask, unrolled)
        hidden = self.dropout(torch.relu(self.pre_classifier(features)))
        logits = self.classifier(hidden)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class BiLSTMForSequenceClassification(_TextNet):
    """Embeddings -> one bidirectional LSTM -> both directions' final states -> ReLU layer -> logits."""

    config_class = BiLSTMConfig
    export_unrolls_sequence = True  # the exported graph has one step per position: a fixed length

    def __init__(self, config):
        super().__init__(config)
        self.lstm = torch.nn.LSTM(config.embedding_size, config.hidden_size, batch_first=True, bidirectional=True)
        self.post_init()

    @staticmethod
    def features(config) -> int:
        return 2 * config.hidden_size

    def encode(self, embedded, mask, unrolled: bool):
        if unrolled:
            return unrolled_lstm(self.lstm, embedded, mask)
        real = mask[..., 0]
        if not bool((real[:, 1:] <= real[:, :-1]).all()):
            return unrolled_lstm(self.lstm, embedded, mask)  # pads not all at the end: packing cannot say it
        lengths = real.sum(1).to(torch.long).clamp(min=1).cpu()
        packed = torch.nn.utils.rnn.pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        _, (final, _) = self.lstm(packed)
        return torch.cat([final[0], final[1]], dim=-1)


def unrolled_lstm(lstm: torch.nn.LSTM, embedded, mask):
    """The final states of ``lstm`` (one bidirectional layer, PyTorch's gate order i, f, g, o) over the
    real tokens of each row, one step per position with both directions in the same step: the forward
    direction reads position t while the backward one reads position T-1-t, and a padded position
    leaves a direction's state as it was. Equal to the packed LSTM for right padding; any mask works."""
    hidden = lstm.hidden_size
    steps = embedded.shape[1]
    forward_in = embedded @ lstm.weight_ih_l0.T + (lstm.bias_ih_l0 + lstm.bias_hh_l0)
    backward_in = torch.flip(embedded @ lstm.weight_ih_l0_reverse.T + (lstm.bias_ih_l0_reverse + lstm.bias_hh_l0_reverse),
                             dims=[1])
    # gate inputs laid out [i_f i_b | f_f f_b | g_f g_b | o_f o_b], so one split gives each gate for both directions
    inputs = torch.cat([part for gate in range(4) for part in
                        (forward_in[..., gate * hidden:(gate + 1) * hidden],
                         backward_in[..., gate * hidden:(gate + 1) * hidden])], dim=-1)
    recurrent = _interleaved_recurrent_weight(lstm)  # (2H, 8H): one matmul per step for both directions
    keep = torch.cat([mask.expand(-1, -1, hidden), torch.flip(mask, dims=[1]).expand(-1, -1, hidden)], dim=-1)
    state = torch.zeros(embedded.shape[0], 2 * hidden, dtype=embedded.dtype, device=embedded.device)
    cell = torch.zeros_like(state)
    for step in range(steps):
        gates = inputs[:, step] + state @ recurrent
        i, f, g, o = gates.split(2 * hidden, dim=-1)
        new_cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
        new_state = torch.sigmoid(o) * torch.tanh(new_cell)
        kept = keep[:, step]
        cell = cell + kept * (new_cell - cell)
        state = state + kept * (new_state - state)
    return state  # [forward final | backward final], as the packed LSTM's h_n concatenated


def _interleaved_recurrent_weight(lstm: torch.nn.LSTM):
    hidden = lstm.hidden_size
    forward, backward = lstm.weight_hh_l0.T, lstm.weight_hh_l0_reverse.T  # (H, 4H) each
    zeros = torch.zeros_like(forward[:, :hidden])
    columns = []
    for gate in range(4):
        block = slice(gate * hidden, (gate + 1) * hidden)
        columns.append(torch.cat([forward[:, block], zeros], dim=0))  # forward rows feed forward gates only
        columns.append(torch.cat([zeros, backward[:, block]], dim=0))
    return torch.cat(columns, dim=1)


class TextCNNForSequenceClassification(_TextNet):
    """Embeddings -> one 1D convolution per kernel size -> ReLU -> max over real positions -> ReLU layer ->
    logits. Each window starts at a real token and reads zeros past the text, so the padding length
    never shows."""

    config_class = TextCNNConfig

    def __init__(self, config):
        super().__init__(config)
        self.convolutions = torch.nn.ModuleList(
            torch.nn.Conv1d(config.embedding_size, config.hidden_size, size) for size in config.kernel_sizes)
        self.post_init()

    @staticmethod
    def features(config) -> int:
        return config.hidden_size * len(config.kernel_sizes)

    def encode(self, embedded, mask, unrolled: bool):
        channels = embedded.transpose(1, 2)  # (batch, embedding, seq)
        starts = mask.transpose(1, 2)  # (batch, 1, seq): windows that start on a real token
        pooled = []
        for convolution in self.convolutions:
            windows = torch.relu(convolution(F.pad(channels, (0, convolution.kernel_size[0] - 1))))
            pooled.append((windows * starts).amax(dim=-1))  # ReLU outputs are >= 0, so a masked 0 never wins
        return torch.cat(pooled, dim=-1)


def register() -> None:
    """Make the Auto classes (and so every loader) know both model types."""
    for config_class, model_class in ((BiLSTMConfig, BiLSTMForSequenceClassification),
                                      (TextCNNConfig, TextCNNForSequenceClassification)):
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModelForSequenceClassification.register(config_class, model_class, exist_ok=True)


register()


def textnet_student(config_class, model_class, teacher, architecture, student_type: str):
    """A tiny student for ``teacher``'s vocabulary and labels. With ``init: teacher`` its embedding table
    is the teacher's word-embedding table projected onto its top principal directions (copied when the
    widths agree); everything else starts random."""
    from .base import WeightOrigins, narrow_student, principal_projection

    t = teacher.config
    table = teacher.get_input_embeddings().weight
    width = architecture.embedding_size
    shape = dict(vocab_size=table.shape[0], embedding_size=width, hidden_size=architecture.hidden_size,
                 classifier_size=architecture.intermediate_size, pad_token_id=t.pad_token_id,
                 num_labels=t.num_labels, id2label=t.id2label, label2id=t.label2id)
    if architecture.kernel_sizes is not None:
        shape["kernel_sizes"] = list(architecture.kernel_sizes)
    model = model_class(config_class(**shape))
    origins = WeightOrigins()
    if architecture.init == "teacher":
        with torch.no_grad():
            if width == table.shape[1]:
                model.embeddings.weight.copy_(table)
                origins.copied.append("embeddings.weight")
            elif width < table.shape[1]:
                model.embeddings.weight.copy_(principal_projection(table, width)[0])
                origins.projected.append("embeddings.weight")
                origins.notes.append(f"word embeddings projected onto the top {width} principal directions of the "
                                     "teacher's word-embedding table")
            else:
                origins.notes.append(f"embedding width {width} is above the teacher's {table.shape[1]}: random")
    return narrow_student(model, architecture, student_type, origins)  # every tensor not projected or copied: random
