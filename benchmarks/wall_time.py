"""Wall time of the README's commands on a fresh clone: `make setup`, then `make demo` and `make quick`,
each from scratch (no cached teacher), stage by stage, with the CPU's vector and int8 features.
Appends the table to RESULTS.md.

Run it on a quiet machine: other work on the two cores slows every stage. ``--cpu-capability avx2``
makes torch use its AVX2 kernels on an AVX-512 machine (ATEN_CPU_CAPABILITY), an approximation of a
machine without AVX-512 for the training stages (onnxruntime, LiteRT and XNNPACK still pick their
own kernels).

    python benchmarks/wall_time.py                      # both commands
    python benchmarks/wall_time.py --only demo --cpu-capability avx2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import publish  # benchmarks/common.py

REPO = Path(__file__).resolve().parents[1]
STUDENT_TYPES = {"demo": "default", "quick": "quick"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["demo", "quick"], help="time one command (default: both)")
    parser.add_argument("--cpu-capability", choices=["default", "avx2", "avx512"], help="torch kernels to use")
    parser.add_argument("--keep", action="store_true", help="keep the clone (its runs/ has every output)")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if args.cpu_capability:
        env["ATEN_CPU_CAPABILITY"] = args.cpu_capability
    clone = Path(tempfile.mkdtemp(prefix="mobile-distill-clone-")) / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout
    rows = [_row("make setup", *_timed(["make", "setup"], clone, env), None)]
    for name in [args.only] if args.only else ["demo", "quick"]:
        seconds, code = _timed(["make", name], clone, env)
        rows.append(_row(f"make {name}", seconds, code, clone / "runs" / STUDENT_TYPES[name] / "run_summary.json"))
    publish("the README's commands on a fresh clone", _about(commit.strip(), args), COLUMNS, rows)
    if not args.keep:
        shutil.rmtree(clone.parent, ignore_errors=True)
    return 0


COLUMNS = ["command", "wall time", "exit", "stages (s)", "gate 1", "gate 2"]


def _timed(command: list[str], cwd: Path, env: dict) -> tuple[float, int]:
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if completed.returncode not in (0, 1):  # 1: a gate failed, which the table shows
        sys.stderr.write(completed.stderr[-3000:])
    return time.perf_counter() - start, completed.returncode


def _row(command: str, seconds: float, code: int, summary_file: Path | None) -> str:
    summary = json.loads(summary_file.read_text()) if summary_file and summary_file.is_file() else {}
    stages = ", ".join(f"{stage} {value:.0f}" for stage, value in summary.get("seconds", {}).items())
    return (f"| `{command}` | {seconds / 60:.1f} min ({seconds:.0f} s) | {code} | {stages} | "
            f"{summary.get('gate') or ''} | {summary.get('gate2') or ''} |")


def _about(commit: str, args) -> list[str]:
    sys.path.insert(0, str(REPO))
    from mobile_distill.bench.device import cpu_features

    cpu = cpu_features()
    kernels = f"; torch kernels forced to {args.cpu_capability} (ATEN_CPU_CAPABILITY)" if args.cpu_capability else ""
    return [f"Fresh clone of commit {commit}; each command from scratch, one after the other. Machine: {cpu['model']}, "
            f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; CPU features: "
            f"{cpu['summary']}; int8 dot-product: {'yes' if cpu['int8_dot_product'] else 'no'}{kernels}. "
            "`make setup` installs everything into .venv (the others then find it done)."]


if __name__ == "__main__":
    sys.exit(main())
