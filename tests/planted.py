"""Planted collapses: tiny BERT classifiers whose predictions depend on the text, and the
mutations that break a real exported artifact in each of the known ways.

Every artifact here comes from a real `export()`; the collapse is then planted in the exported
file or folder (the ONNX graph, the bundled tokenizer files) or in the model that is exported
(an fp16-overflowing or quantization-hostile layer), never in a runner.
"""

from __future__ import annotations

import json
import random
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from mobile_distill.metrics import agreement  # noqa: F401  (the tests' one agreement is the product's)

from .conftest import FILLER, NEGATIVE, POSITIVE, SPECIAL

# 300 made-up words after the 37 of conftest's vocabulary: the vocabulary is larger than 256, so
# test texts use ids that an 8-bit wrap changes.
EXTRA_WORDS = [f"{a}{b}{c}" for a in "bdfgkmprst" for b in "aeiou" for c in "lnrsxz"][:300]
VOCAB = SPECIAL + sorted(set(POSITIVE + NEGATIVE + FILLER)) + ["##s", "##ly"] + EXTRA_WORDS
LABELS = ("negative", "positive")
HIDDEN, LAYERS, INTERMEDIATE = 16, 2, 32


# A vocabulary over 65,536 words, so 16-bit id wraps change the ids of the words at its end.
WIDE_VOCAB = VOCAB + [f"zq{i}" for i in range(66_000 - len(VOCAB))]
_ACCENTED = str.maketrans("aeiou", "áéíóú")


def planted_texts(count: int, seed: int = 0, extra: list[str] | None = None) -> list[str]:
    """Texts of 4 to 14 words (so batches have padding), some capitalised, some with accents an
    accent-stripping tokenizer removes, most with ids > 256 (``extra``: where those words come from)."""
    rng = random.Random(seed)
    extra = extra or EXTRA_WORDS
    texts = []
    for i in range(count):
        sentiment = rng.sample(POSITIVE + NEGATIVE, 2)
        if i % 3 == 2:  # accents the reference's tokenizer strips: a tokenizer that keeps them sees unknown words
            sentiment = [word.translate(_ACCENTED) for word in sentiment]
        words = rng.sample(FILLER, rng.randint(1, 5)) + sentiment + rng.sample(extra, rng.randint(1, 7))
        rng.shuffle(words)
        if i % 2:  # capitals where a cased tokenizer would see unknown words
            words = [word.upper() if j % 3 == 0 else word.capitalize() for j, word in enumerate(words)]
        texts.append(" ".join(words))
    return texts


def wide_texts(count: int, seed: int = 0) -> list[str]:
    """Planted texts whose made-up words have ids past 65,536 in `WIDE_VOCAB`."""
    return planted_texts(count, seed, extra=WIDE_VOCAB[65_600:])


