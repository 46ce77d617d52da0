"""The ARM CPUs the aarch64 lane emulates: one per kind of core a phone fleet has, each with the
qemu CPU model that has its instruction set extensions.

The runtimes pick their kernels at run time from the CPU's features (XNNPACK and KleidiAI: NEON,
dot-product, i8mm, fp16 arithmetic, SVE, SME; ONNX Runtime's ARM64 MLAS: dot-product, i8mm), so
each entry here is a different set of kernels running the same file. qemu gives the emulated
program these features through its auxiliary vector (HWCAP, HWCAP2) and, from qemu 8.1 on, its own
/proc/cpuinfo for the guest, which is where the runtimes' cpuinfo library reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class EmulatedCpu:
    name: str  # what the user types: --emulate cortex-a53
    qemu_cpu: str  # qemu-aarch64 -cpu argument
    architecture: str  # in words, for reports
    features: tuple[str, ...]  # the Linux feature names (/proc/cpuinfo "Features") that select kernels
    phones: str  # which phones have cores like it
    emulator: str = "default"  # the qemu that emulates it (`toolchain.EMULATORS`): "sme2" needs qemu 10.1 or later


CPUS: dict[str, EmulatedCpu] = {cpu.name: cpu for cpu in (
    EmulatedCpu("cortex-a53", "cortex-a53", "ARMv8.0-A (NEON)", ("asimd",),
                "the little cores of most phones to 2020 and of low-end phones since"),
    EmulatedCpu("cortex-a76", "cortex-a76", "ARMv8.2-A with dot-product and fp16 arithmetic",
                ("asimd", "asimddp", "asimdhp", "fphp"),
                "the big cores of 2019-2022 phones (Cortex-A76/A77/A78, Kryo 4xx-6xx)"),
    # qemu has no named core with SME: `max` with both vector lengths at 128 bits, the width of phones' SVE.
    # qemu 10.0's `max` (the default emulator) has SME, not SME2; qemu 11's has SME2 and no switch to turn it
    # off, so the two are emulated by two qemu releases. XNNPACK picks its KleidiAI `sme` kernels on the first
    # and `sme2` kernels on the second (benchmarks/RESULTS.md, the aarch64 lane).
    EmulatedCpu("armv9-sme", "max,sve-default-vector-length=16,sme-default-vector-length=16",
                "ARMv9-A with SVE2 and SME (no SME2) at 128-bit vectors, i8mm, dot-product, fp16, bf16",
                ("asimd", "asimddp", "asimdhp", "i8mm", "sve", "sve2", "sme"),
                "cores with SME but not SME2: the SME (v1) kernel path of every runtime"),
    EmulatedCpu("armv9-sme2", "max,sve-default-vector-length=16,sme-default-vector-length=16",
                "ARMv9.2-A with SVE2 and SME2 at 128-bit vectors, i8mm, dot-product, fp16, bf16",
                ("asimd", "asimddp", "asimdhp", "i8mm", "sve", "sve2", "sme", "sme2"),
                "2025-26 flagships (Arm C1-Ultra/C1-Pro cores: SME2)", emulator="sme2"),
)}
DEFAULT_CPUS: tuple[str, ...] = ("cortex-a53", "cortex-a76", "armv9-sme", "armv9-sme2")


def get_cpus(names) -> list[EmulatedCpu]:
    """The named CPUs (``all``: every one); an unknown name lists the known ones."""
    names = [name.strip() for name in names if name.strip()]
    if names in ([], ["all"]):
        names = list(DEFAULT_CPUS)
    unknown = [name for name in names if name not in CPUS]
    if unknown:
        raise ConfigError(f"emulated CPU {', '.join(map(repr, unknown))} is unknown; CPUs: {', '.join(CPUS)} or all",
                          fields=("emulate",))
    return [CPUS[name] for name in dict.fromkeys(names)]


def device_name(cpu: EmulatedCpu) -> str:
    """How the lane's results are named in reports and verdicts."""
    return f"arm64 (emulated, {cpu.name})"
