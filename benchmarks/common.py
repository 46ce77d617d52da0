"""Shared by the benchmark scripts: the exact command line, appending a section to RESULTS.md, and
loading a run's student with its test split and PyTorch reference logits."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"


def command_line() -> str:
    """The command as a reader would re-type it, from the repo root."""
    script = Path(sys.argv[0]).name
    return " ".join(["python", f"benchmarks/{script}", *(shlex.quote(a) for a in sys.argv[1:])])


def publish(title: str, about: list[str], columns: list[str], rows: list[str], after: list[str] = (),
            append: bool = True) -> None:
    """Print a dated section (title, exact command, description, table, notes) and append it to RESULTS.md
    (``append=False``: print only, for trial runs)."""
    from datetime import datetime, timezone

    text = "\n".join([
        f"## {Path(sys.argv[0]).stem}: {title} ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Command: `{command_line()}`  ",
        *about,
        "",
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
        *rows,
        "",
        *after,
        *([""] if after else []),
    ])
    print(text)
    if append:
        append_section(text)


def append_section(text: str) -> None:
    header = "# Benchmark results\n\nAppended by the scripts in this folder.\n"
    prefix = "\n" if RESULTS.exists() else header + "\n"  # checked before open(): "a" creates the file
    with open(RESULTS, "a", encoding="utf-8") as handle:
        handle.write(prefix + text)


def run_argument_parser(description: str):
    """Options of the scripts that read a finished run folder."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run", default="runs/bench-distill", help="run folder with student/ and data/")
    parser.add_argument("--seq-len", type=int, default=128, help="export sequence length (default: 128)")
    return parser


def load_student_run(run: Path, seq_len: int):
    """(train texts, test texts, test labels, PyTorch reference logits on the test texts) of a run."""
    import numpy as np

    from mobile_distill.data import PreparedData
    from mobile_distill.runners import load_runner

    data = PreparedData.load(run / "data")
    train, test = list(data.splits["train"]["text"]), list(data.splits["test"]["text"])
    reference = load_runner(run / "student", seq_len=seq_len).predict(test)
    return train, test, np.asarray(data.splits["test"]["label"]), reference


def cpu_description() -> str:
    """The CPU a figure was measured on: model, cores, vector features and int8 dot-product support."""
    import os

    from mobile_distill.bench.device import cpu_features

    cpu = cpu_features()
    return (f"CPU: {cpu['model']}, {os.cpu_count()} cores, {cpu['summary']}; int8 dot-product: "
            f"{'yes' if cpu['int8_dot_product'] else 'no'}.")