def save_planted_model(folder: Path, texts: list[str], seed: int = 0, mutate=None, model_type: str = "bert",
                       vocab: list[str] | None = None) -> Path:
    """A tiny random BERT, DistilBERT, MobileBERT, BiLSTM or CNN (a few thousand parameters) saved with its
    WordPiece tokenizer.

    Weights are drawn wider than BERT's 0.02 so the output depends on the text, and the
    classifier bias is set to the median logit gap on ``texts``: the reference predicts both
    classes in about equal numbers, so agreement measures something. ``mutate(model)`` plants a
    numeric trap in the weights before the bias is set. ``vocab``: another word list (e.g. one
    over 65,536 words, so 16-bit id wraps change ids).
    """
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertTokenizerFast,
        DistilBertConfig,
        DistilBertForSequenceClassification,
        MobileBertConfig,
        MobileBertForSequenceClassification,
    )

    words = vocab or VOCAB
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(seed)
    labels = dict(num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
                  label2id={label: i for i, label in enumerate(LABELS)})
    if model_type == "bert":
        config = BertConfig(
            vocab_size=len(words), hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=2,
            intermediate_size=INTERMEDIATE, max_position_embeddings=64, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0, initializer_range=0.3, **labels)
        model = BertForSequenceClassification(config).eval()
    elif model_type == "mobilebert":  # bottlenecks, trigram embeddings, NoNorm, stacked FFNs
        config = MobileBertConfig(vocab_size=len(words), hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                                  num_attention_heads=2, intermediate_size=INTERMEDIATE, embedding_size=8,
                                  intra_bottleneck_size=8, num_feedforward_networks=2, max_position_embeddings=64,
                                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.3,
                                  **labels)
        model = MobileBertForSequenceClassification(config).eval()
    elif model_type in ("bilstm", "cnn"):  # the tiny non-transformer students: ids and mask only
        from mobile_distill.students.textnets import (
            BiLSTMConfig,
            BiLSTMForSequenceClassification,
            TextCNNConfig,
            TextCNNForSequenceClassification,
        )

        config_class, model_class = ((BiLSTMConfig, BiLSTMForSequenceClassification) if model_type == "bilstm"
                                     else (TextCNNConfig, TextCNNForSequenceClassification))
        config = config_class(vocab_size=len(words), embedding_size=HIDDEN, hidden_size=8, classifier_size=HIDDEN,
                              dropout=0.0, **labels)
        model = model_class(config).eval()
        tokenizer.model_input_names = ["input_ids", "attention_mask"]
    else:
        config = DistilBertConfig(vocab_size=len(words), dim=HIDDEN, n_layers=LAYERS, n_heads=2, hidden_dim=INTERMEDIATE,
                                  max_position_embeddings=64, dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0,
                                  initializer_range=0.3, **labels)
        model = DistilBertForSequenceClassification(config).eval()
        tokenizer.model_input_names = ["input_ids", "attention_mask"]
    with torch.no_grad():
        if mutate is not None:
            mutate(model)
        model.classifier.bias.zero_()
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
        gap = logits[:, 1] - logits[:, 0]
        scale = 2.0 / float(gap.std())  # logit gaps of a few units: fp32 rounding never flips a class
        model.classifier.weight.mul_(scale)
        model.classifier.bias[1] = -float(gap.median()) * scale
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# --- numeric traps planted in the model before export ---------------------------------------

FP16_LAYER = "bert.encoder.layer.0.output.dense"
OUTLIER_LAYER = "bert.encoder.layer.0.intermediate.dense"
ROW_OUTLIER_LAYER = "bert.encoder.layer.0.output.dense"


def overflow_fp16(model) -> None:
    """Scale one Linear ahead of a LayerNorm so its outputs pass 65504 (fp16's largest value).

    The LayerNorm right after divides the scale back out, so fp32 logits stay finite and
    text-dependent; in fp16 the Linear's output is inf and the LayerNorm makes it NaN. The FFN
    output is used because onnxruntime's CPU provider hands it to an fp16 LayerNorm: it computes
    fp16 MatMuls in fp32 and removes the casts between them, so the same scaling on the attention
    output projection (whose LayerNorm it runs in fp32) did not overflow there.
    """
    layer = model.get_submodule(FP16_LAYER)
    layer.weight.mul_(6.0e4 / float(layer.weight.abs().max()))  # the weights themselves stay under 65504


def outlier_weight(model) -> None:
    """One huge weight, on an input feature that is always 0, in the first FFN layer.

    In fp32 the outlier multiplies 0 and changes nothing. A per-tensor int8 scale is set by it
    (1000 / 127), so every other weight of that layer rounds to 0 and the layer's output is lost;
    per-channel scales confine the damage to the one output row.
    """
    norm = model.get_submodule("bert.encoder.layer.0.attention.output.LayerNorm")
    norm.weight[0] = 0.0  # feature 0 of the FFN's input is exactly 0 on every token
    norm.bias[0] = 0.0
    model.get_submodule(OUTLIER_LAYER).weight[0, 0] = 1000.0


def outlier_every_row(model) -> None:
    """A huge weight in every output row of the first FFN output layer, on an input feature that is
    always 0 (a GELU of a dead intermediate unit).

    Every per-channel int8 scale is then set by the outlier (1000 / 127), so all other weights
    round to 0 and the layer's output is lost; fp32 is unchanged. Unlike ``outlier_weight`` it
    survives litert-torch, which folds a LayerNorm's scale into the next layer's weights (the
    zeroed LayerNorm feature would zero the outlier there).
    """
    unit = model.get_submodule(OUTLIER_LAYER)
    unit.weight[0] = 0.0
    unit.bias[0] = 0.0
    model.get_submodule(ROW_OUTLIER_LAYER).weight[:, 0] = 1000.0


