"""onnxruntime runner (CPU execution provider), on the session settings bench times (timing.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...manifest import Manifest
from ...runners.base import ArtifactRunner
from .target import TARGET
from .timing import open_session


class OnnxRunner(ArtifactRunner):
    target = TARGET.name

    def __init__(self, folder: Path, manifest: Manifest, threads: int | None = None):
        super().__init__(folder, manifest, threads)
        self.session = open_session(folder / manifest.model_file, threads)
        self.output_name = manifest.output.name

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run([self.output_name], batch)[0]
