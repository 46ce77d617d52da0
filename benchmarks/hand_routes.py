"""Each runtime's documented int8 route, done by hand, beside our artifact: the same student, one run.

For ONNX, TFLite and ExecuTorch this exports our int8-dynamic artifact afresh with the installed code
(`export(student, target, "int8-dynamic", ...)`, default ExportOptions), and builds the route that runtime's own
documentation gives, from what a user has: the student's Hugging Face folder and its tokenizer
(`AutoModelForSequenceClassification` and `AutoTokenizer`, the HF model called directly, no wrapper of ours),
traced on one training text tokenized and padded to the sequence length. Each hand-made file is wrapped as an
artifact folder (manifest.json, tokenizer files, labels.txt; `wrap_artifact`) so that bench's runners load,
score and time both files with the same code.

The hand routes:

- ONNX, https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html
  (a) `torch.onnx.export` of the HF model (named inputs, dynamic batch and sequence axes, opset left at its default)
      then `quantize_dynamic(model_fp32, model_quant)` with its defaults, the page's example.
      The TorchScript exporter (`dynamo=False`): torch's default exporter since 2.9 needs onnxscript, which this
      project does not install.
  (b) the same export, then the page's advice for transformer-based models: onnxruntime's transformer optimizer
      first, `optimize_model(model_type="bert", num_heads, hidden_size)`, as benchmarks/handmade_onnx_route.py
      builds it (`make_handmade_artifact`, which both (a) and (b) use).
- TFLite, the litert-torch README (PyTorch converter) and the ai-edge-quantizer README (Basic Usage):
  `litert_torch.convert(model.eval(), sample)` under `torch.no_grad()`, `.export(...)`, then
  `Quantizer(fp32).load_quantization_recipe(recipe.dynamic_wi8_afp32())` and `.quantize().export_model(...)`.
  The sample goes in as `sample_kwargs` instead of the README's positional tuple: positional samples name the
  signature's inputs args_0, args_1, ..., which bench's runner cannot feed by name. Nothing else changes.
- ExecuTorch, https://docs.pytorch.org/executorch/stable/backends/xnnpack/xnnpack-quantization.html
  (a) the page's PT2E example as written: `XNNPACKQuantizer().set_global(get_symmetric_quantization_config(
      is_per_channel=True))` (is_dynamic left at False: static int8 activations), `torch.export.export(model,
      sample).module()`, `prepare_pt2e`, calibration on training texts ("representative model inputs"),
      `convert_pt2e`, `to_edge_transform_and_lower(torch.export.export(quantized, sample),
      partitioner=[XnnpackPartitioner()]).to_executorch()`.
  (c) (a) with executorch#22065 applied (integer scalars lifted with their own dtype), which (a) fails without in
      the installed release: the route a user has once that fix is released.
  (b) context, not an int8 route: the same lowering without quantization
      (https://docs.pytorch.org/executorch/stable/backends-xnnpack.html), the file a user is left with when (a)
      fails.

Scored on the run's test split in each runtime (accuracy; agreement: argmax equal to the PyTorch student's);
latency batch 1, 1 thread, one median-length test text padded to the sequence length, each model in a process of
its own (`mobile_distill.bench.measure`), the median over interleaved rounds of each round's p50. Verdict per
hand route: met when our p50 / the hand route's p50 <= 1.0 and our agreement >= the hand route's.

    .venv/bin/python benchmarks/hand_routes.py [--run runs/default] [--seq-len 64] [--out DIR] [--no-publish]
"""

from __future__ import annotations

import gc
import inspect
import json
import os
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

RUNTIMES = ("onnx", "tflite", "executorch")
# What the notes show of our manifests' quantization records (the exporters are changing; show what they wrote).
_QUANTIZATION_KEYS = ("scheme", "tool", "weight_type", "per_channel", "recipe", "weights", "activations",
                      "quantized_modules", "quantized_linears", "delegated_nodes", "non_delegated_nodes", "kept_float")


@dataclass
class Built:
    """One model of the comparison: its artifact folder (None when its route failed) and what the route recorded."""

    label: str
    folder: Path | None
    info: dict = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    scores: dict = field(default_factory=dict)  # accuracy, agreement, MB (or error)
    p50_ms: float | None = None
    round_p50s: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class HandRoute:
    runtime: str
    key: str
    label: str  # the table's words for it


