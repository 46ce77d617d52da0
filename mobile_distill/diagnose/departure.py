"""Where the artifact leaves its reference: localisation, for faults no catalogue entry names.

module-departure  The artifact's intermediate tensors (its target's tracer, `diagnose.trace`), tied to
                  PyTorch modules, against the reference's module outputs (forward hooks) on the same
                  real texts fed the same ids: the first module, in the order the reference computes
                  them (children before parents), whose relative error exceeds what the artifact's
                  precision explains (`Precision.module_tolerance`), with the error and the largest one
                  before it. An edited graph, a wrong weight, a kernel that computes something else:
                  each shows as the module where the numbers part.
non-finite        For an artifact that computes NaN or inf: the first operation whose output is not
                  finite, its module, and whether its inputs were: a weight that holds NaN/inf, or an
                  overflow (an invalid operation) on finite inputs.

Both run on every precision (fp32 included). Neither is a counterfactual, so neither is confirmed:
a confirmed cause from the feed checks ranks first, and these name the place when nothing else does.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from ..precisions import PRECISIONS
from ..targets import TARGETS
from .context import Probe
from .report import Cause, Outcome, clear, found, skipped
from .trace import Step, recorded_module_outputs, text_feeds

TRACE_TEXTS = 8  # one text per run, every intermediate kept: a few texts find a broken module
SHOWN = 8  # modules listed in the detail


@dataclass
class Traced:
    errors: dict[str, float] = field(default_factory=dict)  # module -> relative error, in reference order
    tensors: dict[str, str] = field(default_factory=dict)  # module -> the artifact tensor compared with it
    non_finite: Step | None = None  # the first operation writing NaN or inf
    non_finite_inputs: dict[str, bool] = field(default_factory=dict)  # its activation inputs -> finite?
    non_finite_weights: dict[str, int] = field(default_factory=dict)  # its constants holding NaN/inf -> count
    texts: int = 0


_TRACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one trace per probe, for both checks


def trace(probe: Probe) -> Traced | str:
    """The comparison, or why it cannot run here (a sentence)."""
    if probe not in _TRACES:
        _TRACES[probe] = _trace(probe)
    return _TRACES[probe]


def _trace(probe: Probe) -> Traced | str:
    target = TARGETS.get(probe.manifest.target)
    if target is None or target.tracer is None:
        tracing = ", ".join(name for name, t in TARGETS.items() if t.tracer)
        return f"intermediate tensors are read for {tracing} artifacts (this is {probe.manifest.target})"
    if probe.cannot_run():
        return probe.cannot_run()
    names = [spec.name for spec in probe.manifest.inputs]
    modules = [name for name, _ in probe.reference.model.named_modules() if name]
    tracer = target.load("tracer")(probe.artifact_dir / probe.manifest.model_file, names, modules, probe.threads)
    feeds = text_feeds(probe.reference.tokenizer, probe.sample[:TRACE_TEXTS], probe.manifest.sequence_length,
                       probe.manifest.static_shapes, sorted(set(names) | set(probe.reference.input_names)))
    products: dict[str, list[float]] = {}  # module -> [<artifact, reference>, |artifact|^2, |reference|^2]
    result = Traced(texts=len(feeds))
    first = len(tracer.steps)
    for feed in feeds:
        values = tracer.run(feed)
        with recorded_module_outputs(probe.reference.model) as reference:
            probe.reference.predict({name: feed[name] for name in probe.reference.input_names})
        for module, expected in reference.items():
            tensor = _matching(tracer.module_outputs.get(module, []), values, expected.shape)
            if tensor is None:
                continue
            result.tensors[module] = tensor
            ours, theirs = values[tensor].reshape(expected.shape).astype(np.float64), expected.astype(np.float64)
            sums = products.setdefault(module, [0.0, 0.0, 0.0])
            sums[0] += float(np.sum(ours * theirs))
            sums[1] += float(np.sum(ours * ours))
            sums[2] += float(np.sum(theirs * theirs))
        earlier = _first_non_finite(tracer.steps[:first], values)
        if earlier < first:  # an earlier origin on this text: its inputs as this text saw them
            first, step = earlier, tracer.steps[earlier]
            result.non_finite_inputs = {name: bool(np.isfinite(values[name]).all()) for name in step.inputs
                                        if name in values and np.issubdtype(values[name].dtype, np.floating)}
    result.errors = {module: scaled_error(*sums) for module, sums in products.items()}
    if first < len(tracer.steps):
        result.non_finite = tracer.steps[first]
        result.non_finite_weights = tracer.non_finite_weights(result.non_finite.weights)
    return result


def scaled_error(cross: float, ours: float, theirs: float) -> float:
    """Relative error of the artifact's tensor against the reference's after the best positive scale:
    min over a > 0 of ||a x - y|| / ||y||. Scale-free because converters fold constant factors across
    modules (litert-torch moves attention's 1/sqrt(d) into the query and key projections, d^-1/4 each):
    a folded factor is not a departure, and a real fault is not a single factor. NaN or inf: inf."""
    if not all(np.isfinite((cross, ours, theirs))):
        return float("inf")
    if theirs == 0:
        return 0.0 if ours == 0 else 1.0
    explained = cross * cross / ours if cross > 0 and ours > 0 else 0.0
    return float(np.sqrt(max(theirs - explained, 0.0) / theirs))


def _matching(tensors: list[str], values: dict[str, np.ndarray], shape: tuple) -> str | None:
    """The first float tensor leaving the module with the reference output's shape, or that shape with
    the heads still split off (``(1, 32, 2, 8)`` for ``(1, 32, 16)``: a converter that fused the merging
    reshape into the next module's op). The first: a converter may name later layers' tensors after
    an earlier layer's scope (litert-torch does), never the other way round."""
    for name in tensors:
        value = values.get(name)
        if value is None or not np.issubdtype(value.dtype, np.floating):
            continue
        split = (len(value.shape) == len(shape) + 1 and value.shape[:-2] == shape[:-1]
                 and int(np.prod(value.shape[-2:])) == shape[-1])
        if value.shape == shape or split:
            return name
    return None


def _first_non_finite(steps: list[Step], values: dict[str, np.ndarray]) -> int:
    for index, step in enumerate(steps):
        value = values.get(step.tensor)
        if value is not None and np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            return index
    return len(steps)


def check_departure(probe: Probe) -> Outcome:
    traced = trace(probe)
    if isinstance(traced, str):
        return skipped(traced)
    if not traced.errors:
        return skipped("no intermediate tensor of the artifact could be tied to a module of the reference")
    tolerance = _tolerance(probe)
    ordered = list(traced.errors.items())
    detail = {"tolerance": tolerance, "texts": traced.texts, "modules_compared": len(ordered),
              "errors": dict(ordered[:3] + sorted(ordered, key=lambda item: -item[1])[:SHOWN])}
    index = next((i for i, (_, error) in enumerate(ordered) if error > tolerance), None)
    if index is None:
        module, error = max(ordered, key=lambda item: item[1])
        return clear(f"every one of {len(ordered)} modules within {probe.manifest.precision}'s {tolerance} "
                     f"(largest {error:.2g} at {module})", detail)
    module, error = ordered[index]
    before = max((e for _, e in ordered[:index]), default=0.0)
    detail.update(module=module, error=error, largest_before=before, tensor=traced.tensors[module])
    summary = (f"the artifact departs from its reference first at module {module}: relative error {_size(error)} "
               f"at its output (tensor '{_clip(traced.tensors[module])}'), against at most {_size(before)} in "
               f"the {index} modules before it; {probe.manifest.precision} explains up to {tolerance}")
    return found(Cause("module-departure", summary, detail), detail=detail)


def check_non_finite(probe: Probe) -> Outcome:
    traced = trace(probe)
    if isinstance(traced, str):
        return skipped(traced)
    step = traced.non_finite
    if step is None:
        return clear(f"every intermediate tensor finite on {traced.texts} texts")
    where = f"{step.op_type} '{_clip(step.node or step.tensor)}'" + (f" (module {step.module})" if step.module else "")
    detail = {"node": step.node, "op_type": step.op_type, "module": step.module, "tensor": step.tensor,
              "inputs_finite": traced.non_finite_inputs, "non_finite_weights": traced.non_finite_weights}
    if traced.non_finite_weights:
        weights = ", ".join(f"'{_clip(name)}' ({count} value{'s' if count > 1 else ''})"
                            for name, count in traced.non_finite_weights.items())
        why = f"it reads a weight that holds NaN or inf: {weights}"
    elif all(traced.non_finite_inputs.values()):
        why = "its inputs are finite: an overflow or an invalid operation (0/0, log of 0) in this operation"
    else:
        why = "an input was already non-finite outside the traced operations"
    summary = f"the first non-finite value is written by {where}: {why}"
    return found(Cause("non-finite", summary, detail), detail=detail)


def _tolerance(probe: Probe) -> float:
    precision = PRECISIONS.get(probe.manifest.precision)
    return precision.module_tolerance if precision else PRECISIONS["int8-dynamic"].module_tolerance


def _size(error: float) -> str:
    return "inf (NaN or inf values)" if not np.isfinite(error) else f"{error:.3g}"


def _clip(name: str, limit: int = 100) -> str:
    return name if len(name) <= limit else "..." + name[-limit:]
