"""Measure ONNX int8 schemes side by side: graph form x weight type x scales for int8-dynamic, and the
static (QDQ) activation pairing, on accuracy and speed.

onnxruntime issue 5644: the weight type and the scale granularity change a BERT's accuracy after
dynamic quantization; onnxruntime's x86 kernels also run u8 x s8 products far faster than u8 x u8
or s8 x s8. This picks the defaults by measurement on a real student and its test split, each file
run in onnxruntime; latency batch 1, 1 thread, a median-length test text padded to the sequence
length, each model in its own process (mobile_distill.bench.measure), rounds interleaved across
models, the median of the rounds' p50s. Prints a table and appends it to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/onnx_int8_schemes.py [--run runs/default] [--seq-len 64] [--rounds 3]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from mobile_distill.bench.measure import measure_performance
from mobile_distill.export import ExportOptions, export
from mobile_distill.runners import load_runner
from common import cpu_description, load_student_run, publish, run_argument_parser  # benchmarks/common.py

# (label, precision, export options): the fp32 files are the speed reference
SCHEMES = [
    ("fp32 fused", "fp32", {}),
    ("fp32 plain", "fp32", {"onnx_graph": "plain"}),
    *[(f"dynamic {graph} {weights}{' 7-bit' if weights == 'qint8' else ''} {'per-channel' if channel else 'per-tensor'}", "int8-dynamic",
       {"onnx_graph": graph, "onnx_weight_type": weights, "per_channel": channel})
      for graph in ("fused", "plain") for weights in ("qint8", "quint8") for channel in (True, False)],
    ("static QDQ u8s8 per-channel (+Gather)", "int8-static", {}),
]


def main() -> int:
    parser = run_argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (default: 3)")
    parser.add_argument("--runs", type=int, default=100, help="timed runs per round (default: 100)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run = Path(args.run)
    train, test, labels, reference = load_student_run(run, args.seq_len)
    text = sorted(test, key=len)[len(test) // 2]
    with tempfile.TemporaryDirectory() as scratch:
        folders, scores = [], []
        for index, (label, precision, values) in enumerate(SCHEMES):
            out = export(run / "student", "onnx", precision, Path(scratch) / f"s{index}",
                         ExportOptions(seq_len=args.seq_len, **values), train, test)
            logits = load_runner(out, threads=2).predict(test)
            folders.append(out)
            scores.append((np.mean(logits.argmax(-1) == labels), np.mean(logits.argmax(-1) == reference.argmax(-1)),
                           np.abs(logits - reference).max()))
            print(f"{label}: accuracy {scores[-1][0]:.4f}, agreement {scores[-1][1]:.4f}", flush=True)
        p50 = {index: [] for index in range(len(SCHEMES))}
        for _ in range(args.rounds):
            for index, folder in enumerate(folders):
                performance = measure_performance(folder, text, (1,), args.runs, 10, args.seq_len)
                p50[index].append(performance.latency[0].p50_ms)
        fp32 = np.median(p50[0])
        rows = []
        for index, (label, _, _) in enumerate(SCHEMES):
            accuracy, agreement, diff = scores[index]
            median = float(np.median(p50[index]))
            size = (folders[index] / "model.onnx").stat().st_size / 1e6
            rows.append(f"| {label} | {size:.1f} | {accuracy:.4f} | {agreement:.4f} | {diff:.3f} | {median:.2f} | "
                        f"{min(p50[index]):.2f}-{max(p50[index]):.2f} | {fp32 / median:.2f} |")
    publish("ONNX int8 schemes: graph form, weight type, scales, static pairing",
            [f"Student `{run / 'student'}`, {len(test)} test rows, sequence length {args.seq_len}; PyTorch reference "
             f"accuracy {np.mean(reference.argmax(-1) == labels):.4f}. Latency: batch 1, 1 thread, {args.runs} runs per "
             f"round after 10 warm-up, {args.rounds} interleaved rounds, each model in its own process; median of the "
             f"rounds' p50s. {cpu_description()}"],
            ["scheme", "MB", "test accuracy", "agreement with PyTorch", "max abs logit diff", "p50 ms (1 thread)",
             "rounds' p50 range", "x fp32 fused"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