HAND_ROUTES = (
    HandRoute("onnx", "onnx-a", "(a) torch.onnx.export + quantize_dynamic defaults"),
    HandRoute("onnx", "onnx-b", "(b) (a) with ORT transformer optimizer first"),
    HandRoute("tflite", "tflite", "litert-torch convert + ai-edge-quantizer dynamic_wi8_afp32"),
    HandRoute("executorch", "executorch-a", "(a) XNNPACKQuantizer doc example (per-channel, static) + XNNPACK"),
    HandRoute("executorch", "executorch-c", "(c) (a) with the upstream one-line fix (executorch#22065) applied"),
    HandRoute("executorch", "executorch-b", "(b) context: XNNPACK lowering, no quantization (fp32)"),
)


# --- what a user has: the HF folder, its tokenizer, one padded sample -----------------------------------------

def user_model(student: Path):
    """The student as a user loads it: the HF classes, no wrapper (eval mode, the HF default attention)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(student)).eval()
    return model, AutoTokenizer.from_pretrained(str(student))


def user_sample(model, tokenizer, text: str, seq_len: int) -> dict:
    """One text tokenized and padded to ``seq_len``, the tensors the model's forward takes, in its argument order
    (DistilBERT takes no token_type_ids; BERT takes them third)."""
    encoded = tokenizer([text], padding="max_length", truncation=True, max_length=seq_len, return_tensors="pt")
    return {name: encoded[name] for name in inspect.signature(model.forward).parameters if name in encoded}


def wrap_artifact(staging: Path, target: str, model_file: str, student: Path, tokenizer, seq_len: int,
                  input_names: list[str], output_name: str, quantization: dict, start: float, precision: str) -> None:
    """Make ``staging`` (holding a hand-made model file) an artifact folder bench's runners load: the tokenizer files
    and labels.txt our exporter writes, and a manifest whose inputs are what the file itself declares (dtypes and
    shapes; names too, except ExecuTorch, which binds by position: there ``input_names`` in export order)."""
    from mobile_distill.export.artifact import tool_versions, write_labels_txt, write_tokenizer_files
    from mobile_distill.hashing import content_sha256, folder_hash
    from mobile_distill.manifest import Manifest, TensorSpec, write_manifest
    from mobile_distill.models import read_labels
    from mobile_distill.targets import TARGETS

    declared = TARGETS[target].read_declared_inputs(staging / model_file)
    if len(declared) != len(input_names):
        raise ValueError(f"{model_file} declares {len(declared)} inputs, the route traced {input_names}")
    inputs = [TensorSpec(name=item.name or name, dtype=item.dtype, shape=item.shape)
              for item, name in zip(declared, input_names)]
    static = all(isinstance(axis, int) for spec in inputs for axis in spec.shape)
    labels = tuple(read_labels(student))
    config = json.loads((student / "config.json").read_text())
    manifest = Manifest(
        target=target, precision=precision, model_file=model_file, model_sha256=content_sha256(staging / model_file),
        inputs=tuple(inputs),
        output=TensorSpec(name=output_name, dtype="float32", shape=(1 if static else "batch", len(labels))),
        sequence_length=seq_len, static_shapes=static, labels=labels,
        tokenizer=write_tokenizer_files(staging, tokenizer, seq_len),
        source={"path": str(student), "hash": folder_hash(student), "model_type": config.get("model_type")},
        quantization=quantization, options=None, tool_versions=tool_versions(),
        export_seconds=round(time.perf_counter() - start, 2),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_labels_txt(staging, labels)
    write_manifest(staging, manifest)


# --- the hand routes ------------------------------------------------------------------------------------------

def onnx_fp32_by_hand(student: Path, out: Path, text: str, seq_len: int) -> tuple[Path, dict]:
    """torch.onnx.export of the HF model, as an onnx/fp32 artifact folder (the start of both ONNX routes)."""
    import onnx
    import torch

    from mobile_distill.atomic import atomic_folder

    start = time.perf_counter()
    model, tokenizer = user_model(student)
    sample = user_sample(model, tokenizer, text, seq_len)
    names = list(sample)
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    with atomic_folder(out) as staging, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(model, tuple(sample.values()), str(staging / "model.onnx"), input_names=names,
                          output_names=["logits"], dynamic_axes=axes, dynamo=False)
        opsets = onnx.load(str(staging / "model.onnx"), load_external_data=False).opset_import
        opset = next(item.version for item in opsets if item.domain in ("", "ai.onnx"))
        info = {"scheme": "none", "route": "hand-made: torch.onnx.export (TorchScript exporter) of the HF model",
                "opset": opset, "attention": model.config._attn_implementation}
        wrap_artifact(staging, "onnx", "model.onnx", student, tokenizer, seq_len, names, "logits", info, start, "fp32")
    return out, info


def onnx_by_hand(fp32: Path, student: Path, out: Path, fuse: bool) -> tuple[Path, dict]:
    """quantize_dynamic defaults on the hand export, after onnxruntime's transformer optimizer when ``fuse``."""
    from handmade_onnx_route import make_handmade_artifact  # benchmarks/handmade_onnx_route.py

    return make_handmade_artifact(fp32, out, student=student, fuse=fuse)


