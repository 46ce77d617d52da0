"""What a reader needs to interpret a latency figure: the CPU, its vector and int8 dot-product
instructions, and the runtime versions.

On x86 without VNNI (AVX-512 VNNI, AVX-VNNI or AMX), int8 kernels run no faster than fp32 (measured
on an AVX2-only machine: ONNX int8-dynamic 22.4 ms vs fp32 22.7 ms); on ARM the same holds without
the dot-product (``asimddp``) or i8mm extensions. A bench file records these so that two bench files
from different machines can be told apart, and the report says when int8 did not pay off here.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

# flag -> what it is, as /proc/cpuinfo (x86 "flags", ARM "Features") or macOS sysctl names it
VECTOR_FLAGS = {
    "sse4_2": "SSE4.2", "avx": "AVX", "avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512", "avx512bw": "AVX-512BW",
    "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "avx512_bf16": "AVX-512 BF16", "amx_tile": "AMX",
    "amx_int8": "AMX-INT8", "asimd": "NEON", "asimddp": "dot-product", "i8mm": "i8mm", "sve": "SVE", "sve2": "SVE2",
}
INT8_DOT_PRODUCT = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")
_MACOS = {"hw.optional.arm.FEAT_DotProd": "asimddp", "hw.optional.arm.FEAT_I8MM": "i8mm",
          "hw.optional.neon": "asimd", "hw.optional.avx2_0": "avx2", "hw.optional.avx512f": "avx512f"}


def cpu_features() -> dict:
    """The CPU model, the vector flags above that it has, and whether it has int8 dot-product instructions."""
    flags, model = _flags()
    present = [flag for flag in VECTOR_FLAGS if flag in flags]
    info = {"model": model, "flags": present, "int8_dot_product": any(flag in flags for flag in INT8_DOT_PRODUCT),
            "summary": ", ".join(VECTOR_FLAGS[flag] for flag in present) or "unknown"}
    try:
        import torch

        info["torch_capability"] = torch.backends.cpu.get_cpu_capability()
    except Exception:  # torch is always installed with this tool; the figure is a nicety
        pass
    return info


def _flags() -> tuple[set[str], str]:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        flags, model = set(), platform.processor()
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("flags", "features"):
                flags |= set(value.split())
            elif key in ("model name", "cpu model", "hardware") and value.strip():
                model = value.strip()
        return flags, model
    if platform.system() == "Darwin":
        return _macos_flags()
    return set(), platform.processor()


def _macos_flags() -> tuple[set[str], str]:
    try:
        output = subprocess.run(["sysctl", "-a"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return set(), platform.processor()
    values = dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)
    flags = {flag for key, flag in _MACOS.items() if values.get(key, "0").strip() == "1"}
    return flags, values.get("machdep.cpu.brand_string", platform.processor()).strip()


def device_info() -> dict:
    from ..export.artifact import tool_versions

    return {"system": platform.system(), "machine": platform.machine(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "cpu": cpu_features(), "python": platform.python_version(),
            "tools": tool_versions()}
