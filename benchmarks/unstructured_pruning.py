"""Does unstructured magnitude pruning help on any runtime we ship to? Size, download size, latency and accuracy.

The student's encoder Linear weights (not the embeddings, not the classifier head) are pruned by L1 magnitude
(per matrix, or globally with --global-pruning) with no re-training, the zeros baked in, and each pruned copy is
exported like the unpruned one: ONNX, TFLite and ExecuTorch in fp32 and int8-dynamic, all timed side by side in
this one run (batch 1, 1 thread, each model in its own process, interleaved rounds), plus Core ML fp16 dense and
with coremltools' sparse weight representation (sizes only: Core ML runs only on macOS).

Why expect little: every format here stores a zero like any other number, and the CPU kernels are dense GEMMs.
ONNX Runtime turns sparse initializers into dense tensors at load (microsoft/onnxruntime#5540); XNNPACK's sparse
inference (TFLite delegate, ExecuTorch backend) covers only 1x1 NCHW convolutions of CNNs, not fully-connected
layers (tensorflow/lite/delegates/xnnpack/README.md, "Sparse Inference"). Core ML's prune_weights stores
non-zeros plus a bit mask (constexpr_sparse_to_dense). Zeros do compress, so the gzip size (what an APK / IPA
download is made of) is measured too.

    HF_HUB_OFFLINE=1 python benchmarks/unstructured_pruning.py runs/default/student --sparsity 0.5 0.8 --seq-len 64

Accuracy rows: the run's test split (MODEL_DIR/../data); without one, 64 synthetic texts from tests/conftest.py.
--no-publish prints the section without appending it to RESULTS.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from common import publish  # benchmarks/common.py

PAIRS = (("onnx", "fp32"), ("onnx", "int8-dynamic"), ("tflite", "fp32"), ("tflite", "int8-dynamic"),
         ("executorch", "fp32"), ("executorch", "int8-dynamic"))
REFERENCE = "pytorch fp32 (reference)"
COREML_PRECISION = "fp16"  # what an iOS app ships (the Neural Engine computes in fp16)
COREML_WEIGHT_THRESHOLD = 512  # as the Core ML exporter: smaller tensors (biases, LayerNorm) stay dense
NOISE = 0.10  # a size or latency ratio within 1 +- this is "no change"
ENCODER_LINEAR = re.compile(r"\.layer\.\d+\.")  # bert/roberta/mobilebert encoder.layer.N, distilbert transformer.layer.N


@dataclass
class Artifact:
    sparsity: float
    kind: str  # "onnx fp32", ... the same kind at every sparsity
    folder: Path  # what load_runner / measure_performance take
    model_path: Path  # the model file (or .mlpackage folder) whose size is reported
    runs_here: bool = True
    p50_ms: list[float] = field(default_factory=list)  # one p50 per timing round
    logits: np.ndarray | None = None
    sizes: tuple[int, int] = (0, 0)  # model file bytes, its gzip -6 bytes
    ratios: tuple = (None, None, None)  # file size, gzip size, p50: each over the same kind unpruned
    noise: float = 0.0  # how far its p50 ratio may stray from 1 and still be "no change"


def main() -> int:
    args = _arguments()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Writing model shards" bar per save is noise here
    model_dir = Path(args.model_dir)
    texts, labels, calibration, source = _texts(model_dir, args.texts)
    timing_text = sorted(texts, key=len)[len(texts) // 2]  # a real text of median length, padded to seq_len
    sparsities = [0.0] + [s for s in args.sparsity if s > 0]
    with tempfile.TemporaryDirectory(prefix="mobile-distill-unstructured-") as scratch:
        root = Path(args.out) if args.out else Path(scratch)
        zeros, artifacts, coreml_note = {}, [], ""
        for sparsity in sparsities:
            variant, zeros[sparsity] = _pruned_copy(model_dir, sparsity, args.global_pruning, root)
            artifacts += _exports(variant, sparsity, root, args.seq_len, calibration, texts)
            made, coreml_note = _coreml(variant, sparsity, root, args.seq_len, calibration, texts)
            artifacts += made
        for artifact in artifacts:
            artifact.sizes = (_size(artifact.model_path), _gzip_size(artifact.model_path))
        _accuracies(artifacts, texts, args.seq_len)
        _time(artifacts, timing_text, args)
        rows = [_row(a, _dense(artifacts, a), zeros[a.sparsity], labels) for a in artifacts]
    after = _conclusion(artifacts, sparsities, labels, coreml_note)
    about = _about(args, model_dir, source, len(texts))
    (publish if args.publish else _print_only)(
        "unstructured magnitude pruning on each runtime", about, COLUMNS, rows, after)
    return 0


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="a student's HF classifier folder, e.g. runs/default/student")
    parser.add_argument("--sparsity", type=float, nargs="+", default=[0.5, 0.8], help="fractions (default: 0.5 0.8)")
    parser.add_argument("--seq-len", type=int, default=64, help="export sequence length (default: 64)")
    parser.add_argument("--timing-runs", type=int, default=50, help="timed runs per model and round (default: 50)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timing rounds over all artifacts, interleaved, so drift hits all alike (default: 3)")
    parser.add_argument("--texts", type=int, default=None, help="accuracy rows: the first N (default: all test rows)")
    parser.add_argument("--global-pruning", action="store_true",
                        help="one magnitude threshold over all encoder Linears (default: each matrix pruned alike)")
    parser.add_argument("--out", help="keep the pruned models and artifacts here (default: a temporary folder)")
    parser.add_argument("--no-publish", dest="publish", action="store_false", help="print only; RESULTS.md untouched")
    args = parser.parse_args()
    if any(not 0 <= s < 1 for s in args.sparsity):
        parser.error("--sparsity takes fractions in [0, 1)")
    return args


def _texts(model_dir: Path, limit: int | None):
    """(accuracy texts, their labels as logit indices, calibration texts, where they came from)."""
    from mobile_distill.data import PreparedData
    from mobile_distill.models import read_labels

    data_dir = model_dir.resolve().parent / "data"
    if not data_dir.is_dir():  # a bare model folder (the tiny smoke test): synthetic sentiment sentences
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from conftest import make_texts

        rows = make_texts(64)[:limit]
        texts = [text for text, _ in rows]
        return texts, np.array([label for _, label in rows]), texts, "synthetic texts of tests/conftest.make_texts"
    data = PreparedData.load(data_dir)
    test = data.splits["test"][:limit] if limit else data.splits["test"][:]
    order = read_labels(model_dir)
    # data ids index data.labels; the model's logits follow its own label order (integer names: logit indices)
    to_logit = [order.index(name) if name in order else int(name) for name in data.labels]
    labels = np.array([to_logit[i] for i in test["label"]])
    return list(test["text"]), labels, list(data.splits["train"]["text"]), f"test split of {data_dir}"


def _encoder_linears(model) -> list:
    from torch import nn

    found = [m for name, m in model.named_modules() if isinstance(m, nn.Linear) and ENCODER_LINEAR.search(name)]
    if not found:
        raise SystemExit(f"no nn.Linear inside encoder layers (names matching {ENCODER_LINEAR.pattern}) in this model")
    return found


def _pruned_copy(model_dir: Path, sparsity: float, global_pruning: bool, root: Path) -> tuple[Path, float]:
    """The student with its encoder Linears magnitude-pruned to ``sparsity``, saved as a HF folder; and the
    fraction of zeros measured in the saved copy (so the zeros are known to have survived the save)."""
    from torch.nn.utils import prune

    from mobile_distill.models import (
        load_classifier,
        load_tokenizer,
        read_labels,
        write_labels,
    )

    folder = root / f"student-s{round(sparsity * 100)}"
    model = load_classifier(model_dir).eval()
    linears = _encoder_linears(model)
    if sparsity and global_pruning:
        prune.global_unstructured([(m, "weight") for m in linears], pruning_method=prune.L1Unstructured,
                                  amount=sparsity)
    elif sparsity:
        for module in linears:
            prune.l1_unstructured(module, "weight", amount=sparsity)
    for module in linears if sparsity else ():
        prune.remove(module, "weight")  # bakes mask * weight into a plain parameter: the zeros are the weights now
    model.save_pretrained(folder)
    load_tokenizer(model_dir).save_pretrained(folder)
    write_labels(folder, read_labels(model_dir))
    return folder, _zero_fraction(folder)


def _zero_fraction(folder: Path) -> float:
    from mobile_distill.models import load_classifier

    weights = [m.weight.detach() for m in _encoder_linears(load_classifier(folder))]
    return float(sum((w == 0).sum().item() for w in weights) / sum(w.numel() for w in weights))


def _exports(variant: Path, sparsity: float, root: Path, seq_len: int, calibration, golden) -> list[Artifact]:
    from mobile_distill.config import ExportOptions
    from mobile_distill.export import export
    from mobile_distill.manifest import read_manifest

    made = [Artifact(sparsity, REFERENCE, variant, variant / "model.safetensors")]
    for target, precision in PAIRS:
        print(f"export {target} {precision}, sparsity {sparsity:.2f}", flush=True)
        out = export(variant, target, precision, root / f"{target}-{precision}-s{round(sparsity * 100)}",
                     ExportOptions(seq_len=seq_len), calibration, golden[:100])
        made.append(Artifact(sparsity, f"{target} {precision}", out, out / read_manifest(out).model_file))
    return made


def _coreml(variant: Path, sparsity: float, root: Path, seq_len: int, calibration, golden):
    """Core ML fp16 as exported, and the same package with its zeros in coremltools' sparse representation
    (non-zero values + a bit mask). Conversion works on Linux; running needs macOS. Returns (artifacts, note)."""
    from mobile_distill.config import ExportOptions
    from mobile_distill.export import export

    print(f"export coreml {COREML_PRECISION}, sparsity {sparsity:.2f}", flush=True)
    try:
        import coremltools as ct
        import coremltools.optimize.coreml as cto

        out = export(variant, "coreml", COREML_PRECISION, root / f"coreml-{COREML_PRECISION}-s{round(sparsity * 100)}",
                     ExportOptions(seq_len=seq_len), calibration, golden[:100])
        dense = out / "model.mlpackage"
        # threshold 1e-12: only exact zeros go; a tensor under 10% zeros stays dense (the mask would cost more)
        config = cto.OptimizationConfig(global_config=cto.OpThresholdPrunerConfig(
            threshold=1e-12, minimum_sparsity_percentile=0.1, weight_threshold=COREML_WEIGHT_THRESHOLD))
        sparse = root / f"coreml-{COREML_PRECISION}-sparse-s{round(sparsity * 100)}" / "model.mlpackage"
        shutil.rmtree(sparse, ignore_errors=True)  # a package left in --out by an earlier run
        cto.prune_weights(ct.models.MLModel(str(dense), skip_model_load=True), config).save(str(sparse))
    except Exception as error:  # noqa: BLE001 - reported in the output instead of losing the other rows
        first = (str(error).strip().splitlines() or [type(error).__name__])[-1][:200]
        return [], f"Core ML: not measured, the conversion failed here ({type(error).__name__}: {first})."
    return ([Artifact(sparsity, f"coreml {COREML_PRECISION}", out, dense, runs_here=False),
             Artifact(sparsity, f"coreml {COREML_PRECISION} sparse", sparse.parent, sparse, runs_here=False)],
            "Core ML: converted on Linux with coremltools; not run (Core ML runs only on macOS).")


def _accuracies(artifacts: list[Artifact], texts: list[str], seq_len: int) -> None:
    from mobile_distill.runners import load_runner

    for artifact in (a for a in artifacts if a.runs_here):
        print(f"accuracy {artifact.kind}, sparsity {artifact.sparsity:.2f}", flush=True)
        artifact.logits = load_runner(artifact.folder, threads=1, seq_len=seq_len).predict(texts)


def _time(artifacts: list[Artifact], text: str, args) -> None:
    """Every runnable artifact once per round, each round in another order, so a slow spell of this shared
    machine lands on different models; the figure kept is the median of the rounds' p50s."""
    from mobile_distill.bench.measure import measure_performance
    from mobile_distill.ui import progress

    timed = [a for a in artifacts if a.runs_here]
    with progress("timing", len(timed) * args.rounds) as bar:
        for round_index in range(args.rounds):
            shift = round_index * len(timed) // max(args.rounds, 1)
            for artifact in timed[shift:] + timed[:shift]:
                bar.update(f"timing {artifact.kind} s{artifact.sparsity:.2f}, round {round_index + 1}")
                performance = measure_performance(artifact.folder, text, (1,), args.timing_runs, 5, args.seq_len)
                artifact.p50_ms.append(performance.latency[0].p50_ms)
                bar.update(advance=1)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _gzip_size(path: Path) -> int:
    """gzip -6 of the model file; of each file of a package folder, summed (what a zip of it comes to)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return sum(len(gzip.compress(p.read_bytes(), compresslevel=6)) for p in files)


def _dense(artifacts: list[Artifact], artifact: Artifact) -> Artifact:
    """The unpruned artifact of the same kind, which every ratio is taken against."""
    return next(a for a in artifacts if a.kind == artifact.kind and a.sparsity == 0)


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def _spread(artifact: Artifact) -> float:
    """(max - min) / median of the rounds' p50s: how much the same model moved between rounds."""
    return (max(artifact.p50_ms) - min(artifact.p50_ms)) / _median(artifact.p50_ms) if artifact.p50_ms else 0.0


