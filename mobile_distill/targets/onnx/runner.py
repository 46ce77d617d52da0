"""onnxruntime runner (CPU execution provider)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...manifest import Manifest
from ...runners.base import ArtifactRunner
from .target import TARGET


class OnnxRunner(ArtifactRunner):
    target = TARGET.name

    def __init__(self, folder: Path, manifest: Manifest, threads: int | None = None):
        import onnxruntime

        super().__init__(folder, manifest, threads)
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(folder / manifest.model_file), options,
                                                    providers=["CPUExecutionProvider"])
        self.output_name = manifest.output.name

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run([self.output_name], batch)[0]
