"""Shared by the benchmark scripts: the exact command line, and appending a section to RESULTS.md."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"


def command_line() -> str:
    """The command as a reader would re-type it, from the repo root."""
    script = Path(sys.argv[0]).name
    return " ".join(["python", f"benchmarks/{script}", *(shlex.quote(a) for a in sys.argv[1:])])


def append_section(text: str) -> None:
    header = "# Benchmark results\n\nAppended by the scripts in this folder.\n"
    with open(RESULTS, "a", encoding="utf-8") as handle:
        handle.write(("\n" if RESULTS.exists() else header + "\n") + text)
