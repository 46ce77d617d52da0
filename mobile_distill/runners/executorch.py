"""ExecuTorch runner: the ExecuTorch runtime's Python bindings (XNNPACK kernels built in)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..export.artifact import Manifest
from ..runtime import torch_threads
from .base import ArtifactRunner


class ExecutorchRunner(ArtifactRunner):
    target = "executorch"
    max_batch = 1

    def __init__(self, folder: Path, manifest: Manifest, threads: int | None = None):
        from executorch.runtime import Runtime

        super().__init__(folder, manifest, threads)
        self.method = Runtime.get().load_program(str(folder / manifest.model_file)).load_method("forward")

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        inputs = [torch.from_numpy(np.ascontiguousarray(batch[name])) for name in self.input_names]
        with torch_threads(self.threads):  # XNNPACK's pool in the Python runtime follows torch's thread count
            return self.method.execute(inputs)[0].numpy()
