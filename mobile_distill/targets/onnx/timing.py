"""ONNX held the way an app holds it: onnxruntime and numpy, nothing else. The runner (runner.py) opens its
session here too, so the latency bench times is that of the session its accuracy came from.

The session settings, measured on the demo student's files in a process of onnxruntime alone (docs/bench.md):
the CPU memory arena off. With it on, the arena takes the activations' memory in chunks that grow and are
never returned; onnxruntime's memory pattern plans the activations in one block per input shape anyway.
"""

from __future__ import annotations

from pathlib import Path

from ..base import AppModel

SETTINGS = "CPU execution provider; cpu memory arena off; memory pattern on; all graph optimizations"


def open_session(model_path: Path, threads: int | None):
    """An onnxruntime session on ``model_path`` (read from the path: nothing of the file stays in Python)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    return onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


class OnnxApp(AppModel):
    modules = ("numpy", "onnxruntime")
    settings = SETTINGS

    def __init__(self, model_path: Path, threads: int, inputs: list[str], output: str):
        self.session, self.output = open_session(model_path, threads), output

    def __call__(self, feeds: dict):
        return self.session.run([self.output], feeds)[0]