def tflite_by_hand(student: Path, out: Path, text: str, seq_len: int) -> tuple[Path, dict]:
    import litert_torch
    import torch
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    from mobile_distill.atomic import atomic_folder
    from mobile_distill.targets import TARGETS

    start = time.perf_counter()
    model, tokenizer = user_model(student)
    sample = user_sample(model, tokenizer, text, seq_len)
    model_file = TARGETS["tflite"].model_file
    with atomic_folder(out) as staging:
        fp32 = staging / "fp32.tflite"
        with torch.no_grad():
            litert_torch.convert(model.eval(), sample_kwargs=sample).export(str(fp32))
        engine = quantizer.Quantizer(str(fp32))
        engine.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        engine.quantize().export_model(str(staging / model_file))
        fp32.unlink()
        signatures = Interpreter(model_path=str(staging / model_file)).get_signature_list()
        signature = signatures.get("serving_default") or next(iter(signatures.values()))
        if len(signature["outputs"]) != 1:
            raise ValueError(f"the converted model has outputs {signature['outputs']}; the runner reads one")
        info = {"scheme": "int8-dynamic-range", "route": "hand-made: litert_torch.convert, then ai_edge_quantizer",
                "recipe": "dynamic_wi8_afp32", "tool": "ai_edge_quantizer",
                "attention": model.config._attn_implementation}
        wrap_artifact(staging, "tflite", model_file, student, tokenizer, seq_len, list(sample), signature["outputs"][0],
                      info, start, "int8-dynamic")
    return out, info


def _quantizer_with_upstream_fix():
    """XNNPACKQuantizer whose scalar lifting keeps each node's dtype: executorch#22065's one-line change
    (``torch.tensor(arg, dtype=node's output dtype)`` for ``torch.tensor(float(arg))``), merged upstream after the
    installed release. Written here because the installed quantizer has no switch for it; the rest of its
    transform_for_annotation is the installed function, run on a graph whose integer scalars are already tensors."""
    import torch
    from executorch.backends.xnnpack.quantizer import xnnpack_quantizer_utils as utils
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

    def lift_integer_scalars(model):
        for node in model.graph.nodes:
            if node.op != "call_function" or node.target not in (torch.ops.aten.add.Tensor, torch.ops.aten.mul.Tensor):
                continue
            dtype = node.meta["val"].dtype
            if dtype.is_floating_point:
                continue  # the installed function lifts these as it always did
            args = list(node.args)
            for i, arg in enumerate(args):
                if isinstance(arg, torch.fx.Node):
                    continue
                name = utils.get_new_attr_name_with_prefix("_tensor_constant_")(model)
                constant = torch.tensor(arg, dtype=dtype)
                model.register_buffer(name, constant)
                with model.graph.inserting_before(node):
                    args[i] = model.graph.create_node("get_attr", name, (), {})
                    args[i].meta["val"] = node.meta["val"].fake_mode.from_tensor(constant, static_shapes=True)
            node.args = tuple(args)
        model.recompile()
        return model

    class FixedQuantizer(XNNPACKQuantizer):
        def transform_for_annotation(self, model):
            return super().transform_for_annotation(lift_integer_scalars(model))

    return FixedQuantizer()


