"""The hand-made ONNX int8 route people use instead of this tool, as an artifact folder bench can measure.

The route, as onnxruntime's BERT tutorials write it:

    model = optimizer.optimize_model("model.onnx", model_type="bert", num_heads=H, hidden_size=D)
    model.save_model_to_file("optimized.onnx")
    quantize_dynamic("optimized.onnx", "model.onnx")

- `optimize_model`: opt_level left at its default (None, which onnxruntime 1.32 turns into 1 for "bert":
  onnxruntime's basic graph optimizations, then its Python fusions), default FusionOptions, num_heads and
  hidden_size from the student's config.json.
- `quantize_dynamic`: default settings. In onnxruntime 1.32 they are what the tutorials assume (no change):
  weight_type=QInt8, per_channel=False (per-tensor), reduce_range=False, every op type in IntegerOpsRegistry
  (MatMul, Gather, Attention, ...), MatMulConstBOnly=True. No `quant_pre_process` first (the tutorials skip it;
  our exporter runs it). The weight settings written to the manifest are read from the installed signature.
  On the fused model 1.32's defaults raise "Unable to find data type ... You may use extra_options
  `DefaultTensorType`"; the route then does what that message says (see `quantize_like_a_user`).

Importable from the other benchmark scripts (`from handmade_onnx_route import make_handmade_artifact`). Run as a
script, it builds the folder from a run's fp32 ONNX artifact and measures it beside our int8-dynamic artifact:

    .venv/bin/python benchmarks/handmade_onnx_route.py [--run runs/bench-distill] [--seq-len 64]
"""

from __future__ import annotations

import inspect
import json
import shutil
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from mobile_distill.export.artifact import tool_versions
from mobile_distill.hashing import content_sha256
from mobile_distill.manifest import Manifest, TensorSpec, read_manifest, write_manifest
from mobile_distill.atomic import atomic_folder

MODEL_TYPE = "bert"  # what the tutorials pass for BERT and DistilBERT alike (onnxruntime has no "distilbert" type)
_NOT_COPIED = ("model.onnx", "export.log")  # the fp32 export's log describes a file this folder does not hold


def heads_and_hidden(student: Path) -> tuple[int, int]:
    """(num_heads, hidden_size) from a HF config.json: DistilBERT's n_heads/dim or BERT's names."""
    config = json.loads((Path(student) / "config.json").read_text())
    heads = config.get("num_attention_heads", config.get("n_heads"))
    hidden = config.get("hidden_size", config.get("dim"))
    if not heads or not hidden:
        raise ValueError(f"{student}/config.json has no num_attention_heads/n_heads and hidden_size/dim; "
                         "pass the HF folder of a BERT-family classifier as student=")
    return int(heads), int(hidden)


def optimize(model_path: Path, num_heads: int, hidden_size: int, opt_level: int | None = None, options=None):
    """onnxruntime's transformer optimizer as a user calls it; returns (optimized OnnxModel, fused op counts)."""
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(str(model_path), model_type=MODEL_TYPE, num_heads=num_heads,
                                     hidden_size=hidden_size, opt_level=opt_level, optimization_options=options)
    return model, model.get_fused_operator_statistics()


def quantize_dynamic_defaults() -> dict:
    """The weight settings `quantize_dynamic` uses when called without them, read from the installed version."""
    from onnxruntime.quantization import quantize_dynamic

    parameters = inspect.signature(quantize_dynamic).parameters
    return {"weight_type": parameters["weight_type"].default.name.lower(),  # QuantType.QInt8 -> "qint8"
            "per_channel": parameters["per_channel"].default, "reduce_range": parameters["reduce_range"].default}