COLUMNS = ["sparsity (asked)", "zeros in encoder Linears", "model", "file MB", "x unpruned", "gzip -6 MB",
           "x unpruned", "p50 ms (1 thread)", "x unpruned", "round spread", "test accuracy", "agreement with unpruned"]


def _row(artifact: Artifact, dense: Artifact, zeros: float, labels: np.ndarray) -> str:
    (size, gz), (dense_size, dense_gz) = artifact.sizes, dense.sizes
    artifact.ratios = (size / dense_size, gz / dense_gz,
                       _median(artifact.p50_ms) / _median(dense.p50_ms) if artifact.runs_here else None)
    # a latency change must be beyond NOISE and beyond what either model moved by itself between rounds
    artifact.noise = max(NOISE, _spread(artifact), _spread(dense))
    if artifact.runs_here:
        predicted = artifact.logits.argmax(-1)
        timing = f"{_median(artifact.p50_ms):.2f} | {artifact.ratios[2]:.2f} | {_spread(artifact):.0%}"
        quality = f"{np.mean(predicted == labels):.4f} | {np.mean(predicted == dense.logits.argmax(-1)):.4f}"
    else:
        timing, quality = "not run (macOS only) | | ", "not run | "
    return (f"| {artifact.sparsity:.0%} | {zeros:.1%} | {artifact.kind} | {size / 1e6:.2f} | {artifact.ratios[0]:.2f} | "
            f"{gz / 1e6:.2f} | {artifact.ratios[1]:.2f} | {timing} | {quality} |")