def executorch_by_hand(student: Path, out: Path, texts: list[str], seq_len: int, quantize: bool,
                       upstream_fix: bool = False) -> tuple[Path, dict]:
    """The XNNPACK quantization page's PT2E example on the HF model (``quantize``), else its plain lowering;
    ``upstream_fix``: with executorch#22065 applied to the quantizer. ``texts``: the first is the export sample,
    all of them calibrate."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    from mobile_distill.atomic import atomic_folder
    from mobile_distill.targets import TARGETS

    start = time.perf_counter()
    model, tokenizer = user_model(student)
    names = list(user_sample(model, tokenizer, texts[0], seq_len))
    sample_inputs = tuple(user_sample(model, tokenizer, texts[0], seq_len).values())
    info = {"scheme": "none", "route": "hand-made: torch.export, to_edge_transform_and_lower(XnnpackPartitioner)",
            "attention": model.config._attn_implementation}
    step = "torch.export.export"
    try:
        program = torch.export.export(model, sample_inputs)
        if quantize:
            from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
                XNNPACKQuantizer,
                get_symmetric_quantization_config,
            )
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

            step = "XNNPACKQuantizer set-up"
            qparams = get_symmetric_quantization_config(is_per_channel=True)
            quantizer = _quantizer_with_upstream_fix() if upstream_fix else XNNPACKQuantizer()
            quantizer.set_global(qparams)
            step = "prepare_pt2e"
            prepared_model = prepare_pt2e(program.module(), quantizer)
            step = "calibration (the prepared model run on training texts)"
            for text in texts:
                prepared_model(*user_sample(model, tokenizer, text, seq_len).values())
            step = "convert_pt2e"
            quantized_model = convert_pt2e(prepared_model)
            step = "torch.export.export of the quantized model"
            program = torch.export.export(quantized_model, sample_inputs)
            info.update(scheme="int8-static", tool="XNNPACKQuantizer (PT2E)", weights="int8 per-channel symmetric",
                        activations="int8 static (calibrated)", calibration_texts=len(texts),
                        route="hand-made: the XNNPACK quantization page's PT2E example, then XnnpackPartitioner")
        step = "to_edge_transform_and_lower"
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        delegation = get_delegation_info(edge.exported_program().graph_module)
        step = "to_executorch"
        buffer = edge.to_executorch().buffer
    except Exception as error:
        raise RouteError(step, error) from error
    info.update(backend="XNNPACK", delegated_nodes=delegation.num_delegated_nodes,
                non_delegated_nodes=delegation.num_non_delegated_nodes)
    model_file = TARGETS["executorch"].model_file
    with atomic_folder(out) as staging:
        (staging / model_file).write_bytes(buffer)
        wrap_artifact(staging, "executorch", model_file, student, tokenizer, seq_len, names, "logits", info, start,
                      "int8-static" if quantize else "fp32")
    return out, info


class RouteError(RuntimeError):
    """A route failed at a named step."""

    def __init__(self, step: str, error: Exception):
        super().__init__(f"{step}: {_first_line(error)}")
        self.step = step


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


# --- building, scoring, timing --------------------------------------------------------------------------------

def build(label: str, make, log: Path) -> Built:
    """Run one route with its native output (converter banners, progress bars) sent to ``log``; a failure is
    recorded (its traceback in the log), not raised."""
    from mobile_distill import ui

    start = time.perf_counter()
    with ui.native_output_to(log):
        print(f"=== {label}", flush=True)
        try:
            folder, info = make()
            return Built(label, folder, info, seconds=time.perf_counter() - start)
        except Exception as error:
            traceback.print_exc()
            reason = str(error) if isinstance(error, RouteError) else _first_line(error)
            return Built(label, None, error=reason, seconds=time.perf_counter() - start)
        finally:
            gc.collect()


def build_all(run: Path, out: Path, seq_len: int, train: list[str], test: list[str],
              calibration: int) -> tuple[dict[str, Built], dict[str, Built]]:
    """(ours by runtime, hand routes by key), each a fresh folder under ``out``."""
    from mobile_distill.export import ExportOptions, export

    student, log = run / "student", out / "hand-routes.log"
    out.mkdir(parents=True, exist_ok=True)
    ours = {}
    for runtime in RUNTIMES:
        print(f"exporting ours: {runtime} int8-dynamic", flush=True)
        folder = out / f"ours-{runtime}-int8-dynamic-s{seq_len}"
        ours[runtime] = build(f"ours {runtime}", lambda: (export(student, runtime, "int8-dynamic", folder,
                                                                ExportOptions(seq_len=seq_len), train, test), {}), log)
        if ours[runtime].folder:
            ours[runtime].info = _manifest(ours[runtime].folder).quantization
    hand: dict[str, Built] = {}
    print("building the hand routes: onnx", flush=True)
    fp32 = build("hand onnx fp32 export", lambda: onnx_fp32_by_hand(student, out / f"hand-onnx-fp32-s{seq_len}",
                                                                     train[0], seq_len), log)
    for key, fuse in (("onnx-a", False), ("onnx-b", True)):
        if fp32.folder is None:
            hand[key] = Built(key, None, error=f"torch.onnx.export: {fp32.error}")
        else:
            folder = out / f"hand-{key}-int8-s{seq_len}"
            hand[key] = build(f"hand {key}", lambda: onnx_by_hand(fp32.folder, student, folder, fuse), log)
            hand[key].info["export"] = fp32.info
            hand[key].seconds += fp32.seconds
    print("building the hand routes: tflite", flush=True)
    hand["tflite"] = build("hand tflite", lambda: tflite_by_hand(
        student, out / f"hand-tflite-int8-s{seq_len}", train[0], seq_len), log)
    print("building the hand routes: executorch", flush=True)
    hand["executorch-a"] = build("hand executorch-a", lambda: executorch_by_hand(
        student, out / f"hand-executorch-int8-s{seq_len}", train[:calibration], seq_len, quantize=True), log)
    hand["executorch-c"] = build("hand executorch-c", lambda: executorch_by_hand(
        student, out / f"hand-executorch-fixed-int8-s{seq_len}", train[:calibration], seq_len, quantize=True,
        upstream_fix=True), log)
    hand["executorch-b"] = build("hand executorch-b", lambda: executorch_by_hand(
        student, out / f"hand-executorch-fp32-s{seq_len}", train[:1], seq_len, quantize=False), log)
    return ours, hand


def _manifest(folder: Path):
    from mobile_distill.manifest import read_manifest

    return read_manifest(folder)


def score(built: Built, test: list[str], labels: np.ndarray, reference: np.ndarray, log: Path) -> None:
    """Accuracy and agreement with the PyTorch student on the test split, in the file's own runtime (2 threads);
    the runtimes' own messages go to ``log``."""
    from mobile_distill import ui
    from mobile_distill.runners import load_runner

    if built.folder is None:
        return
    with ui.native_output_to(log):
        try:
            runner = load_runner(built.folder, threads=2)
            predicted = runner.predict(test).argmax(-1)
            built.scores = {"accuracy": float(np.mean(predicted == labels)),
                            "agreement": float(np.mean(predicted == reference.argmax(-1))),
                            "mb": (built.folder / runner.manifest.model_file).stat().st_size / 1e6}
            del runner
        except Exception as error:
            traceback.print_exc()
            built.error = f"scoring: {_first_line(error)}"
        gc.collect()