# --- mutations of exported ONNX artifacts ----------------------------------------------------

def _load(artifact: Path):
    import onnx

    return onnx.load(str(artifact / "model.onnx"))


def _save(model, artifact: Path) -> None:
    """Write the edited graph as if the exporter had made it so (its hash recorded in the manifest):
    these plantings stand for exporter bugs, not for a file changed after export."""
    import onnx

    onnx.checker.check_model(model)
    onnx.save(model, str(artifact / "model.onnx"))
    reseal(artifact)


def reseal(artifact: Path) -> None:
    """Record the model file's current SHA-256 in the manifest, as the export does."""
    from mobile_distill.hashing import content_sha256

    model_file = json.loads((artifact / "manifest.json").read_text())["model_file"]
    _edit_json(artifact / "manifest.json", lambda m: m.update(model_sha256=content_sha256(artifact / model_file)))


def swap_onnx_inputs(artifact: Path, first: str = "input_ids", second: str = "attention_mask") -> None:
    """Swap which graph input the nodes read (as if the inputs had been named in the wrong order);
    the manifest and the input list are unchanged."""
    model = _load(artifact)
    swapped = {first: second, second: first}
    for node in model.graph.node:  # inputs are bound by name: what used `first` now reads `second`'s feed
        node.input[:] = [swapped.get(name, name) for name in node.input]
    _save(model, artifact)


def _reroute(model, source: str, new_nodes: list, result: str) -> None:
    """Make every consumer of ``source`` read ``result`` (computed by ``new_nodes`` from it)."""
    for node in model.graph.node:
        node.input[:] = [result if name == source else name for name in node.input]
    for node in reversed(new_nodes):
        model.graph.node.insert(0, node)


def ignore_onnx_mask(artifact: Path) -> None:
    """The graph reads attention_mask * 0 + 1: the input stays, its values no longer matter."""
    from onnx import TensorProto, helper

    model = _load(artifact)
    nodes = [
        helper.make_node("Constant", [], ["planted_zero"], value=helper.make_tensor("z", TensorProto.INT64, [], [0])),
        helper.make_node("Constant", [], ["planted_one"], value=helper.make_tensor("o", TensorProto.INT64, [], [1])),
        helper.make_node("Mul", ["attention_mask", "planted_zero"], ["planted_mask_zero"]),
        helper.make_node("Add", ["planted_mask_zero", "planted_one"], ["planted_mask_ones"]),
    ]
    _reroute(model, "attention_mask", nodes, "planted_mask_ones")
    _save(model, artifact)


def wrap_onnx_ids(artifact: Path, to: str = "UINT8") -> None:
    """A Cast of input_ids to a narrow integer type and back, before any use: ids wrap modulo 2^bits."""
    from onnx import TensorProto, helper

    model = _load(artifact)
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["planted_ids_narrow"], to=getattr(TensorProto, to)),
        helper.make_node("Cast", ["planted_ids_narrow"], ["planted_ids_wrapped"], to=TensorProto.INT64),
    ]
    _reroute(model, "input_ids", nodes, "planted_ids_wrapped")
    _save(model, artifact)


def rename_onnx_inputs(artifact: Path, prefix: str = "args_") -> None:
    """Give the graph's inputs positional names (as some exporters do); the manifest keeps the real ones."""
    model = _load(artifact)
    renamed = {value.name: f"{prefix}{i}" for i, value in enumerate(model.graph.input)}
    for value in model.graph.input:
        value.name = renamed[value.name]
    for node in model.graph.node:
        node.input[:] = [renamed.get(name, name) for name in node.input]
    _save(model, artifact)


