"""Core ML runner: coremltools' MLModel.predict, which needs macOS (Core ML itself)."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..export.artifact import Manifest
from .base import ArtifactRunner


class CoremlRunner(ArtifactRunner):
    target = "coreml"
    max_batch = 1

    def __init__(self, folder: Path, manifest: Manifest, threads: int | None = None):
        if platform.system() != "Darwin":
            raise ModelError(f"{folder}: a Core ML model can only be run on macOS (this is {platform.system()}); "
                             "run bench there, or use the spec checks made at export")
        import coremltools as ct

        super().__init__(folder, manifest, threads)
        self.model = ct.models.MLModel(str(folder / manifest.model_file), compute_units=ct.ComputeUnit.CPU_ONLY)
        self.output_name = manifest.output.name

    def declared_inputs(self):
        dtypes = {65568: "float32", 65552: "float16", 131104: "int32"}  # ArrayFeatureType.ArrayDataType codes
        return [(item.name, dtypes.get(item.type.multiArrayType.dataType, "?"), tuple(item.type.multiArrayType.shape))
                for item in self.model.get_spec().description.input]

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.model.predict(batch)[self.output_name], dtype=np.float32)

