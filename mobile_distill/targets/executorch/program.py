"""Loading a .pte program, shared by the runner and the declared-input reader (which must not import the
runner: the runner imports the runner base, which reads the target registry)."""

from __future__ import annotations

from pathlib import Path


def load_program(path: Path):
    """The program at ``path`` through the C++ bindings (fast), else through `executorch.runtime`."""
    # The bindings register the portable and optimized kernels only. int8 programs call the quantized
    # library's embedding_byte, which this package registers with the runtime when it loads its
    # ahead-of-time library (that links the runtime's quantized kernels; 3 ms). Without it loading
    # the method fails: "Missing operator: quantized_decomposed::embedding_byte.out".
    import executorch.kernels.quantized  # noqa: F401

    try:
        from executorch.extension.pybindings._C import _load_program
    except ImportError:  # pragma: no cover - a release that moved the bindings
        from executorch.runtime import Runtime

        return Runtime.get().load_program(str(path))
    return _load_program(str(path))
