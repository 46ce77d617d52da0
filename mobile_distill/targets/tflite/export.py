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

import re
import shutil
from pathlib import Path

import torch

from ...errors import ConfigError
from .target import SIGNATURE, TARGET
from ...export.artifact import write_vocab
from ...manifest import TensorSpec
from ...export.context import ExportContext, ExportedModel

INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
_FILE = TARGET.model_file


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
    quantization = _quantize(fp32, quantized, context)
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


# The FFN output projection of BERT / DistilBERT (tensor names carry the torch module path). Its
# input is the GELU output, whose outliers ruin int8 activation ranges: it stays dynamic-range.
_FFN_OUTPUT = "BertOutput_output/torch.nn.modules.linear|Linear_lin2"


def _quantize(source: Path, target: Path, context: ExportContext) -> dict:
    """ai-edge-quantizer passes over the fp32 .tflite; fp32 is a plain copy."""
    precision = context.precision
    if precision == "fp32":
        shutil.copyfile(source, target)
        return {"scheme": "none"}
    from ai_edge_quantizer import quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName

    engine = quantizer.Quantizer(str(source))
    calibration = None
    if precision == "fp16":
        # Weights stored as fp16 and cast back on load; compute stays fp32 (no fp16 mask overflow).
        engine.add_weight_only_config(".*", TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                      algorithm_key=AlgorithmName.FLOAT_CASTING)
        details = {"scheme": "fp16-weights", "compute": "fp32"}
    elif precision == "int8-dynamic":  # int8 weights, activations quantized on the fly inside the kernels
        engine.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        details = {"scheme": "int8-dynamic-range", "recipe": "dynamic_wi8_afp32"}
    else:
        details = _static_int8_recipe(engine, TFLOperationName, AlgorithmName)
    if precision == "int8-static":
        # Calibrated under the whole static recipe, before keep_float: with every static op kept float the
        # calibrator would collect no ranges at all, and ai-edge-quantizer then refuses the recipe ("QSVs are
        # required"); extra ranges for ops that end up float are ignored.
        calibration = _calibrate(source, engine, context)
        details["calibration_texts"] = len(context.calibration_texts())
    if precision.startswith("int8"):
        details["kept_float"] = _keep_float(engine, source, context.options.keep_float, TFLOperationName, AlgorithmName)
    engine.quantize(calibration, enable_progress_report=False).export_model(str(target), overwrite=True)
    return {**details, "tool": "ai_edge_quantizer"}


def _keep_float(engine, source: Path, names: tuple[str, ...], op, algorithm) -> list[str]:
    """Leave the ops writing these tensors unquantized (auto-fallback's most sensitive ones).

    ai-edge-quantizer scopes a recipe entry by a regex over the op's output tensor names joined
    with ';' (plus a trailing ';'); the latest matching entry wins, so these go last.
    """
    if not names:
        return []
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as flatbuffer

    graph = flatbuffer.read_model(Path(source)).subgraphs[0]
    known = {flatbuffer.get_tensor_name(tensor) for tensor in graph.tensors}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(f"keep_float: {unknown[0]!r} is not a tensor of this TFLite model; keep_float takes the "
                          f"output tensor names the TFLite layer comparison ranks (mobile-distill diagnose)")
    for name in names:
        engine.update_quantization_recipe(f"^{re.escape(name)};$", op.ALL_SUPPORTED, algorithm_key=algorithm.NO_QUANTIZE)
    return list(names)


def _static_int8_recipe(engine, op, algorithm) -> dict:
    """Calibrated int8 on the fully-connected layers only (measured: 0.993 agreement on a MiniLM BERT).

    The stock static_wi8_ai8 recipe was measured at 0.877 agreement here, and it calibrates the
    mask's fill constant to [0, 0], so the quantized model silently ignores attention_mask.
    Attention matmuls stay float too: XNNPACK takes no int8 BATCH_MATMUL (+15 ms when int8).
    """
    engine.add_static_config(".*", op.FULLY_CONNECTED, activation_num_bits=8, weight_num_bits=8)
    engine.add_dynamic_config(_FFN_OUTPUT, op.FULLY_CONNECTED, num_bits=8)
    engine.add_dynamic_config(".*", op.EMBEDDING_LOOKUP, num_bits=8)  # the table is most of the file
    engine.update_quantization_recipe(".*", op.OUTPUT, algorithm_key=algorithm.NO_QUANTIZE)  # float logits
    return {"scheme": "int8-static", "static_int8": ["FULLY_CONNECTED"], "dynamic_int8": ["FFN output", "EMBEDDING_LOOKUP"],
            "float": ["attention BATCH_MATMUL", "SOFTMAX", "LayerNorm", "GELU", "residual ADD", "logits"],
            "calibration": "global min/max"}


def _calibrate(source: Path, engine, context: ExportContext):
    """Global min/max ranges over real training texts.

    Quantizer.calibrate() merges ranges with a 0.95 moving average, which clipped confident logits
    at ~1.0 when real ones reach 2.1; the Calibrator with min_max_update keeps the true extremes.
    """
    from ai_edge_quantizer import calibrator, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    samples = []
    for text in context.calibration_texts():
        encoded = context.tokenizer([text], padding="max_length", truncation=True, max_length=context.options.seq_len,
                                    return_tensors="np", return_token_type_ids=True)
        samples.append({name: encoded[name].astype("int32") for name in INPUT_NAMES})
    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(engine.get_quantization_recipe())
    runner = calibrator.Calibrator(str(source), num_threads=1, qsv_update_func=qsv_utils.min_max_update)
    runner.calibrate({SIGNATURE: samples}, manager)
    return runner.get_model_qsvs()


def _write_metadata(context: ExportContext, source: Path, target: Path) -> str:
    """MediaPipe / TFLite Task Library metadata: tokenizer (vocab), input roles, labels.

    The metadata schema can only describe a lower-casing WordPiece tokenizer; other models are
    written without metadata, and the manifest says why.
    """
    from .metadata import write_bert_classifier_metadata

    backend = type(context.tokenizer.backend_tokenizer.model).__name__
    if backend != "WordPiece" or not getattr(context.tokenizer, "do_lower_case", False):
        shutil.copyfile(source, target)
        return f"none: TFLite metadata describes lower-casing WordPiece tokenizers only (this is {backend})"
    vocab = source.parent / "metadata_vocab.txt"
    write_vocab(context.tokenizer, vocab)
    write_bert_classifier_metadata(str(source), str(target), str(vocab), list(context.labels),
                                   lower_case=bool(getattr(context.tokenizer, "do_lower_case", False)),
                                   model_name="mobile-distill text classifier")
    vocab.unlink()
    return "BertTokenizer (MediaPipe TextClassifier): vocab, labels, input roles ids/mask/segment_ids"
