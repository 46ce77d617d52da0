"""Export a distilled student to every supported (target, precision) and check each file in its own runtime.

For every pair: export wall time, file size, and on the run's test split (real labelled text)
accuracy, max |logit diff| and prediction agreement against the PyTorch model it came from.
Core ML rows say "needs macOS" off a Mac. Prints a table and appends it to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/export_default.py [--run runs/bench-distill] [--seq-len 128]

The run folder is what `benchmarks/distill_default.py` (or `mobile-distill run`) leaves behind.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from mobile_distill.errors import ModelError
from mobile_distill.export import ExportOptions, artifact_name, export, supported_pairs
from mobile_distill.runners import load_runner
from common import load_student_run, publish, run_argument_parser  # benchmarks/common.py



def folder_size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def main() -> int:
    args = run_argument_parser(__doc__.splitlines()[0]).parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run = Path(args.run)
    train, test, labels, reference = load_student_run(run, args.seq_len)
    rows = [f"| pytorch | fp32 (reference) | - | {folder_size_mb(run / 'student' / 'model.safetensors'):.1f} | "
            f"{np.mean(reference.argmax(-1) == labels):.4f} | 0 | 1.0000 |"]
    for target, precision in supported_pairs():
        out = run / "artifacts" / artifact_name(target, precision, args.seq_len)
        start = time.perf_counter()
        export(run / "student", target, precision, out, ExportOptions(seq_len=args.seq_len), train, test)
        seconds = time.perf_counter() - start
        model_file = next(out.glob("model.*"))
        try:
            logits = load_runner(out, threads=2).predict(test)
        except ModelError as error:  # Core ML off macOS
            rows.append(f"| {target} | {precision} | {seconds:.0f} | {folder_size_mb(model_file):.1f} | "
                        f"not run: {str(error).split(': ', 1)[-1].split(';')[0]} | | |")
            continue
        rows.append(f"| {target} | {precision} | {seconds:.0f} | {folder_size_mb(model_file):.1f} | "
                    f"{np.mean(logits.argmax(-1) == labels):.4f} | {np.abs(logits - reference).max():.2e} | "
                    f"{np.mean(logits.argmax(-1) == reference.argmax(-1)):.4f} |")
        print(rows[-1], flush=True)
    publish("every target and precision",
            [f"Student: `{run / 'student'}`; test split {len(test)} rows; sequence length {args.seq_len}. Accuracy, "
             "logit difference and agreement come from running each exported file in its own runtime."],
            ["target", "precision", "export s", "model MB", "test accuracy", "max abs logit diff", "agreement"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