def _where(artifacts: list[Artifact], index: int, test) -> str:
    """Per kind, the pruned sparsities at which ``test(ratio index, artifact)`` holds: "kind (50%, 80%), ..."."""
    found = {}
    for a in artifacts:
        if a.sparsity > 0 and a.ratios[index] is not None and test(a.ratios[index], a):
            found.setdefault(a.kind, []).append(f"{a.sparsity:.0%}")
    return ", ".join(f"{kind} ({', '.join(at)})" for kind, at in found.items())


def _ratios(artifacts: list[Artifact], index: int, kinds=None) -> str:
    """Ratios ("kind a / b": one per pruned sparsity) of the kinds given (default: all but the reference)."""
    parts = []
    for kind in kinds or dict.fromkeys(a.kind for a in artifacts if a.kind != REFERENCE):
        values = [a.ratios[index] for a in artifacts if a.kind == kind and a.sparsity > 0 and a.ratios[index] is not None]
        if values:
            parts.append(f"{kind} {' / '.join(f'{v:.2f}' for v in values)}")
    return "; ".join(parts)


def _conclusion(artifacts: list[Artifact], sparsities: list[float], labels: np.ndarray, coreml_note: str) -> list[str]:
    """What the numbers say, computed from them: a ratio to the unpruned artifact counts as a change only
    outside 1 +- NOISE (for latency: or +- the round spread of either model, if larger)."""
    if len(sparsities) < 2:
        return ["No pruned sparsity was asked for: nothing to compare."]
    at = " / ".join(f"{s:.0%}" for s in sparsities[1:])
    shipped = [a for a in artifacts if a.kind != REFERENCE and a.runs_here]
    smaller, zipped = (_where(shipped, i, lambda r, _: r < 1 - NOISE) for i in (0, 1))
    faster, slower = _where(shipped, 2, lambda r, a: r < 1 - a.noise), _where(shipped, 2, lambda r, a: r > 1 + a.noise)
    reference = {a.sparsity: np.mean(a.logits.argmax(-1) == labels) for a in artifacts if a.kind == REFERENCE}
    spread = max((_spread(a) for a in artifacts if a.runs_here), default=0.0)
    moved = f"The same model moved up to {spread:.0%} between rounds" if any(
        len(a.p50_ms) > 1 for a in artifacts) else "One timing round: the noise between rounds is not known"
    return [
        (f"Conclusion, from the figures above (ratios to the same unpruned artifact at {at} sparsity; "
         f"a change counts only beyond +-{NOISE:.0%}, for latency also beyond the round spread of either model):  "),
        f"- Raw file size: {_verdict(smaller, 'smaller')} ({_ratios(shipped, 0)}).  ",
        (f"- gzip -6 size, i.e. the download inside an APK / IPA: {_verdict(zipped, 'smaller')} "
         f"({_ratios(shipped, 1)}).  "),
        f"- Latency (p50, batch 1, 1 thread, median of the rounds): {_verdict(faster, 'faster')}"
        + (f"; slower for {slower}" if slower else "")
        + f" ({_ratios(shipped, 2)}). {moved}.  ",
        _coreml_line(artifacts, coreml_note),
        f"- Accuracy without re-training: the PyTorch reference goes {reference[0.0]:.4f} -> "
        + " / ".join(f"{reference[s]:.4f}" for s in sparsities[1:]) + f" at {at}. Pruning during distillation "
        "(gradual magnitude pruning under the teacher's loss) would be the way to win that back; not measured here.  ",
    ]


