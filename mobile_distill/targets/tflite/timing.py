"""TFLite held the way an app holds it: the LiteRT interpreter and numpy, nothing else. The runner (runner.py)
opens its interpreter here too, so the latency bench times is that of the interpreter its accuracy came from.

The interpreter reads the file through a memory map (from the path, never from bytes held in Python: the demo's
int8-dynamic file peaked 17.5 MB over the runtime's baseline from its path, 28.4 MB from bytes), so only the
pages of the weights it touches are resident (most of the word-embedding table never is). The default op
resolver applies XNNPACK, which packs the weights it runs (that file: 17.5 MB, against 11.2 MB without the
default delegates) and runs 3.7 times as fast (median of four paired rounds); intermediate tensors are not
preserved (that keeps every activation alive, for diagnose's tracer only). XNNPACK's latest features changed
neither figure.
"""

from __future__ import annotations

from pathlib import Path

from ..base import AppModel
from .target import SIGNATURE

SETTINGS = "model file memory-mapped; default op resolver (XNNPACK); intermediate tensors not preserved"


def open_interpreter(model_path: Path, threads: int | None):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(model_path), num_threads=threads or 1)


class TfliteApp(AppModel):
    modules = ("numpy", "ai_edge_litert.interpreter")
    settings = SETTINGS

    def __init__(self, model_path: Path, threads: int, inputs: list[str], output: str):
        self.interpreter = open_interpreter(model_path, threads)
        self.signature = self.interpreter.get_signature_runner(SIGNATURE)
        self.output = output

    def __call__(self, feeds: dict):
        return self.signature(**feeds)[self.output]
