"""TFLite (LiteRT) export with litert-torch, post-training quantization with ai-edge-quantizer, and
BERT text-classifier metadata that MediaPipe Tasks reads.

- Inputs are named by converting with ``sample_kwargs`` (positional samples become args_0..),
  and the output is named by returning ``{"logits": ...}``.
- Shapes are static (batch 1, the sequence length); the manifest records them.
- Three int32 inputs always: MediaPipe's TextClassifier only treats a model with exactly three
  int32 inputs as BERT, so a DistilBERT student gets a ``token_type_ids`` input that it ignores
  (litert-torch keeps an unused input in the graph; the metadata check below would catch it if not).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from .artifact import TensorSpec
from .context import ExportContext, ExportedModel

SIGNATURE = "serving_default"
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
_FILE = "model.tflite"


class _NamedIO(torch.nn.Module):
    """Keyword inputs (named signature inputs) and a dict output (a named ``logits`` output)."""

    def __init__(self, wrapper):
        super().__init__()
        self.wrapper = wrapper

    def forward(self, input_ids, attention_mask, token_type_ids):
        arguments = [input_ids, attention_mask] + ([token_type_ids] if self.wrapper.uses_token_types else [])
        logits = self.wrapper(*arguments)
        if not self.wrapper.uses_token_types:
            # Keep the MediaPipe-required third input in the graph without changing the result.
            logits = logits + 0.0 * token_type_ids[:, :1].to(logits.dtype)
        return {"logits": logits}


def export_tflite(context: ExportContext, folder: Path) -> ExportedModel:
    import litert_torch

    fp32 = folder / "fp32.tflite"
    sample = _sample(context)
    with torch.no_grad():
        litert_torch.convert(_NamedIO(context.wrapper).eval(), sample_kwargs=sample).export(str(fp32))
    quantized = folder / "quantized.tflite"
    quantization = _quantize(fp32, quantized, context.precision)
    fp32.unlink()
    metadata = _write_metadata(context, quantized, folder / _FILE)
    quantized.unlink()
    shape = (1, context.options.seq_len)
    return ExportedModel(
        model_file=_FILE,
        inputs=tuple(TensorSpec(name=name, dtype="int32", shape=shape) for name in INPUT_NAMES),
        output=TensorSpec(name="logits", dtype="float32", shape=(1, len(context.labels))),
        static_shapes=True,
        quantization={**quantization, "metadata": metadata,
                      "ignored_inputs": [] if context.wrapper.uses_token_types else ["token_type_ids"]},
    )


def _sample(context: ExportContext) -> dict[str, torch.Tensor]:
    """One real padded text as distinct contiguous int32 tensors (aliased samples merge inputs)."""
    encoded = context.tokenizer(context.sample_texts(1), padding="max_length", truncation=True,
                                max_length=context.options.seq_len, return_tensors="pt", return_token_type_ids=True)
    return {name: encoded[name].to(torch.int32).clone().contiguous() for name in INPUT_NAMES}


def _quantize(source: Path, target: Path, precision: str) -> dict:
    """ai-edge-quantizer passes over the fp32 .tflite; fp32 is a plain copy."""
    if precision == "fp32":
        shutil.copyfile(source, target)
        return {"scheme": "none"}
    from ai_edge_quantizer import quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName

    engine = quantizer.Quantizer(str(source))
    if precision == "fp16":
        # Weights stored as fp16 and cast back on load; compute stays fp32 (no fp16 mask overflow).
        engine.add_weight_only_config(".*", TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                      algorithm_key=AlgorithmName.FLOAT_CASTING)
        details = {"scheme": "fp16-weights", "compute": "fp32"}
    else:  # int8-dynamic: int8 weights, activations quantized on the fly inside the kernels
        engine.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        details = {"scheme": "int8-dynamic-range", "recipe": "dynamic_wi8_afp32"}
    engine.quantize().export_model(str(target), overwrite=True)
    return {**details, "tool": "ai_edge_quantizer"}


def _write_metadata(context: ExportContext, source: Path, target: Path) -> str:
    """MediaPipe / TFLite Task Library metadata: tokenizer (vocab), input roles, labels.

    The metadata schema can only describe a lower-casing WordPiece tokenizer; other models are
    written without metadata, and the manifest says why.
    """
    from .tflite_metadata import write_bert_classifier_metadata

    backend = type(context.tokenizer.backend_tokenizer.model).__name__
    if backend != "WordPiece" or not getattr(context.tokenizer, "do_lower_case", False):
        shutil.copyfile(source, target)
        return f"none: TFLite metadata describes lower-casing WordPiece tokenizers only (this is {backend})"
    vocab = source.parent / "metadata_vocab.txt"
    vocab_items = sorted(context.tokenizer.get_vocab().items(), key=lambda item: item[1])
    vocab.write_text("".join(f"{token}\n" for token, _ in vocab_items), encoding="utf-8")
    write_bert_classifier_metadata(str(source), str(target), str(vocab), list(context.labels),
                                   lower_case=bool(getattr(context.tokenizer, "do_lower_case", False)),
                                   model_name="mobile-distill text classifier")
    vocab.unlink()
    return "BertTokenizer (MediaPipe TextClassifier): vocab, labels, input roles ids/mask/segment_ids"
