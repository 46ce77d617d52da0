"""Per-layer sensitivity of an ExecuTorch int8-dynamic artifact: which quantized nn.Linear adds the
most error, named as ``ExportOptions.keep_float`` takes it (for --auto-fallback).

The ranking comes from the PT2E quantized simulation, not from the .pte: the .pte's XNNPACK
delegate is one opaque blob, and no intermediate output can be read from it. The simulation is
rebuilt from the reference checkpoint with the exporter's own recipe (``int8_dynamic_modules``:
same options and keep_float from the manifest, same wrapper, same static length), so it computes
the same quantize/dequantize arithmetic the delegate runs, and the 8-bit embedding tables the
program's embedding_byte kernel reads. The gate that judges each fallback attempt runs the
re-exported .pte itself.

Only the Linears are ranked. The embeddings' rounding is in every Linear's input error, which the
ranking subtracts (``added_error``); keep_float can still name an embedding by hand.

Measured with torchao's PT2E numeric debugger (torchao 0.18): ``prepare_for_propagation_comparison``
puts an output logger on every node of the float graph and of the converted graph, keyed by the
node each one descends from, so ``compare_results`` pairs a quantized linear with its float
original. Per quantized linear: the relative L2 error of its output against float over the texts,
and that minus the error already present at its input (the float graph's input of the linear,
whose copy in the converted graph carries the error of every layer before it).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...config import ExportOptions
from ...errors import ConfigError
from ...export.context import ExportContext
from .target import TARGET
from .export import (
    export_sample,
    int8_dynamic_modules,
    linear_module,
    quantized_linears,
    traceable_wrapper,
)
from ...export.wrapper import ClassifierWrapper, uses_token_types
from ...models import load_classifier, load_tokenizer, read_labels
from ...diagnose.layers import (
    DIVERGED,
    LayerComparison,
    NodeSensitivity,
    TensorError,
    checked_inputs,
    relative_error,
)

LAYER_TEXTS = 32


def executorch_sensitivity(artifact_dir: Path, reference_dir: Path, texts: list[str]) -> list[NodeSensitivity]:
    """The quantized Linears of an ExecuTorch int8-dynamic artifact, the most error-adding first."""
    return compare_executorch_layers(artifact_dir, reference_dir, texts).sensitivity


def compare_executorch_layers(artifact_dir: Path, reference_dir: Path, texts: list[str], threads: int | None = None,
                              threshold: float = DIVERGED) -> LayerComparison:
    """Every quantized Linear's output error in graph order, the first past ``threshold``, and the ranking.
    ``threads`` is unused: the simulation runs in this process's PyTorch thread pool."""
    from torchao.quantization.pt2e import prepare_for_propagation_comparison

    context = _context(Path(artifact_dir), Path(reference_dir), texts)
    # Texts one at a time, padded to the manifest's length with the mask: what the static .pte sees.
    batches = [tuple(context.encode([text], torch.int32).values()) for text in texts[:LAYER_TEXTS]]
    wrapper = traceable_wrapper(context.wrapper)
    with torch.no_grad():
        float_module, converted = int8_dynamic_modules(wrapper, export_sample(context), context.options.keep_float,
                                                       batches[:1])
        quantized = {linear_module(node) for node in quantized_linears(converted)}
        reference = prepare_for_propagation_comparison(float_module)
        simulated = prepare_for_propagation_comparison(converted)
        pairs = _tracked(reference, quantized)
        sums = _squared_sums(reference, simulated, batches, {key for pair in pairs.values() for key in pair[:2]})
    tensors = [TensorError(name, module, "Linear", _relative(sums.get(output)))
               for module, (output, _, name) in pairs.items()]  # pairs are in graph order
    return LayerComparison(tensors, _rank(pairs, sums), threshold)


def _context(artifact_dir: Path, reference_dir: Path, texts: list[str]) -> ExportContext:
    """The export context the artifact was made with: its options and length, the reference's weights."""
    manifest = checked_inputs(artifact_dir, reference_dir, texts)
    if (manifest.target, manifest.precision) != (TARGET.name, "int8-dynamic"):
        raise ConfigError(f"{artifact_dir}: ExecuTorch sensitivity needs an executorch int8-dynamic artifact "
                          f"(this is {manifest.target} {manifest.precision})")
    options = ExportOptions(**(manifest.options or {"seq_len": manifest.sequence_length}))
    model = load_classifier(reference_dir).eval()
    wrapper = ClassifierWrapper(model, uses_token_types(model))
    return ExportContext(TARGET.name, "int8-dynamic", wrapper, load_tokenizer(reference_dir),
                         tuple(read_labels(reference_dir)), options, list(texts))


def _logger(model, node):
    """The OutputLogger a logger node calls, or None for any other node."""
    # Not exported by torchao.quantization.pt2e; needed to find a node's logger and to empty loggers.
    from torchao.quantization.pt2e._numeric_debugger import OutputLogger

    target = model.get_submodule(node.target) if node.op == "call_module" else None
    return target if isinstance(target, OutputLogger) else None


def _loggers(model) -> list:
    from torchao.quantization.pt2e._numeric_debugger import OutputLogger

    return [module for module in model.children() if isinstance(module, OutputLogger)]


def _tracked(reference, quantized: set[str]) -> dict[str, tuple]:
    """module -> (debug info of its output, of its input, output node name), for the quantized linears.

    In the logged float graph, a linear's input is its producer's logger and the linear's one
    user is its own logger.
    """
    pairs = {}
    for node in reference.graph.nodes:
        if node.op != "call_function" or node.target != torch.ops.aten.linear.default:
            continue
        module = linear_module(node)
        own = next(filter(None, (_logger(reference, user) for user in node.users)), None)
        source = _logger(reference, node.args[0])
        if module in quantized and own is not None:
            pairs[module] = (own.debug_info, source.debug_info if source else None, node.name)
    return pairs


def _squared_sums(reference, simulated, batches, keys) -> dict:
    """debug info -> [sum of squared error, sum of squared float values] over the batches.

    Loggers are emptied after each text, so memory stays at one text's activations.
    """
    from torchao.quantization.pt2e import compare_results, extract_results_from_loggers

    sums = {key: [0.0, 0.0] for key in keys if key is not None}
    for batch in batches:
        reference(*batch)
        simulated(*batch)
        wanted = [{key: value for key, value in extract_results_from_loggers(model).items() if key in sums}
                  for model in (reference, simulated)]
        for key, summary in compare_results(*wanted).items():
            for result in summary.results:
                sums[key][0] += float(result.loss(lambda a, b: torch.sum((a.double() - b.double()) ** 2)))
                sums[key][1] += float(result.loss(lambda a, b: torch.sum(b.double() ** 2)))
        for model in (reference, simulated):
            for logger in _loggers(model):
                logger.stats.clear()
    return sums


def _relative(total: list[float] | None) -> float:
    return relative_error(*total) if total is not None else 0.0


def _rank(pairs: dict[str, tuple], sums: dict) -> list[NodeSensitivity]:
    ranked = []
    for module, (output, source, name) in pairs.items():
        error = _relative(sums.get(output))
        upstream = _relative(sums.get(source))
        ranked.append(NodeSensitivity(node=module, op_type="Linear", module=module.removeprefix("model."),
                                      output=name, error=error, added_error=error - upstream))
    return sorted(ranked, key=lambda item: -item.added_error)
