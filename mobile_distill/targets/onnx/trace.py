"""The ONNX artifact traced for diagnose (`diagnose.trace.Tracer`): every node output exposed as a
graph output of an in-memory copy, run in onnxruntime.

Module paths come from node names: the TorchScript exporter scopes them by module
(``/model/bert/encoder/layer.0/attention/self/query/MatMul``), and onnxruntime's quantizers and the
fp16 converter keep those names or add suffixes to them. Which tensors leave a module is
`diagnose.trace.module_outputs`'s rule, with one exception for the fused graph: a tensor that one of
onnxruntime's fused operators (com.microsoft Attention, SkipLayerNormalization, BiasGelu, ...) reads is
not a module's output, because the operator finishes that module's work (its bias, the residual add,
the LayerNorm): the attention output projection's MatMul writes the product before its bias.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...diagnose.trace import Step, bind_inputs, module_outputs, non_finite_count
from .layers import _run, _session, module_of

_FUSED_DOMAIN = "com.microsoft"  # onnxruntime's contrib operators: the transformer optimizer's fused layers


class OnnxTracer:
    def __init__(self, model_path: Path, input_names: list[str], modules: list[str], threads: int | None = None):
        import onnx
        from onnx import numpy_helper

        self.model = onnx.load(str(model_path))
        graph = self.model.graph
        self._constants = {tensor.name: tensor for tensor in graph.initializer}
        for node in graph.node:  # folded constants are nodes, not initializers
            value = next((a for a in node.attribute if a.name == "value"), None) if node.op_type == "Constant" else None
            if value is not None:
                self._constants[node.output[0]] = value.t
        self._to_array = numpy_helper.to_array
        self.steps = [Step(out, node.name, node.op_type, _module(node),
                           tuple(name for name in node.input if name and name not in self._constants),
                           tuple(name for name in node.input if name in self._constants))
                      for node in graph.node if node.op_type != "Constant" for out in node.output if out]
        unfinished = {name for node in graph.node if node.domain == _FUSED_DOMAIN for name in node.input}
        self.module_outputs = {module: kept for module, tensors in
                               module_outputs(self.steps, {value.name for value in graph.output}, modules).items()
                               if (kept := [tensor for tensor in tensors if tensor not in unfinished])}
        self._session = _session(self.model, [step.tensor for step in self.steps], threads)
        self._names = bind_inputs(input_names, [value.name for value in self._session.get_inputs()])

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return _run(self._session, {theirs: feed[ours] for ours, theirs in self._names.items()})

    def non_finite_weights(self, names: tuple[str, ...]) -> dict[str, int]:
        counts = {name: non_finite_count(self._to_array(self._constants[name])) for name in names}
        return {name: count for name, count in counts.items() if count}


def _module(node) -> str:
    """The node's module path; an Identity that copies a weight (shared weights) is named by the weight."""
    path = module_of(node.name)
    if not path and node.op_type == "Identity" and node.output[0].startswith("model."):
        path = node.output[0].removeprefix("model.").rsplit(".", 1)[0]
    return path
