"""ONNX held the way an app holds it: onnxruntime and numpy, nothing else. The runner (runner.py) opens its
session here too, so the latency bench times is that of the session its accuracy came from.

The session settings are onnxruntime's own, the file opened from its path. Measured on the demo student's
files, each opened once in a process of onnxruntime alone (docs/bench.md): no session setting moved the peak.
It is set by loading the file (the parsed protobuf and the weights' tensors side by side): int8-dynamic
(17.5 MB) peaked 38.4 MB over the runtime's baseline with the CPU memory arena on or off, the memory pattern
off, prepacking off, initializers outside the arena, or basic graph optimizations only (38.1), and latency did
not move beyond noise (arena off / on: 0.99 median of six paired rounds). Opened from bytes held in Python it
peaked at 55.6 MB. What does lower it is the file's form: the same weights as ONNX external data, which
onnxruntime memory-maps, peaked at 23.3 MB. The ORT format (onnxruntime.tools.convert_onnx_models_to_ort, what
ORT Mobile's reduced builds load) did not help from a path: 54.0 MB for a random-weight twin whose .onnx peaked at
37.3. Its zero-copy mode (session.use_ort_model_bytes_directly and ..._for_initializers) needs a buffer that
outlives the session, which the Python bindings do not keep (both crashed the process when given bytes).
"""

from __future__ import annotations

from pathlib import Path

from ..base import AppModel

SETTINGS = "CPU execution provider; onnxruntime's default session options; opened from the file's path"


def open_session(model_path: Path, threads: int | None):
    """An onnxruntime session on ``model_path`` (read from the path: nothing of the file stays in Python)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


class OnnxApp(AppModel):
    modules = ("numpy", "onnxruntime")
    settings = SETTINGS

    def __init__(self, model_path: Path, threads: int, inputs: list[str], output: str):
        self.session, self.output = open_session(model_path, threads), output

    def __call__(self, feeds: dict):
        return self.session.run([self.output], feeds)[0]
