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
        self.embedding_rows = dict((manifest.quantization or {}).get("embedding_rows", {}))

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        self._refuse_ids_past_tables(batch)
        inputs = [torch.from_numpy(np.ascontiguousarray(batch[name])) for name in self.input_names]
        # torch's count bounds only the tensor conversions here: XNNPACK's pool is the runtime's own and stays at
        # the core count (timing.py sizes it before a program loads); accuracy does not depend on either
        with torch_threads(self.threads):
            method = self.method
            outputs = method(inputs) if callable(method) else method.execute(inputs)
            return outputs[0].numpy()

    def _refuse_ids_past_tables(self, batch: dict[str, np.ndarray]) -> None:
        """Raise where the int8 program's quantized embedding lookup would abort the process: on an id
        outside its table (the float lookup returns an error there, and this raises the same way)."""
        for name, rows in self.embedding_rows.items():
            ids = batch.get(name)
            if ids is not None and ids.size and (ids.min() < 0 or ids.max() >= rows):
                bad = int(ids.max() if ids.max() >= rows else ids.min())
                raise RuntimeError(f"{name} holds id {bad}, outside the {rows}-row embedding table of this int8 program "
                                   f"(its quantized lookup, embedding_byte, would abort the process)")
