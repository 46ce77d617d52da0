"""Running the standalone worker (worker.py) under qemu on one emulated CPU, or on the host's own
Python: the one place the lane starts processes, shared by the lane, its per-layer probe and the
`emulate` command."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path

from .cpus import EmulatedCpu
from .toolchain import Toolchain

WORKER = Path(__file__).with_name("worker.py")
WORKER_TIMEOUT = 6 * 3600


def emulated_command(toolchain: Toolchain, cpu: EmulatedCpu, arguments: list[str]) -> tuple[list[str], dict]:
    """The command (and its environment) that runs the worker with ``arguments`` on ``cpu``."""
    command = [str(toolchain.qemu_for(cpu.emulator)), "-cpu", cpu.qemu_cpu, "-L", str(toolchain.rootfs),
               str(toolchain.python),
               str(WORKER), *arguments]
    environment = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(toolchain.site),
                   "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "LC_ALL": "C.UTF-8"}
    return command, environment


def run_emulated(toolchain: Toolchain, cpu: EmulatedCpu, arguments: list[str], log: Path | None = None,
                 timeout: float = WORKER_TIMEOUT, on_line=None) -> subprocess.CompletedProcess:
    """Run the worker on ``cpu``; ``on_line(line)`` sees each line it prints as it prints it (progress).
    A worker still running after ``timeout`` seconds is killed (`subprocess.TimeoutExpired`)."""
    command, environment = emulated_command(toolchain, cpu, arguments)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errors:
        process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=errors, text=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            process.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        lines = []
        try:
            for line in process.stdout:
                lines.append(line)
                if on_line is not None:
                    on_line(line)
            process.wait()
        finally:
            watchdog.cancel()
        if timed_out.is_set():
            raise subprocess.TimeoutExpired(command, timeout)
        errors.seek(0)
        stderr = errors.read()
    if log is not None:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"$ {' '.join(command)}\n{stderr}\n")
    return subprocess.CompletedProcess(command, process.returncode, "".join(lines), stderr)


def cpu_report(toolchain: Toolchain, cpu: EmulatedCpu) -> dict:
    """What the emulated CPU looks like from inside: its Linux feature list and the runtime versions."""
    result = run_emulated(toolchain, cpu, ["info"], timeout=600)
    if result.returncode != 0:
        return {"error": last_line(result)}
    return json.loads(result.stdout.strip().splitlines()[-1])



def last_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in (result.stderr or "").splitlines() if line.strip() and not line.startswith("I ")]
    if result.returncode < 0:
        return f"the worker died of signal {-result.returncode}" + (f" after: {lines[-1][:300]}" if lines else "")
    return lines[-1][:400] if lines else f"the worker exited {result.returncode} with no message"
