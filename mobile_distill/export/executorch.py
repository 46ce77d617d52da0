"""ExecuTorch export (.pte) lowered to XNNPACK, in fp32 or with int8 dynamic quantization (PT2E).

int8-dynamic follows ExecuTorch's XNNPACK recipe: export -> prepare_pt2e with XNNPACKQuantizer
(per-channel symmetric int8 weights, int8 activations quantized at run time, on nn.Linear only)
-> calibrate -> convert_pt2e -> DuplicateDynamicQuantChainPass -> re-export -> lower.
The wrapper's prepared 4D mask matters here: HF's own mask builder emits ``arange + 0`` index
arithmetic that XNNPACKQuantizer's scalar lifting turns into float indices (IndexError during
calibration; pytorch/executorch#22062), and the wrapper bypasses that builder.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from .artifact import TensorSpec
from .context import ExportContext, ExportedModel

_FILE = "model.pte"


def export_executorch(context: ExportContext, folder: Path) -> ExportedModel:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    sample = tuple(context.sample_inputs(torch.int32, batch_size=1).values())
    wrapper = copy.deepcopy(context.wrapper).eval()  # quantization rewrites the module; keep the caller's intact
    # Eager attention lowers to plain matmul + softmax, which XNNPACK takes; sdpa decomposes into a
    # masked safe-softmax XNNPACK rejects, leaving ~70 more nodes on portable kernels (~1.45x slower).
    wrapper.model.set_attn_implementation("eager")
    with torch.no_grad():
        if context.precision == "int8-dynamic":
            program, quantization = _quantized_program(wrapper, sample, context)
        else:
            program, quantization = torch.export.export(wrapper, sample), {"scheme": "none"}
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    delegation = get_delegation_info(edge.exported_program().graph_module)
    (folder / _FILE).write_bytes(edge.to_executorch().buffer)
    shape = (1, context.options.seq_len)
    return ExportedModel(
        model_file=_FILE,
        inputs=tuple(TensorSpec(name=name, dtype="int32", shape=shape) for name in context.input_names),
        output=TensorSpec(name="logits", dtype="float32", shape=(1, len(context.labels))),
        static_shapes=True,
        quantization={**quantization, "backend": "XNNPACK",
                      "delegated_nodes": delegation.num_delegated_nodes,
                      "non_delegated_nodes": delegation.num_non_delegated_nodes},
    )


def _quantized_program(wrapper, sample, context: ExportContext):
    from executorch.backends.transforms.duplicate_dynamic_quant_chain import DuplicateDynamicQuantChainPass
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_module_type(
        torch.nn.Linear, get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    prepared = prepare_pt2e(torch.export.export(wrapper, sample).module(), quantizer)
    texts = context.texts[: min(32, context.options.calibration_size)] or context.sample_texts(2)
    for text in texts:  # dynamic activations need no ranges; this runs the weight observers on real input
        prepared(*context.encode([text], torch.int32).values())
    converted = convert_pt2e(prepared)
    DuplicateDynamicQuantChainPass()(converted)  # XNNPACK wants one quantize/dequantize chain per linear
    return torch.export.export(converted, sample), {
        "scheme": "int8-dynamic", "tool": "XNNPACKQuantizer (PT2E)", "weights": "int8 per-channel symmetric",
        "activations": "int8 dynamic", "quantized_modules": ["Linear"], "calibration_texts": len(texts)}
