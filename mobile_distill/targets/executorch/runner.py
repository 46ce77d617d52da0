"""ExecuTorch runner: the ExecuTorch runtime's C++ bindings (XNNPACK kernels built in).

Measured (executorch 1.5.1): ``from executorch.runtime import Runtime`` costs ~1.6 s of a ~1.6 s
load, because its portable_lib imports executorch.exir for one warning class, which parses edge.yaml
and pulls in torch._inductor (737 modules). The bindings module those wrappers call loads in 4 ms
and gives the same programs, methods, XNNPACK delegate and metadata; the wrapper is the fallback
if a release moves it. The load time bench reports is then the runtime's own (8 ms on the demo
student, 50 ms on a 90 MB program).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch  # before the bindings: it loads libtorch, which they link against

from ...manifest import Manifest
from ...runtime import torch_threads
from ...runners.base import ArtifactRunner
from .program import load_program
from .target import TARGET


class ExecutorchRunner(ArtifactRunner):
    target = TARGET.name
    max_batch = 1

    def __init__(self, folder: Path, manifest: Manifest, threads: int | None = None):
        super().__init__(folder, manifest, threads)
        self.method = load_program(folder / manifest.model_file).load_method("forward")

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        inputs = [torch.from_numpy(np.ascontiguousarray(batch[name])) for name in self.input_names]
        with torch_threads(self.threads):  # XNNPACK's pool in the Python runtime follows torch's thread count
            method = self.method
            outputs = method(inputs) if callable(method) else method.execute(inputs)
            return outputs[0].numpy()
