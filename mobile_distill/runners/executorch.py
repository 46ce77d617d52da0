"""ExecuTorch runner: the ExecuTorch runtime's Python bindings (XNNPACK kernels built in)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..export.artifact import Manifest
from .base import ArtifactRunner


class ExecutorchRunner(ArtifactRunner):
    target = "executorch"
    max_batch = 1

    def __init__(self, folder: Path, manifest: Manifest, threads: int | None = None):
        from executorch.runtime import Runtime

        super().__init__(folder, manifest, threads)
        if threads:
            torch.set_num_threads(threads)  # XNNPACK's pool in the Python runtime follows torch's thread count
        self.method = Runtime.get().load_program(str(folder / manifest.model_file)).load_method("forward")

    def declared_inputs(self):
        scalar_types = {3: "int32", 4: "int64", 5: "float16", 6: "float32"}  # c10::ScalarType codes
        meta = self.method.metadata
        return [(None, scalar_types.get(meta.input_tensor_meta(i).dtype(), str(meta.input_tensor_meta(i).dtype())),
                 tuple(meta.input_tensor_meta(i).sizes())) for i in range(meta.num_inputs())]

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        inputs = [torch.from_numpy(np.ascontiguousarray(batch[name])) for name in self.input_names]
        return self.method.execute(inputs)[0].numpy()
