"""ExecuTorch held the way an app holds it: the runtime's bindings and numpy. The bindings link libtorch, so
torch is imported first (its ~300 MB count in the baseline here; an app links the C++ runtime alone).

The program is loaded from its path, as the runner loads it (program.py): the bindings map the file rather
than reading it into memory (the demo's fp32 program, 69.6 MB: 74.4 MB over the baseline, 51 MB of it pages
of the mapped file), and XNNPACK packs the delegated weights once, at load; from bytes, the XNNPACK delegate
failed to load. XNNPACK's thread pool is the runtime's own, not torch's (torch.set_num_threads leaves it at
the machine's core count): it is sized here before the program is loaded, since the delegate keeps the pool
it was given (resizing it under a loaded program is what makes the call ``_unsafe``).
"""

from __future__ import annotations

from pathlib import Path

from ..base import AppModel
from .program import load_program

SETTINGS = "program memory-mapped from its path; XNNPACK delegate; XNNPACK thread pool sized to the thread count"


class ExecutorchApp(AppModel):
    # torch first: the bindings link libtorch; the quantized kernel library, which int8 programs call (program.py)
    modules = ("numpy", "torch", "executorch.extension.pybindings._C", "executorch.kernels.quantized")
    settings = SETTINGS

    def __init__(self, model_path: Path, threads: int, inputs: list[str], output: str):
        from executorch.extension.pybindings import _C

        _C._unsafe_reset_threadpool(threads)  # no program is loaded in this process yet
        self.program = load_program(model_path)
        self.method = self.program.load_method("forward")
        self.inputs = inputs  # ExecuTorch binds by position

    def __call__(self, feeds: dict):
        import numpy as np
        import torch

        values = [torch.from_numpy(np.ascontiguousarray(feeds[name])) for name in self.inputs]
        outputs = self.method(values) if callable(self.method) else self.method.execute(values)
        return outputs[0].numpy()
