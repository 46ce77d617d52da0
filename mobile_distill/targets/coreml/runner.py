"""Core ML runner: coremltools' MLModel.predict, which needs macOS (Core ML itself). `load_runner`
refuses Core ML artifacts elsewhere, from the target's ``platforms``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...manifest import Manifest
from ...runners.base import ArtifactRunner
from .target import TARGET


class CoremlRunner(ArtifactRunner):
    target = TARGET.name
    max_batch = 1

    def __init__(self, folder: Path, manifest: Manifest, threads: int | None = None):
        import coremltools as ct

        super().__init__(folder, manifest, threads)
        self.model = ct.models.MLModel(str(folder / manifest.model_file), compute_units=ct.ComputeUnit.CPU_ONLY)
        self.output_name = manifest.output.name

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.model.predict(batch)[self.output_name], dtype=np.float32)
