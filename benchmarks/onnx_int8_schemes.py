"""Measure ONNX int8-dynamic weight schemes side by side: QInt8 vs QUInt8, per-tensor vs per-channel.

onnxruntime issue 5644: the weight type and the scale granularity change a BERT's accuracy after
dynamic quantization. This picks the default by measurement on a real student and its test split,
each file run in onnxruntime. Prints a table and appends it to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/onnx_int8_schemes.py [--run runs/bench-distill] [--seq-len 128]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from mobile_distill.export import ExportOptions, export
from mobile_distill.runners import load_runner
from common import load_student_run, publish, run_argument_parser  # benchmarks/common.py


def main() -> int:
    args = run_argument_parser(__doc__.splitlines()[0]).parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run = Path(args.run)
    train, test, labels, reference = load_student_run(run, args.seq_len)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for weight_type in ("qint8", "quint8"):
            for per_channel in (False, True):
                options = ExportOptions(seq_len=args.seq_len, onnx_weight_type=weight_type, per_channel=per_channel)
                out = export(run / "student", "onnx", "int8-dynamic", Path(scratch) / f"{weight_type}-{per_channel}",
                             options, train, test)
                logits = load_runner(out, threads=2).predict(test)
                rows.append(f"| {weight_type} | {'per-channel' if per_channel else 'per-tensor'} | "
                            f"{(out / 'model.onnx').stat().st_size / 1e6:.1f} | {np.mean(logits.argmax(-1) == labels):.4f} | "
                            f"{np.mean(logits.argmax(-1) == reference.argmax(-1)):.4f} | "
                            f"{np.abs(logits - reference).max():.3f} |")
                print(rows[-1], flush=True)
    publish("ONNX int8-dynamic weight schemes",
            [f"Student `{run / 'student'}`, {len(test)} test rows, sequence length {args.seq_len}; "
             f"PyTorch reference accuracy {np.mean(reference.argmax(-1) == labels):.4f}."],
            ["weights", "scales", "MB", "test accuracy", "agreement with PyTorch", "max abs logit diff"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
