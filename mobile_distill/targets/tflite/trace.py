"""The TFLite artifact traced for diagnose (`diagnose.trace.Tracer`): run in the TFLite interpreter
with every intermediate tensor preserved (XNNPACK off: a delegated subgraph keeps none), as the
per-layer comparison does.

Tensors are handled by index (``"<index>|<name>"``): litert-torch names a tensor by the module scope
that wrote it, so several tensors of one scope share a name. The name gives the module
(`layers.module_of` turns the scope into the reference's module path).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...diagnose.trace import Step, bind_inputs, module_outputs, non_finite_count
from .layers import _ops, module_of
from .target import SIGNATURE


def _handle(index: int, name: str) -> str:
    return f"{index}|{name}"


def _index(handle: str) -> int:
    return int(handle.split("|", 1)[0])


class TfliteTracer:
    def __init__(self, model_path: Path, input_names: list[str], modules: list[str], threads: int | None = None):
        from ai_edge_quantizer.utils import tfl_interpreter_utils as interpreters

        self._interpreters = interpreters
        self._interpreter = interpreters.create_tfl_interpreter(Path(model_path).read_bytes(), use_xnnpack=False,
                                                                num_threads=threads or 1, preserve_all_tensors=True)
        self._subgraph = interpreters.get_signature_main_subgraph_index(self._interpreter, SIGNATURE)
        runner = self._interpreter.get_signature_runner(SIGNATURE)
        ops = _ops(Path(model_path), _handle)
        self.steps = [Step(out, out.split("|", 1)[1], op.op_type, module_of(out.split("|", 1)[1], modules), op.inputs,
                           op.constants) for op in ops for out in op.outputs]
        returned = {detail["index"] for detail in runner.get_output_details().values()}
        outputs = module_outputs(self.steps, {s.tensor for s in self.steps if _index(s.tensor) in returned}, modules)
        # an op with a fused activation (FULLY_CONNECTED + RELU for DistilBERT's pre_classifier) writes what the
        # module's caller computes next, not the module's output: not a place to compare with the module
        fused = {out for op in ops if op.fused_activation for out in op.outputs}
        self.module_outputs = {module: [t for t in tensors if t not in fused] for module, tensors in outputs.items()}
        self._names = bind_inputs(input_names, list(runner.get_input_details()))

    def _value(self, handle: str) -> np.ndarray:
        return self._interpreter.get_tensor(_index(handle), self._subgraph)

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        signature = {theirs: feed[ours].astype(np.int32) for ours, theirs in self._names.items()}
        self._interpreters.invoke_interpreter_signature(self._interpreter, signature, SIGNATURE)
        return {step.tensor: self._value(step.tensor) for step in self.steps}

    def non_finite_weights(self, names: tuple[str, ...]) -> dict[str, int]:
        counts = {handle.split("|", 1)[1]: non_finite_count(self._value(handle)) for handle in names}
        return {name: count for name, count in counts.items() if count}