def time_all(models: dict[str, Built], text: str, seq_len: int, rounds: int, runs: int, warmup: int) -> None:
    from handmade_onnx_route import interleaved_p50_ms  # benchmarks/handmade_onnx_route.py

    folders = {name: built.folder for name, built in models.items() if built.folder is not None and not built.error}
    errors: dict[str, str] = {}
    per_round: dict[str, list[float]] = {}
    p50 = interleaved_p50_ms(folders, text, seq_len, rounds, runs, warmup, errors, per_round)
    for name, built in models.items():
        built.p50_ms, built.round_p50s = p50.get(name), per_round.get(name, [])
        if name in errors:
            built.error = f"timing: {errors[name]}"


# --- the table --------------------------------------------------------------------------------------------------

COLUMNS = ["runtime", "hand route", "ours MB", "hand MB", "ours test accuracy", "hand test accuracy",
           "ours agreement", "hand agreement", "ours p50 ms", "hand p50 ms", "ours/hand p50",
           "ours/hand in each round, min - max", "verdict: ours/hand <= 1.0 at equal or better agreement"]


def verdict(ours: Built, hand: Built) -> str:
    if ours.error or ours.p50_ms is None:
        return f"not measured (ours: {ours.error or 'no timing'})"
    if hand.error or hand.p50_ms is None:
        return f"not measured (hand route failed: {hand.error or 'no timing'})"
    faster = ours.p50_ms / hand.p50_ms <= 1.0
    agrees = ours.scores["agreement"] >= hand.scores["agreement"]
    if faster and agrees:
        return "met"
    return "missed (" + " and ".join(reason for reason, bad in (("slower", not faster), ("lower agreement", not agrees))
                                     if bad) + ")"


