"""ExecuTorch export (.pte) lowered to XNNPACK, in fp32 or with int8 dynamic quantization (PT2E).

int8-dynamic follows ExecuTorch's XNNPACK recipe: export -> prepare_pt2e with XNNPACKQuantizer
(per-channel symmetric int8 weights, int8 activations quantized at run time, on nn.Linear)
-> calibrate -> convert_pt2e -> DuplicateDynamicQuantChainPass -> re-export -> lower.
The wrapper's prepared 4D mask matters here: HF's own mask builder emits ``arange + 0`` index
arithmetic that XNNPACKQuantizer's scalar lifting turns into float indices (IndexError during
calibration; pytorch/executorch#22062), and the wrapper bypasses that builder.

The embedding tables are quantized in the same PT2E pass, as ExecuTorch's LLM export composes it
(extension/llm/export/quantizer_lib.py: torchao's EmbeddingQuantizer, then XNNPACKQuantizer): 8 bits
per weight with a float scale and zero point per row. XNNPACK has no embedding op, so
``to_executorch`` runs ExecuTorch's quant fusion (``do_quant_fusion_and_const_prop``), which turns
each dequantize + embedding pair into the quantized kernel library's
``quantized_decomposed::embedding_byte`` (the runner loads that library: program.py). With the
Linears alone quantized, the default student's 30,522 x 384 word table stayed float and its .pte
53 MB of the fp32 one's 70. torchao's ``quantize_`` with IntxWeightOnlyConfig (what ExecuTorch's
XNNPACK quantization page gives for LLM embeddings) reaches the same kernel, but it rewrites the
eager module before torch.export, and the per-layer sensitivity (layers.py) pairs the float graph
with its int8 simulation through the nodes of one export: none pair across two.

``keep_float`` names nn.Linear and nn.Embedding modules as the export wrapper sees them
(``model.bert.encoder.layer.0.intermediate.dense``), which is the path torch.export records in
each node's ``nn_module_stack``. They are left out through the quantizer's filter function:
XNNPACKQuantizer (executorch 1.5.1) asserts on ``set_module_name(name, None)``, and its
``set_module_type`` pass would annotate every Linear regardless of per-name settings.
EmbeddingQuantizer has no filter, so the kept embeddings lose its annotation after it runs.
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
    (folder / _FILE).write_bytes(edge.to_executorch(_backend_config(context.precision)).buffer)
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


def _backend_config(precision: str):
    """int8 runs ExecuTorch's quant fusion: dequantize + embedding becomes one embedding_byte kernel that
    reads the 8-bit rows it gathers. Left unfused, the program dequantizes the whole table on every run,
    in a kernel that rejects the float zero points EmbeddingQuantizer makes (measured: it asserts).
    fp32 has nothing to fuse, and keeps the program the weights check reads verbatim."""
    from executorch.exir import ExecutorchBackendConfig

    return ExecutorchBackendConfig(do_quant_fusion_and_const_prop=precision == "int8-dynamic")


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
    from torchao.quantization.pt2e.quantizer import ComposableQuantizer

    kept = set(check_keep_float(wrapper, keep_float))

    def outside_kept(node) -> bool:
        return not any(path in kept for path, _ in node.meta.get("nn_module_stack", {}).values())

    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)
    linears = XNNPACKQuantizer().set_module_type(torch.nn.Linear, config).set_filter_function(outside_kept)
    return ComposableQuantizer([_embedding_quantizer(outside_kept), linears])


def _embedding_quantizer(outside_kept):
    """torchao's EmbeddingQuantizer (uint8 per row, float scale and zero point), minus the embeddings
    ``outside_kept`` rejects: it annotates every embedding and has no filter of its own."""
    from torchao.quantization.pt2e.quantizer.embedding_quantizer import EmbeddingQuantizer
    from torchao.quantization.pt2e.quantizer.quantizer import Q_ANNOTATION_KEY

    class Embeddings(EmbeddingQuantizer):
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            super().annotate(model)
            for node in model.graph.nodes:
                if node.target == torch.ops.aten.embedding.default and not outside_kept(node):
                    node.meta.pop(Q_ANNOTATION_KEY, None)
            return model

    return Embeddings()


def check_keep_float(wrapper: torch.nn.Module, keep_float: tuple[str, ...]) -> tuple[str, ...]:
    linears, embeddings = (_module_names(wrapper, kind) for kind in (torch.nn.Linear, torch.nn.Embedding))
    unknown = [name for name in keep_float if name not in linears + embeddings]
    if unknown:
        raise ConfigError(f"keep_float: {', '.join(map(repr, unknown))} not an nn.Linear or nn.Embedding of this "
                          f"model; ExecuTorch takes module names under the export wrapper ({_listed(linears, 'Linear')}; "
                          f"{_listed(embeddings, 'Embedding')})")
    return tuple(keep_float)


def _module_names(wrapper: torch.nn.Module, kind: type) -> list[str]:
    return [name for name, module in wrapper.named_modules() if isinstance(module, kind)]


def _listed(names: list[str], kind: str) -> str:
    return f"{len(names)} {kind}s here: " + ", ".join(names[:3] + (["..."] if len(names) > 3 else []))


def linear_module(node) -> str:
    """The module path (under the wrapper) of a linear node, from the stack torch.export records."""
    return list(node.meta.get("nn_module_stack", {}).values())[-1][0] if node.meta.get("nn_module_stack") else ""


def quantized_linears(converted) -> list:
    """The linear nodes of a converted graph whose weights pass through int8 (a dequantize op)."""
    return _int8_weighted(converted, torch.ops.aten.linear.default, weight=1)


def quantized_embeddings(converted) -> list:
    """The embedding nodes of a converted graph whose tables pass through 8 bits (a dequantize op)."""
    return _int8_weighted(converted, torch.ops.aten.embedding.default, weight=0)


def _int8_weighted(converted, op, weight: int) -> list:
    dequantize = torch.ops.quantized_decomposed.dequantize_per_channel.default
    return [node for node in converted.graph.nodes
            if node.op == "call_function" and node.target == op
            and getattr(node.args[weight], "target", None) == dequantize]


def embedding_rows(converted, input_names: tuple[str, ...]) -> dict[str, int]:
    """input name -> rows of the 8-bit table that input indexes (through its cast to int64).

    The runner refuses ids past these: embedding_byte aborts the process on one (ET_CHECK in
    kernels/quantized/cpu/op_embedding.cpp) where the float lookup returns an error, and bench and
    diagnose feed wrong ids on purpose (ids past the table, ids bound to the token-type input)."""
    inputs = dict(zip([node for node in converted.graph.nodes if node.op == "placeholder"], input_names))
    rows = {}
    for node in quantized_embeddings(converted):
        source = node.args[1]
        while source.op == "call_function" and source.target == torch.ops.aten.to.dtype:
            source = source.args[0]
        table = node.args[0].args[0]  # the 8-bit weight the dequantize reads
        if source in inputs and table.op == "get_attr":
            size = getattr(converted, table.target).shape[0]
            rows[inputs[source]] = min(size, rows.get(inputs[source], size))
    return rows


def _quantized_program(wrapper, sample, context: ExportContext):
    from executorch.backends.transforms.duplicate_dynamic_quant_chain import (
        DuplicateDynamicQuantChainPass,
    )

    texts = context.texts[: min(_CALIBRATION_TEXTS, context.options.calibration_size)] or context.sample_texts(2)
    batches = [tuple(context.encode([text], torch.int32).values()) for text in texts]
    _, converted = int8_dynamic_modules(wrapper, sample, context.options.keep_float, batches)
    quantization = _quantization(converted, context, len(texts))  # before the pass below duplicates nodes
    DuplicateDynamicQuantChainPass()(converted)  # XNNPACK wants one quantize/dequantize chain per linear
    return torch.export.export(converted, sample), quantization


def _quantization(converted, context: ExportContext, calibration_texts: int) -> dict:
    """The manifest's record of what the converted graph quantized."""
    linears, embeddings = len(quantized_linears(converted)), len(quantized_embeddings(converted))
    return {
        "scheme": "int8-dynamic", "tool": "XNNPACKQuantizer + EmbeddingQuantizer (PT2E)",
        "weights": "int8 per-channel symmetric", "activations": "int8 dynamic",
        "embeddings": "uint8 per row, float scale and zero point (quantized_decomposed::embedding_byte)"
                      if embeddings else "float",
        "quantized_modules": ["Linear"] + (["Embedding"] if embeddings else []),
        "calibration_texts": calibration_texts, "quantized_linears": linears, "quantized_embeddings": embeddings,
        "embedding_rows": embedding_rows(converted, context.input_names),
        "kept_float": list(context.options.keep_float)}
