"""The aarch64 lane: exported files run by the aarch64 builds of their runtimes under emulation, one
emulated ARM CPU at a time, and judged by gate 2 like a phone's results.

    cpus.py        the emulated CPUs (what --emulate takes)
    toolchain.py   qemu, an arm64 userland and the aarch64 wheels, built once into a cache
    worker.py      runs on the emulated CPU: the artifact in its runtime's aarch64 build
    lane.py        bench's side: same ids in, device entries out, gate 2 per CPU
    commands.py    the `emulate` verb (set-up, info, serving an artifact to the JVM harness)

Only the CPU table is imported here, so that `--help` stays light.
"""

from .cpus import CPUS, DEFAULT_CPUS, EmulatedCpu, device_name, get_cpus

__all__ = ["CPUS", "DEFAULT_CPUS", "EmulatedCpu", "device_name", "get_cpus"]