def declared_inputs(model_path: Path) -> tuple[TensorSpec, ...]:
    """The inputs the ONNX file declares (names, order, dtypes, dynamic axes by name), as manifest specs,
    read by the ONNX target's own reader (the one bench's contract check uses)."""
    from mobile_distill.targets import TARGETS

    specs = []
    for item in TARGETS["onnx"].read_declared_inputs(model_path):
        if item.dtype not in ("int32", "int64", "float32", "float16"):
            raise ValueError(f"{model_path}: input {item.name} has dtype {item.dtype}, which the manifest cannot describe")
        specs.append(TensorSpec(name=item.name, dtype=item.dtype, shape=item.shape))
    return tuple(specs)


def make_handmade_artifact(onnx_fp32_artifact: Path, out: Path, *, student: Path | None = None,
                           fuse: bool = True) -> tuple[Path, dict]:
    """Build an artifact folder at `out` (copy of the fp32 artifact folder with model.onnx replaced by the
    optimized+quantized model, manifest.json updated: precision "int8-dynamic", quantization dict describing
    the route: optimizer fusions applied (counts from optimizer.get_fused_operator_statistics()), weight type,
    per_channel), written atomically (mobile_distill.atomic.atomic_folder). Returns (folder, info).

    ``student``: the HF folder whose config.json gives num_heads/hidden_size; default: the manifest's source path.
    ``fuse=False`` skips the optimizer (the ablation: the same quantize_dynamic call on the unfused graph).
    The manifest's inputs are what the written file declares; ``info["inputs_changed"]`` says whether the
    optimizer or the quantizer changed them from the fp32 manifest's.
    """
    source, out = Path(onnx_fp32_artifact), Path(out)
    fp32 = read_manifest(source)
    if fp32.target != "onnx" or fp32.precision != "fp32":
        raise ValueError(f"{source}: a {fp32.target}/{fp32.precision} artifact; the hand-made route starts from an "
                         "onnx/fp32 one (mobile-distill export --target onnx --precision fp32)")
    num_heads, hidden_size = heads_and_hidden(Path(student or fp32.source["path"]))
    start = time.perf_counter()
    with atomic_folder(out) as staging:
        for file in source.iterdir():
            if file.is_file() and file.name not in _NOT_COPIED:
                shutil.copy2(file, staging / file.name)
        info = _run_route(source / fp32.model_file, staging, num_heads, hidden_size, fuse)
        inputs = declared_inputs(staging / "model.onnx")
        info["inputs_changed"] = [s.model_dump() for s in inputs] != [s.model_dump() for s in fp32.inputs]
        info["from"] = str(source)
        manifest = Manifest.model_validate({
            **fp32.model_dump(), "precision": "int8-dynamic", "model_file": "model.onnx",
            "model_sha256": content_sha256(staging / "model.onnx"),  # not the fp32 file's: bench checks it first
            "inputs": [s.model_dump() for s in inputs],  # what the file declares, changed or not
            "quantization": info,
            "options": None,  # not made by our exporter: no ExportOptions would reproduce it
            "tool_versions": tool_versions(), "export_seconds": round(time.perf_counter() - start, 2),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        write_manifest(staging, manifest)
    return out, info


def _run_route(fp32_model: Path, staging: Path, num_heads: int, hidden_size: int, fuse: bool) -> dict:
    """Optimizer (unless ``fuse`` is False), then quantize_dynamic, into staging/model.onnx; the route's record."""
    from onnxruntime.transformers.optimizer import MODEL_TYPES

    optimizer_info = None
    quantize_from = fp32_model
    if fuse:
        optimized, fusions = optimize(fp32_model, num_heads, hidden_size)
        quantize_from = staging / "optimized.onnx"
        optimized.save_model_to_file(str(quantize_from))
        optimizer_info = {"model_type": MODEL_TYPE, "num_heads": num_heads, "hidden_size": hidden_size,
                          "opt_level": MODEL_TYPES[MODEL_TYPE][2], "fusion_options": "default",
                          "fusions": {op: n for op, n in fusions.items() if n},
                          "attention_fused": bool(fusions.get("Attention") or fusions.get("MultiHeadAttention"))}
    quantization_fix = quantize_like_a_user(quantize_from, staging / "model.onnx")
    if fuse:
        quantize_from.unlink()
    return {
        "scheme": "int8-dynamic",
        "route": ("hand-made: " + ("onnxruntime.transformers.optimizer.optimize_model, then " if fuse else "")
                  + "onnxruntime.quantization.quantize_dynamic with default weight settings (see extra_options)"),
        "optimizer": optimizer_info,
        **quantize_dynamic_defaults(),
        **quantization_fix,
        "quant_pre_process": False,
        "op_counts": dict(sorted(Counter(node.op_type for node in _nodes(staging / "model.onnx")).items())),
    }


def quantize_like_a_user(optimized: Path, out: Path) -> dict:
    """`quantize_dynamic` with default settings; if that fails the way its own message says to fix, the fix.

    onnxruntime 1.32 refuses an optimizer-fused model with defaults: ONNX shape inference knows no types past the
    com.microsoft ops (SkipLayerNormalization, BiasGelu), and the error says to pass
    extra_options DefaultTensorType=FLOAT. A user does what it says; the returned dict records whether it was needed.
    """
    import onnx
    from onnxruntime.quantization import quantize_dynamic

    try:
        quantize_dynamic(str(optimized), str(out))
        return {"extra_options": {}}
    except RuntimeError as error:
        if "DefaultTensorType" not in str(error):
            raise
        first_error = str(error).split(". ")[0]
    quantize_dynamic(str(optimized), str(out), extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return {"extra_options": {"DefaultTensorType": "FLOAT"}, "defaults_failed_with": first_error}


def _nodes(model_path: Path):
    import onnx

    return onnx.load(str(model_path), load_external_data=False).graph.node


def attention_fusion_by_options(model_path: Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    """Attention nodes fused under the settings a user tries when the default reports "Attention not fused"."""
    from onnxruntime.transformers.fusion_options import FusionOptions

    raw_mask = FusionOptions(MODEL_TYPE)
    raw_mask.use_raw_attention_mask(True)
    multi_head = FusionOptions(MODEL_TYPE)
    multi_head.use_multi_head_attention = True
    tries = {"default (opt_level 1)": {}, "opt_level=0": {"opt_level": 0}, "opt_level=2": {"opt_level": 2},
             "opt_level=99": {"opt_level": 99}, "use_raw_attention_mask": {"options": raw_mask},
             "use_multi_head_attention": {"options": multi_head}}
    counts = {}
    for label, settings in tries.items():
        _, fusions = optimize(model_path, num_heads, hidden_size, **settings)
        counts[label] = fusions.get("Attention", 0) + fusions.get("MultiHeadAttention", 0)
    auto = optimize(model_path, 0, 0)[1]  # num_heads/hidden_size 0: let the optimizer detect them
    counts["num_heads=0, hidden_size=0"] = auto.get("Attention", 0) + auto.get("MultiHeadAttention", 0)
    return counts


def _accuracy_row(name: str, folder: Path, test, labels, reference_runner, reference_logits) -> tuple[str, list]:
    """Cells of one model: scheme, MB, accuracy, agreement, max logit diff, bench's contract check, gate 2."""
    import numpy as np

    from mobile_distill.bench.contract import check_contract
    from mobile_distill.runners import load_runner

    runner = load_runner(folder, threads=2)
    contract = check_contract(runner, reference_runner, test)
    failed = [f"{check.name}: {check.detail}" for check in contract if not check.ok]
    predicted = runner.predict(test)
    accuracy = float(np.mean(predicted.argmax(-1) == labels))
    agreement = float(np.mean(predicted.argmax(-1) == reference_logits.argmax(-1)))
    quantization = runner.manifest.quantization
    cells = [name, quantization.get("weight_type", "-"),
             {True: "per-channel", False: "per-tensor"}.get(quantization.get("per_channel"), "-"),
             f"{(folder / runner.manifest.model_file).stat().st_size / 1e6:.1f}", f"{accuracy:.4f}", f"{agreement:.4f}",
             f"{np.abs(predicted - reference_logits).max():.3f}", "ok" if not failed else "FAILED: " + "; ".join(failed),
             _gate2(runner.manifest.precision, float(np.mean(reference_logits.argmax(-1) == labels)), accuracy, agreement)]
    return name, cells


def _gate2(precision: str, reference_accuracy: float, accuracy: float, agreement: float) -> str:
    """Gate 2's verdict at its default thresholds (bench/gate2.py), without the teacher-retention leg."""
    from mobile_distill.config import Gate2Config

    gate = Gate2Config()
    reasons = []
    if 100 * (reference_accuracy - accuracy) > gate.max_accuracy_drop[precision]:
        reasons.append(f"drop > {gate.max_accuracy_drop[precision]} points")
    if agreement < gate.min_agreement[precision]:
        reasons.append(f"agreement < {gate.min_agreement[precision]}")
    return "FAIL: " + ", ".join(reasons) if reasons else "PASS"


def interleaved_p50_ms(folders: dict[str, Path], text: str, seq_len: int, rounds: int, runs: int, warmup: int,
                       errors: dict[str, str] | None = None,
                       per_round: dict[str, list[float]] | None = None) -> dict[str, float]:
    """Median over interleaved rounds of each model's p50 (batch 1, 1 thread, its own process per round).

    With ``errors``, a model whose timing process fails is recorded there (its last error line) and left out of
    the later rounds and the result, instead of ending the whole measurement. ``per_round`` receives each model's
    p50 of every round, in order (the spread behind the median).
    """
    import numpy as np

    from mobile_distill.bench.measure import measure_performance
    from mobile_distill.errors import ModelError

    samples: dict[str, list[float]] = {name: [] for name in folders}
    for _ in range(rounds):  # interleaved, so load from other users of the machine hits every model alike
        for name, folder in folders.items():
            if errors is not None and name in errors:
                continue
            try:
                samples[name].append(measure_performance(folder, text, (1,), runs, warmup, seq_len).latency[0].p50_ms)
            except ModelError as error:
                if errors is None:
                    raise
                errors[name] = str(error)
    if per_round is not None:
        per_round.update(samples)
    failed = errors or {}
    return {name: float(np.median(values)) for name, values in samples.items() if values and name not in failed}


# How the attention fusion fails on our fp32 graph, found by matching onnxruntime 1.32's fusion_attention.py patterns
# against it (transformers 5 SDPA attention as the TorchScript exporter writes it, ClassifierWrapper's mask).
# `attention_fusion_by_export` measures which of the two causes is enough on its own.
WHY_NO_ATTENTION = (
    "How the attention pattern misses on our graph (onnxruntime 1.32 fusion_attention.py): from SDPA, (1) a no-op "
    "Reshape [batch,12,seq,32] sits between the attention-output MatMul and its Transpose, so the "
    "Add-MatMul-Reshape-Transpose-MatMul anchor fails (the optimizer removes that Reshape only after the attention "
    "pass), and (2) the softmax scale is folded into two constant Muls (32^-0.25) on Q and on K^T before QK^T, "
    "while the patterns want Div/Mul after QK^T or, for SDPA, a Mul fed by a Sqrt node; from our wrapper, (3) the "
    "mask is Where(Cast(Unsqueeze(Unsqueeze(attention_mask))), 0, -1e4) added to the scores, which no mask pattern "
    "(Mul-Sub-Cast-Unsqueeze, Where-Cast-Sub-Expand, transformers 5 Where-Expand-And) matches (the optimizer logs "
    "'failed to match mask path' for it).")


def attention_fusion_by_export(student: Path, seq_len: int, texts: list[str]) -> dict[str, int]:
    """Attention nodes the optimizer fuses when the same student is exported with each attention implementation
    and each mask: our wrapper's -1e4 additive mask, or the raw 0/1 mask handed to the HF model (HF builds its own).

    Scratch exports in a temporary folder, the way our exporter calls torch.onnx (TorchScript, opset 17, dynamic
    axes); our exporter and its artifacts are untouched.
    """
    import tempfile

    import torch

    from mobile_distill.export.wrapper import ClassifierWrapper, sample_batch, uses_token_types
    from mobile_distill.models import load_classifier, load_tokenizer

    class RawMask(ClassifierWrapper):  # what a user exporting the HF model directly gets
        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {"token_type_ids": token_type_ids} if self.uses_token_types else {}
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits

    model, tokenizer = load_classifier(student), load_tokenizer(student)
    heads, hidden = heads_and_hidden(student)
    counts = {}
    with tempfile.TemporaryDirectory() as scratch, torch.no_grad():
        for implementation in ("sdpa", "eager"):
            model.set_attn_implementation(implementation)
            for mask, wrapper_class in (("our -1e4 mask", ClassifierWrapper), ("HF's own mask", RawMask)):
                wrapper = wrapper_class(model, uses_token_types(model))
                sample = sample_batch(tokenizer, texts[:2], seq_len, wrapper.input_names)
                path = Path(scratch) / "model.onnx"
                axes = {name: {0: "batch", 1: "sequence"} for name in wrapper.input_names} | {"logits": {0: "batch"}}
                torch.onnx.export(wrapper, tuple(sample.values()), str(path), input_names=wrapper.input_names,
                                  output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)
                fusions = optimize(path, heads, hidden)[1]
                counts[f"{implementation} + {mask}"] = fusions.get("Attention", 0) + fusions.get("MultiHeadAttention", 0)
    return counts


def compare(run: Path, length: int, out: Path, rounds: int, runs: int) -> tuple[list[str], dict]:
    """Build the hand-made folder (and the no-optimizer ablation) and measure them beside ours; table rows + facts."""
    import numpy as np

    from mobile_distill.data import PreparedData
    from mobile_distill.runners import load_runner

    fp32, ours = run / "artifacts" / f"onnx-fp32-s{length}", run / "artifacts" / f"onnx-int8-dynamic-s{length}"
    folder, info = make_handmade_artifact(fp32, out)
    unfused, unfused_info = make_handmade_artifact(fp32, out.with_name(f"onnx-handmade-nofusion-int8-s{length}"),
                                                   fuse=False)
    heads, hidden = info["optimizer"]["num_heads"], info["optimizer"]["hidden_size"]
    data = PreparedData.load(run / "data")
    test, labels = list(data.splits["test"]["text"]), np.asarray(data.splits["test"]["label"])
    reference_runner = load_runner(run / "student", seq_len=length)
    reference_logits = reference_runner.predict(test)
    models = {"onnx fp32 (ours, context)": fp32, "onnx int8-dynamic (ours)": ours,
              "hand-made: ORT optimizer + quantize_dynamic": folder,
              "ablation: quantize_dynamic only, no optimizer": unfused}
    cells = dict(_accuracy_row(name, path, test, labels, reference_runner, reference_logits) for name, path in models.items())
    timing_text = sorted(test, key=len)[len(test) // 2]  # the median-length text, as bench times
    p50 = interleaved_p50_ms(models, timing_text, length, rounds, runs, warmup=20)
    rows = ["| " + " | ".join([*cells[name][:7], f"{p50[name]:.2f}", *cells[name][7:]]) + " |" for name in models]
    facts = {"fp32": fp32, "folder": folder, "info": info, "unfused_info": unfused_info, "rows": len(test),
             "reference_accuracy": float(np.mean(reference_logits.argmax(-1) == labels)),
             "by_options": attention_fusion_by_options(fp32 / "model.onnx", heads, hidden),
             "by_export": attention_fusion_by_export(Path(read_manifest(fp32).source["path"]), length, test)}
    return rows, facts


def _about(run: Path, length: int, rounds: int, runs: int, facts: dict) -> list[str]:
    info = facts["info"]
    optimizer = info["optimizer"]
    return [
        f"Student `{run / 'student'}` ({optimizer['num_heads']} heads, hidden {optimizer['hidden_size']}, from its "
        f"config.json), {facts['rows']} test rows, sequence length {length}; PyTorch student accuracy "
        f"{facts['reference_accuracy']:.4f}. Hand-made folder `{facts['folder']}`: `optimize_model(model_type="
        f"\"{MODEL_TYPE}\", num_heads={optimizer['num_heads']}, hidden_size={optimizer['hidden_size']})` (opt_level "
        f"{optimizer['opt_level']}, its default) on `{facts['fp32'] / 'model.onnx'}`, then `quantize_dynamic` defaults "
        f"({info['weight_type']}, {'per-channel' if info['per_channel'] else 'per-tensor'}, reduce_range "
        f"{info['reduce_range']}), no quant_pre_process. Our int8-dynamic: quant_pre_process + quantize_dynamic with "
        f"the weight scheme in its manifest. Accuracy and agreement: each file in onnxruntime (2 threads); contract: "
        f"bench's check against the PyTorch student. Latency: batch 1, 1 thread, a median-length test text padded to "
        f"{length} tokens, median over {rounds} interleaved rounds of the p50 of {runs} runs, each round in a fresh "
        f"process (mobile_distill.bench.measure)."]


def _notes(facts: dict) -> list[str]:
    info, unfused = facts["info"], facts["unfused_info"]
    fusions = ", ".join(f"{op} {n}" for op, n in info["optimizer"]["fusions"].items()) or "none"
    notes = [f"Optimizer fusions (get_fused_operator_statistics, non-zero): {fusions}; attention fused: "
             f"{info['optimizer']['attention_fused']}. Input names/dtypes changed by the route: {info['inputs_changed']}.  ",
             "Attention nodes fused with the settings a user tries next: "
             + ", ".join(f"{label}: {n}" for label, n in facts["by_options"].items()) + ".  "]
    if not info["optimizer"]["attention_fused"]:
        notes.append(WHY_NO_ATTENTION + "  ")
    notes.append("Attention nodes fused when the same student is exported differently (scratch exports, TorchScript "
                 "exporter, opset 17; not our artifacts): "
                 + ", ".join(f"{label}: {n}" for label, n in facts["by_export"].items()) + ".  ")
    for label, record in (("hand-made", info), ("ablation", unfused)):
        if record.get("defaults_failed_with"):
            notes.append(f"{label}: quantize_dynamic with defaults raised RuntimeError \"{record['defaults_failed_with']}"
                         "...\" (ONNX shape inference has no types past the com.microsoft fused ops); the route then "
                         "passes extra_options={'DefaultTensorType': onnx.TensorProto.FLOAT}, as the error message "
                         "says.  ")
        else:
            notes.append(f"{label}: quantize_dynamic ran with its defaults alone.  ")
    notes.append(f"Ops in the hand-made file: {', '.join(f'{op} {n}' for op, n in info['op_counts'].items())}.")
    return notes


def main() -> int:
    import os

    from common import publish, run_argument_parser  # benchmarks/common.py

    parser = run_argument_parser(__doc__.splitlines()[0])
    parser.set_defaults(seq_len=64)
    parser.add_argument("--out", help="the hand-made folder (default: RUN/handmade/onnx-handmade-ort-int8-sLEN, "
                        "outside RUN/artifacts so a bench of that folder is unchanged); the ablation goes beside it")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (default: 3)")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per round (default: 200)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run = Path(args.run)
    out = Path(args.out or run / "handmade" / f"onnx-handmade-ort-int8-s{args.seq_len}")
    rows, facts = compare(run, args.seq_len, out, args.rounds, args.runs)
    publish("hand-made ORT route (transformer optimizer + quantize_dynamic defaults) vs ours",
            _about(run, args.seq_len, args.rounds, args.runs, facts),
            ["model", "weights", "scales", "MB", "test accuracy", "agreement with PyTorch", "max abs logit diff",
             "p50 ms (1 thread)", "contract", "gate 2 (default thresholds)"], rows, _notes(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