def declare_int32(artifact: Path) -> None:
    """The manifest says int32 (what phones feed); the ONNX file still takes int64."""
    path = artifact / "manifest.json"
    manifest = json.loads(path.read_text())
    for spec in manifest["inputs"]:
        spec["dtype"] = "int32"
    path.write_text(json.dumps(manifest, indent=2))


def stop_lower_casing(artifact: Path) -> None:
    """Make the bundled tokenizer cased. transformers 5 rebuilds the normalizer from
    tokenizer_config.json's ``do_lower_case``, so both files are edited."""
    config_file = artifact / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config["do_lower_case"] = False
    config_file.write_text(json.dumps(config, indent=2))
    tokenizer_file = artifact / "tokenizer.json"
    tokenizer = json.loads(tokenizer_file.read_text())
    tokenizer["normalizer"]["lowercase"] = False
    tokenizer_file.write_text(json.dumps(tokenizer, ensure_ascii=False))




def outlier_linear_rows(model) -> None:
    """A weight of 1000 in every output row of the first FFN Linear, on an input feature that is always 0
    (the attention LayerNorm's feature 0 is zeroed). fp32 is unchanged; each row's per-channel int8
    scale becomes 1000 / 127 and every other weight of the layer rounds to 0."""
    norm = model.get_submodule("bert.encoder.layer.0.attention.output.LayerNorm")
    norm.weight[0] = 0.0
    norm.bias[0] = 0.0
    model.get_submodule(OUTLIER_LAYER).weight[:, 0] = 1000.0


FP16_SUM_FEATURES = (12, 13, 14, 15)  # of the pooler's 16 outputs: made constant, weighed by the classifier


def fp16_accumulation_trap(folder: Path, texts: list[str]) -> Path:
    """Weigh four pooled features that are 1.0 for every text (tanh(20)) by +4e4, +4e4, -4e4, -4e4 in the
    classifier, then re-centre its bias. The four terms cancel exactly in fp32, and the weights themselves
    fit fp16; a kernel that accumulates the fp16 Gemm in fp16 passes 65504 on the way (or, with its partial
    sums split, rounds the text-dependent terms away at 40000's spacing of 32). onnxruntime's x86-64 build
    computes fp16 Gemms in fp32; its aarch64 build computes them in fp16 on CPUs with fp16 arithmetic
    (Cortex-A76 and later), not on an ARMv8.0 core: the fault exists only on the phone's kernels.
    """
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    model = BertForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    features = list(FP16_SUM_FEATURES)
    with torch.no_grad():
        model.bert.pooler.dense.weight[features] = 0.0
        model.bert.pooler.dense.bias[features] = 20.0
        model.classifier.weight[:, features] = torch.tensor([4e4, 4e4, -4e4, -4e4])
        model.classifier.bias.zero_()
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
        model.classifier.bias[1] = -float((logits[:, 1] - logits[:, 0]).median())
    model.save_pretrained(folder)
    return folder


# --- faults planted in the module an exporter traces (for formats whose files are hard to edit) -----

@contextmanager
def exported_with(fault):
    """Exports inside this block trace ``fault(forward, input_ids, attention_mask, token_type_ids)``
    instead of the export wrapper's forward: the fault ends up in the exported file itself."""
    import mobile_distill.export.run as export_module  # where export() looks the wrapper up

    original = export_module.ClassifierWrapper

    class Faulty(original):
        def forward(self, input_ids, attention_mask, token_type_ids=None):
            return fault(super().forward, input_ids, attention_mask, token_type_ids)

    export_module.ClassifierWrapper = Faulty
    try:
        yield
    finally:
        export_module.ClassifierWrapper = original


def invert_mask(forward, ids, mask, types):
    return forward(ids, 1 - mask, types)


def ignore_mask(forward, ids, mask, types):
    return forward(ids, mask * 0 + 1, types)  # the input stays in the graph; its values no longer matter


def segment_one(forward, ids, mask, types):
    return forward(ids, mask, types * 0 + 1)


def swap_ids_and_mask(forward, ids, mask, types):
    return forward(mask, ids, types)


