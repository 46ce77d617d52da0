"""The aarch64 lane on a run's artifacts: each ONNX, TFLite and ExecuTorch file run by the aarch64 build
of its runtime on each emulated ARM CPU, against the x86 run of the same file on the same ids and against
the PyTorch reference, with gate 2's verdict per CPU. Runs the real command and reads its bench.json:

    mobile-distill bench RUN/artifacts --emulate CPUS --emulate-rows N --no-timing -o RUN/bench-arm64

    python benchmarks/aarch64_lane.py runs/default --rows 100
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from common import publish  # benchmarks/common.py

from mobile_distill.bench.device import cpu_features
from mobile_distill.bench.schema import BenchReport

COLUMNS = ["artifact", "emulated CPU", "rows", "agreement with the x86 run", "max abs logit diff vs x86",
           "agreement with the reference", "reference on x86 (all rows)", "gate 2"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder with artifacts/ (e.g. runs/default)")
    parser.add_argument("--cpus", default="all", help="emulated CPUs (default: all)")
    parser.add_argument("--rows", type=int, default=100, help="test rows per artifact and CPU (default: 100)")
    parser.add_argument("--artifacts", nargs="*", help="artifact folder names to run (default: every one)")
    args = parser.parse_args()
    run = Path(args.run)
    output = run / "bench-arm64"
    folders = [str(run / "artifacts" / name) for name in args.artifacts] if args.artifacts else [str(run / "artifacts")]
    command = [sys.executable, "-m", "mobile_distill.cli", "bench", *folders, "--emulate", args.cpus,
               "--emulate-rows", str(args.rows), "--no-timing", "-o", str(output)]
    print("$ " + " ".join(shlex.quote(part) for part in command), flush=True)
    status = subprocess.run(command).returncode  # exit 1 is a gate 2 FAIL: still tabulated
    bench = BenchReport.model_validate_json((output / "bench.json").read_text())
    hosts = {entry.name: entry for entry in bench.host_artifacts()}
    rows = []
    for entry in bench.artifacts():
        if entry.device is None or entry.runtime is None or "emulator" not in entry.runtime:
            continue
        host, cpu = hosts[entry.name.split(" @ ")[0]], entry.device.split(", ")[-1].rstrip(")")
        accuracy = entry.scores
        rows.append("| " + " | ".join([
            host.name, cpu, str(accuracy.rows if accuracy else "-"),
            f"{accuracy.agreement_host:.4f}" if accuracy else "did not run",
            f"{accuracy.max_abs_logit_diff_host:.3g}" if accuracy else "-",
            f"{accuracy.agreement_reference:.4f}" if accuracy else "-",
            f"{host.scores.agreement_reference:.4f}" if host.scores else "-",
            entry.verdict.status + (f" ({'; '.join(entry.verdict.reasons)})" if entry.verdict.reasons else "")]) + " |")
    lane = next((d for d in bench.devices if d.get("kind") == "emulated"), {})
    host_cpu = cpu_features()
    publish(f"the aarch64 lane on {run}/artifacts", [
        f"Host: {host_cpu['model']} ({host_cpu['summary']}). Emulator: {lane.get('emulator', '?')}; aarch64 "
        f"runtimes: {', '.join(f'{k} {v}' for k, v in lane.get('runtimes', {}).items())}. Each row: the artifact's "
        f"file run by its runtime's aarch64 build on a seeded sample of {args.rows} test rows (the same ids as the "
        "x86 run), judged by gate 2 against the PyTorch reference on those rows. Bench exit status "
        f"{status}."], COLUMNS, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