def row(route: HandRoute, ours: Built, hand: Built) -> str:
    def cell(built: Built, key: str, digits: int) -> str:
        value = built.scores.get(key)
        return "" if value is None else f"{value:.{digits}f}"

    ratio = (f"{ours.p50_ms / hand.p50_ms:.2f}" if ours.p50_ms and hand.p50_ms else "")
    # The two were timed one after the other in each round: their ratio there is what the machine's other load
    # disturbs least, and its range says whether the median ratio is resolved.
    paired = [a / b for a, b in zip(ours.round_p50s, hand.round_p50s)] if ours.p50_ms and hand.p50_ms else []
    return "| " + " | ".join([
        route.runtime, route.label, cell(ours, "mb", 1), cell(hand, "mb", 1), cell(ours, "accuracy", 4),
        cell(hand, "accuracy", 4), cell(ours, "agreement", 4), cell(hand, "agreement", 4),
        f"{ours.p50_ms:.2f}" if ours.p50_ms else "", f"{hand.p50_ms:.2f}" if hand.p50_ms else "", ratio,
        f"{min(paired):.2f} - {max(paired):.2f}" if paired else "", verdict(ours, hand)]) + " |"


def _quantization_summary(info: dict) -> str:
    return json.dumps({key: info[key] for key in _QUANTIZATION_KEYS if key in info})


def notes(ours: dict[str, Built], hand: dict[str, Built]) -> list[str]:
    lines = []
    for runtime, built in ours.items():
        lines.append(f"Ours, {runtime}: " + (f"export failed: {built.error}" if built.folder is None and built.error
                                             else _quantization_summary(built.info)) + f" ({built.seconds:.0f} s).  ")
    for route in HAND_ROUTES:
        built = hand[route.key]
        if built.folder is None:
            lines.append(f"Hand {route.key}: FAILED at {built.error} ({built.seconds:.0f} s).  ")
            continue
        info = dict(built.info)
        details = []
        if info.get("export"):
            details.append(f"export opset {info['export'].get('opset')}, attention {info['export'].get('attention')}")
        if info.get("optimizer"):
            fusions = ", ".join(f"{op} {n}" for op, n in info["optimizer"]["fusions"].items()) or "none"
            details.append(f"optimizer fusions: {fusions}; attention fused: {info['optimizer']['attention_fused']}")
        if "weight_type" in info:
            details.append(f"quantize_dynamic weights {info['weight_type']}, "
                           f"{'per-channel' if info.get('per_channel') else 'per-tensor'}, reduce_range "
                           f"{info.get('reduce_range')}")
        if info.get("defaults_failed_with"):
            details.append(f"quantize_dynamic with defaults alone raised \"{info['defaults_failed_with']}...\"; "
                           "the route passes extra_options DefaultTensorType=FLOAT, as that message says")
        if "delegated_nodes" in info:
            details.append(f"attention {info.get('attention')}, XNNPACK delegated {info['delegated_nodes']} nodes, "
                           f"{info['non_delegated_nodes']} left on portable kernels")
        elif "recipe" in info:
            details.append(f"recipe {info['recipe']}, attention {info.get('attention')}")
        if built.error:
            details.append(f"FAILED at {built.error}")
        lines.append(f"Hand {route.key}: " + "; ".join(details) + f" ({built.seconds:.0f} s).  ")
    spread = [f"{built.label} {' / '.join(f'{value:.2f}' for value in built.round_p50s)}"
              for built in [*ours.values(), *hand.values()] if built.round_p50s]
    lines.append("p50 ms of each round, in order (the table gives their median): " + "; ".join(spread) + ".  ")
    if any("tensors used as indices" in (built.error or "") for built in hand.values()):
        lines.append(
            "Why ExecuTorch (a) fails: XNNPACKQuantizer's transform_for_annotation lifts the scalar of every "
            "aten.add/mul to a float32 constant, so the integer indices `torch.arange(n) + offset` that transformers' "
            "create_bidirectional_mask builds (masking_utils) turn float and the prepared model cannot index with them "
            f"(pytorch/executorch#22062, fixed upstream by #22065; installed executorch {_version('executorch')}). "
            "Our exporter passes a prepared 4D mask that bypasses that code. Route (c) is (a) with #22065's one-line "
            "change applied to the quantizer (hand_routes._quantizer_with_upstream_fix): what a user gets from the "
            "next executorch release.")
    return lines


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def about(run: Path, out: Path, seq_len: int, rounds: int, runs: int, test: list[str], labels, reference,
          calibration: int, phases: dict[str, float], load: tuple[float, float]) -> list[str]:
    from common import cpu_description  # benchmarks/common.py

    took = ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in phases.items())
    versions = ", ".join(f"{name} {_version(name)}" for name in ("torch", "transformers", "onnxruntime", "litert-torch",
                                                                 "ai-edge-quantizer", "ai-edge-litert", "executorch"))
    return [
        f"Student `{run / 'student'}`, {len(test)} test rows, sequence length {seq_len}; PyTorch student test accuracy "
        f"{np.mean(reference.argmax(-1) == labels):.4f}. Ours: `export(student, target, \"int8-dynamic\", ...)` with "
        f"default ExportOptions, exported afresh in this run. Hand routes: each runtime's documented route from the HF "
        f"folder and its tokenizer (the script's docstring: settings and doc pages); ExecuTorch (a) and (c) calibrate on "
        f"{calibration} training texts. Files in the --out folder. Accuracy and agreement (argmax equal to the PyTorch "
        f"student's): each file in its runtime on the test split. Latency: batch 1, 1 thread, a median-length test "
        f"text padded to {seq_len} tokens, median over {rounds} interleaved rounds of the p50 of {runs} runs, each "
        f"round in a fresh process (mobile_distill.bench.measure); the machine's 1-minute load average was "
        f"{load[0]:.1f} when timing began and {load[1]:.1f} when it ended. Whole script "
        f"{sum(phases.values()) / 60:.1f} min ({took}). {cpu_description()} {versions}."]