def drop_token_types(forward, ids, mask, types):
    """The token-type embedding is not added (its output multiplied by 0), as in a graph that lost it."""
    embedding = forward.__self__.model.bert.embeddings.token_type_embeddings
    handle = embedding.register_forward_hook(lambda _module, _inputs, output: output * 0)
    try:
        return forward(ids, mask, types)
    finally:
        handle.remove()


def wrap_ids(bits: int):
    import torch

    def fault(forward, ids, mask, types):
        return forward(torch.remainder(ids, 1 << bits), mask, types)  # ids mod 2^bits, as a narrowing cast
    return fault


@contextmanager
def positional_tflite_names():
    """TFLite exports inside this block are converted from positional samples, so the signature names
    its inputs args_0, args_1, ... as litert-torch does by default; the manifest keeps the real names."""
    import litert_torch

    original = litert_torch.convert

    def convert(module, sample_args=None, sample_kwargs=None, **kwargs):
        return original(_positional(module), sample_args=tuple(sample_kwargs.values()), **kwargs)

    litert_torch.convert = convert
    try:
        yield
    finally:
        litert_torch.convert = original


def _positional(module):
    """``module`` (named inputs) called with positional arguments, as a plain torch module."""
    import torch

    class Positional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = module

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids, attention_mask, token_type_ids)

    return Positional().eval()


# --- faults planted in an exported artifact folder (any target) -------------------------------------

def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1))


def declare_dtype(artifact: Path, dtype: str) -> None:
    """The manifest declares ``dtype`` for every input; the model file keeps what it takes."""
    _edit_json(artifact / "manifest.json", lambda m: [spec.update(dtype=dtype) for spec in m["inputs"]])


def keep_accents(artifact: Path) -> None:
    """The bundled tokenizer no longer strips accents (the reference's uncased BERT tokenizer does)."""
    _edit_json(artifact / "tokenizer_config.json", lambda c: c.update(strip_accents=False))
    _edit_json(artifact / "tokenizer.json", lambda t: t["normalizer"].update(strip_accents=False))


def mask_as_cls(artifact: Path) -> None:
    """The bundled tokenizer starts every text with [MASK] instead of [CLS] (a wrong special token)."""
    _edit_json(artifact / "tokenizer_config.json", lambda c: c.update(cls_token="[MASK]"))


def pad_on_the_left(artifact: Path) -> None:
    _edit_json(artifact / "tokenizer_config.json", lambda c: c.update(padding_side="left"))


def ids_past_the_table(artifact: Path) -> None:
    """The bundled tokenizer gives the sentiment words ids past the model's embedding table (as a
    tokenizer of a bigger model would); placeholders take their old ids."""
    def move(tokenizer):
        vocab = tokenizer["model"]["vocab"]
        size = len(vocab)
        for k, word in enumerate(POSITIVE + NEGATIVE):
            vocab[f"[unused{k}]"], vocab[word] = vocab[word], size + k
    _edit_json(artifact / "tokenizer.json", move)
    vocab = json.loads((artifact / "tokenizer.json").read_text())["model"]["vocab"]
    (artifact / "vocab.txt").write_text("".join(f"{word}\n" for word, _ in sorted(vocab.items(), key=lambda x: x[1])))


def reverse_labels(artifact: Path) -> None:
    """labels.txt and the manifest list the classes in the other order (an app shows the wrong name)."""
    _edit_json(artifact / "manifest.json", lambda m: m.update(labels=m["labels"][::-1]))
    path = artifact / "labels.txt"
    path.write_text("".join(f"{label}\n" for label in path.read_text().splitlines()[::-1]))


def shorter_static_length(artifact: Path, length: int = 24) -> None:
    """The manifest claims a longer static length than the file takes (an app pads to the wrong size)."""
    def change(manifest):
        manifest["sequence_length"] = length
        for spec in manifest["inputs"]:
            spec["shape"] = [spec["shape"][0], length]
    _edit_json(artifact / "manifest.json", change)


def margin_texts(reference: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices of the texts whose reference logit gap is more than twice ``tolerance``: the texts any
    export within that tolerance must classify as the reference does (closer ones are coin flips)."""
    gap = np.abs(reference[:, 1] - reference[:, 0])
    return np.flatnonzero(gap > 2 * tolerance)