def _verdict(where: str, what: str) -> str:
    return f"{what} for {where}" if where else f"not {what} for any runtime's artifact"


def _coreml_line(artifacts: list[Artifact], note: str) -> str:
    sparse = f"coreml {COREML_PRECISION} sparse"
    if not any(a.kind == sparse for a in artifacts):
        return f"- {note}  "
    dense = f"coreml {COREML_PRECISION}"
    return (f"- {note} coremltools' sparse weight representation (prune_weights: non-zeros plus a bit mask, "
            f"constexpr_sparse_to_dense, iOS 16+) is the one format here that stores only the non-zeros. File size, "
            f"x the unpruned package of the same kind (for the sparse kind: the unpruned package re-saved by "
            f"coremltools, dense since no tensor has the 10% zeros that switch the sparse format on): "
            f"{_ratios(artifacts, 0, [sparse, dense])}; gzip -6: {_ratios(artifacts, 1, [sparse, dense])}.  ")


def _about(args, model_dir: Path, source: str, rows: int) -> list[str]:
    from mobile_distill.bench.device import cpu_features

    cpu = cpu_features()
    scope = "one global threshold" if args.global_pruning else "each matrix alike"
    text = (
        f"Model `{model_dir}`, encoder Linear weights pruned by L1 magnitude ({scope}), zeros baked in, no "
        f"re-training; embeddings and classifier head untouched. Sequence length {args.seq_len}. Accuracy on {rows} "
        f"rows ({source}). Latency: batch 1, 1 thread, one median-length text padded to {args.seq_len} tokens, "
        f"{args.timing_runs} runs after 5 warm-up, each model in its own process; {args.rounds} interleaved rounds "
        f"over all models, median of the rounds' p50s; \"round spread\" = (max - min) / median of those p50s. "
        f"\"x unpruned\": ratio to the same artifact at 0% sparsity. gzip: Python gzip level 6 of the model file (of "
        f"each file, for a .mlpackage). CPU: {cpu['model']}, {os.cpu_count()} cores, {cpu['summary']}; int8 "
        f"dot-product: {'yes' if cpu['int8_dot_product'] else 'no'}.  ")
    return [text]


def _print_only(title: str, about: list[str], columns: list[str], rows: list[str], after: list[str] = ()) -> None:
    """publish() without the append: the same text, for dry runs."""
    print("\n".join([f"## {title} (not published: --no-publish)", "", *about, "",
                     "| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |",
                     *rows, "", *after]))


if __name__ == "__main__":
    sys.exit(main())