def main() -> int:
    from common import load_student_run, publish, run_argument_parser  # benchmarks/common.py

    parser = run_argument_parser(__doc__.splitlines()[0])
    parser.set_defaults(run="runs/default", seq_len=64)
    parser.add_argument("--out", help="folder for every file made here (default: a temporary folder, removed at the "
                                      "end)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (default: 3)")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per round (default: 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs before each round's timing (default: 20)")
    parser.add_argument("--calibration-texts", type=int, default=200,
                        help="training texts that calibrate the ExecuTorch static route (default: 200)")
    parser.add_argument("--no-publish", action="store_true", help="print the section, do not append it to RESULTS.md")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    run = Path(args.run)
    scratch = None if args.out else tempfile.TemporaryDirectory(prefix="hand-routes-")
    out = Path(args.out or scratch.name)
    try:
        train, test, labels, reference = load_student_run(run, args.seq_len)
        phases = {"reference": time.perf_counter() - started}
        ours, hand = build_all(run, out, args.seq_len, train, test, args.calibration_texts)
        phases["builds"] = time.perf_counter() - started - sum(phases.values())
        models = {}  # each runtime's models one after the other, so a round times them close together
        for runtime in RUNTIMES:
            models[f"ours {runtime}"] = ours[runtime]
            models |= {f"hand {route.key}": hand[route.key] for route in HAND_ROUTES if route.runtime == runtime}
        print("scoring on the test split", flush=True)
        for built in models.values():
            score(built, test, labels, reference, out / "hand-routes.log")
        phases["scoring"] = time.perf_counter() - started - sum(phases.values())
        print(f"timing: {args.rounds} rounds of {args.runs} runs per model", flush=True)
        load_before = os.getloadavg()[0]  # other work on the machine slows every model
        time_all(models, sorted(test, key=len)[len(test) // 2], args.seq_len, args.rounds, args.runs, args.warmup)
        phases["timing"] = time.perf_counter() - started - sum(phases.values())
        load = (load_before, os.getloadavg()[0])
        rows = [row(route, ours[route.runtime], hand[route.key]) for route in HAND_ROUTES]
        publish("each runtime's documented int8 route by hand vs ours, same student",
                about(run, out if args.out else Path("(a temporary folder)"), args.seq_len, args.rounds, args.runs,
                      test, labels, reference, args.calibration_texts, phases, load),
                COLUMNS, rows, notes(ours, hand), append=not args.no_publish)
    finally:
        if scratch is not None:
            scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
