"""ExecuTorch export (.pte) lowered to XNNPACK, in fp32 or with int8 dynamic quantization (PT2E).

int8-dynamic follows ExecuTorch's XNNPACK recipe: export -> prepare_pt2e with XNNPACKQuantizer
(per-channel symmetric int8 weights, int8 activations quantized at run time, on nn.Linear only)
-> calibrate -> convert_pt2e -> DuplicateDynamicQuantChainPass -> re-export -> lower.
The wrapper's prepared 4D mask matters here: HF's own mask builder emits ``arange + 0`` index
arithmetic that XNNPACKQuantizer's scalar lifting turns into float indices (IndexError during
calibration; pytorch/executorch#22062), and the wrapper bypasses that builder.

``keep_float`` names nn.Linear modules as the export wrapper sees them
(``model.bert.encoder.layer.0.intermediate.dense``), which is the path torch.export records in
each node's ``nn_module_stack``. They are left out through the quantizer's filter function:
XNNPACKQuantizer (executorch 1.5.1) asserts on ``set_module_name(name, None)``, and its
``set_module_type`` pass would annotate every Linear regardless of per-name settings.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from ...errors import ConfigError
from .target import TARGET
from ...manifest import TensorSpec
from ...export.context import ExportContext, ExportedModel

_FILE = TARGET.model_file
_CALIBRATION_TEXTS = 32


def export_executorch(context: ExportContext, folder: Path) -> ExportedModel:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    sample = export_sample(context)
    wrapper = traceable_wrapper(context.wrapper)
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


def export_sample(context: ExportContext) -> tuple[torch.Tensor, ...]:
    """The .pte's static shapes: one text padded to the sequence length, int32 as phones feed it."""
    return tuple(context.sample_inputs(torch.int32, batch_size=1).values())


def traceable_wrapper(wrapper: torch.nn.Module) -> torch.nn.Module:
    """A copy of the wrapper as the exporter traces it (quantization rewrites the module; keep the caller's)."""
    wrapper = copy.deepcopy(wrapper).eval()
    # Eager attention lowers to plain matmul + softmax, which XNNPACK takes; sdpa decomposes into a
    # masked safe-softmax XNNPACK rejects, leaving ~70 more nodes on portable kernels (~1.45x slower).
    wrapper.model.set_attn_implementation("eager")
    return wrapper


def int8_dynamic_modules(wrapper: torch.nn.Module, sample: tuple, keep_float: tuple[str, ...], batches: list[tuple]):
    """(float graph, its int8-dynamic simulation) from one torch.export of ``wrapper``.

    The one recipe both the exporter (which lowers the simulation) and the per-layer sensitivity
    (which compares the two graphs node by node) use. ``batches`` run the weight observers
    (dynamic activations need no ranges).
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = _quantizer(wrapper, keep_float)
    float_module = torch.export.export(wrapper, sample).module()
    prepared = prepare_pt2e(copy.deepcopy(float_module), quantizer)  # prepare annotates its input in place
    for batch in batches:
        prepared(*batch)
    return float_module, convert_pt2e(prepared)


def _quantizer(wrapper: torch.nn.Module, keep_float: tuple[str, ...]):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    kept = set(check_keep_float(wrapper, keep_float))

    def outside_kept(node) -> bool:
        return not any(path in kept for path, _ in node.meta.get("nn_module_stack", {}).values())

    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)
    return XNNPACKQuantizer().set_module_type(torch.nn.Linear, config).set_filter_function(outside_kept)


def check_keep_float(wrapper: torch.nn.Module, keep_float: tuple[str, ...]) -> tuple[str, ...]:
    linears = [name for name, module in wrapper.named_modules() if isinstance(module, torch.nn.Linear)]
    unknown = [name for name in keep_float if name not in linears]
    if unknown:
        examples = ", ".join(linears[:3] + (["..."] if len(linears) > 3 else []))
        raise ConfigError(f"keep_float: {', '.join(map(repr, unknown))} not an nn.Linear of this model; ExecuTorch takes "
                          f"module names under the export wrapper ({len(linears)} here: {examples})")
    return tuple(keep_float)


def linear_module(node) -> str:
    """The module path (under the wrapper) of a linear node, from the stack torch.export records."""
    return list(node.meta.get("nn_module_stack", {}).values())[-1][0] if node.meta.get("nn_module_stack") else ""


def quantized_linears(converted) -> list:
    """The linear nodes of a converted graph whose weights pass through int8 (a dequantize op)."""
    dequantize = torch.ops.quantized_decomposed.dequantize_per_channel.default
    return [node for node in converted.graph.nodes
            if node.op == "call_function" and node.target == torch.ops.aten.linear.default
            and getattr(node.args[1], "target", None) == dequantize]


def _quantized_program(wrapper, sample, context: ExportContext):
    from executorch.backends.transforms.duplicate_dynamic_quant_chain import (
        DuplicateDynamicQuantChainPass,
    )

    texts = context.texts[: min(_CALIBRATION_TEXTS, context.options.calibration_size)] or context.sample_texts(2)
    batches = [tuple(context.encode([text], torch.int32).values()) for text in texts]
    _, converted = int8_dynamic_modules(wrapper, sample, context.options.keep_float, batches)
    quantized = len(quantized_linears(converted))
    DuplicateDynamicQuantChainPass()(converted)  # XNNPACK wants one quantize/dequantize chain per linear
    return torch.export.export(converted, sample), {
        "scheme": "int8-dynamic", "tool": "XNNPACKQuantizer (PT2E)", "weights": "int8 per-channel symmetric",
        "activations": "int8 dynamic", "quantized_modules": ["Linear"], "calibration_texts": len(texts),
        "quantized_linears": quantized, "kept_float": list(context.options.keep_float)}
