"""Where an artifact's aarch64 run leaves its x86 run: the layer, its operator, and the kernel family the
emulated CPU's features select for it.

The same file is probed on both sides: a copy whose intermediate float tensors are outputs too (ONNX:
graph outputs; TFLite: subgraph outputs, so that the XNNPACK delegate, which keeps no intermediate
tensors, still hands them back), run by the worker with the same ids through the x86 build on this host
and through the aarch64 build on the emulated CPU. The first tensor in execution order whose aarch64
values leave the x86 ones (relative L2 error over DEPARTED, or non-finite where x86 is finite) names the
layer. Making a tensor an output can stop a runtime from fusing the op that writes it, so the probe
names the layer of the first departure, not always the exact fused kernel of the original file.
ExecuTorch's XNNPACK delegate is one opaque blob: no probe there; the precision names the kernel family.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..manifest import read_manifest
from .cpus import EmulatedCpu
from .process import WORKER, run_emulated
from .toolchain import Toolchain

DEPARTED = 0.05  # healthy files differ between the two builds by ~1e-6 (fp32) to ~1e-2 (int8) relative L2
PROBE_FILE = {"onnx": "probe.onnx", "tflite": "probe.tflite"}
PROBE_ROWS = 4


@dataclass(frozen=True)
class Departure:
    tensor: str
    op_type: str
    node: str
    module: str  # the reference module the node came from, when its name says so
    error: float  # relative L2 error of the aarch64 values against the x86 ones (inf: non-finite on aarch64 only)
    kernel_family: str
    cpu: str

    def summary(self) -> str:
        where = f"{self.module} ({self.op_type} {self.node})" if self.module else f"{self.op_type} {self.node}"
        error = ("values non-finite on aarch64 where x86's are finite" if not np.isfinite(self.error) else
                 f"relative error {self.error:.3g} against x86's values")
        return f"on {self.cpu} the aarch64 run first leaves the x86 run at {where}: {error}; kernel family: " \
               f"{self.kernel_family}"


    def to_dict(self) -> dict:
        return {**asdict(self), "error": self.error if np.isfinite(self.error) else None, "summary": self.summary()}


@dataclass(frozen=True)
class _Tensor:
    name: str
    op_type: str
    node: str


def locate_departure(toolchain: Toolchain, folder: Path, cpu: EmulatedCpu, feeds: dict[str, np.ndarray],
                     log: Path | None = None) -> Departure | None:
    """The first tensor where ``folder``'s aarch64 run on ``cpu`` leaves its x86 run on ``feeds`` (a few rows of ids,
    the manifest's dtypes); None when no tensor departs or the target has no probe."""

    manifest = read_manifest(folder)
    if manifest.target not in PROBE_FILE:
        return None
    with tempfile.TemporaryDirectory(prefix="mobile-distill-probe-") as scratch:
        probe = _probe_folder(folder, Path(scratch) / folder.name)
        tensors = _make_probe(manifest.target, folder / manifest.model_file, probe / PROBE_FILE[manifest.target])
        ids = Path(scratch) / "ids.npz"
        np.savez(ids, **feeds)
        step = 1 if manifest.static_shapes else len(next(iter(feeds.values())))
        arguments = ["run", str(probe), str(ids), "{out}", "--step", str(step), "--probe-file",
                     PROBE_FILE[manifest.target]]
        host_out, arm_out = Path(scratch) / "x86.npz", Path(scratch) / "arm64.npz"
        _run_host([a.replace("{out}", str(host_out)) for a in arguments])
        result = run_emulated(toolchain, cpu, [a.replace("{out}", str(arm_out)) for a in arguments], log)
        if result.returncode != 0:
            raise RuntimeError(f"the aarch64 probe run failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
        with np.load(host_out) as host, np.load(arm_out) as arm:
            return _first_departure(tensors, dict(host), dict(arm), manifest, cpu, folder)


def _probe_folder(folder: Path, probe: Path) -> Path:
    """A folder beside which the worker finds the artifact's manifest; the probe model is written into it."""
    probe.mkdir(parents=True)
    shutil.copy2(folder / "manifest.json", probe / "manifest.json")
    return probe


def _run_host(arguments: list[str]) -> None:
    """The worker itself, on this host's x86 runtimes: the same code reads the probe on both sides."""

    result = subprocess.run([sys.executable, str(WORKER), *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the x86 probe run failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")


def _make_probe(target: str, model: Path, probe: Path) -> list[_Tensor]:
    return _onnx_probe(model, probe) if target == "onnx" else _tflite_probe(model, probe)


def _onnx_probe(model: Path, probe: Path) -> list[_Tensor]:
    import onnx

    graph_model = onnx.shape_inference.infer_shapes(onnx.load(str(model)))
    graph = graph_model.graph
    types = {info.name: info.type.tensor_type.elem_type for info in [*graph.value_info, *graph.output]}
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16}
    present = {output.name for output in graph.output}
    tensors = []
    for node in graph.node:
        if node.op_type in ("Constant", "ConstantOfShape", "Shape"):  # values fixed by the file, not computed layers
            continue
        for name in node.output:
            if types.get(name) in floats:
                tensors.append(_Tensor(name, node.op_type, node.name))
                if name not in present:
                    graph.output.append(onnx.helper.make_tensor_value_info(name, types[name], None))
                    present.add(name)
    onnx.save(graph_model, str(probe))
    return tensors


def _tflite_probe(model: Path, probe: Path) -> list[_Tensor]:
    from ai_edge_litert.tools import flatbuffer_utils
    from mediapipe.tasks.metadata import schema_py_generated as schema

    from ..targets.tflite.metadata import inline_offset_buffers

    buffer = inline_offset_buffers(bytearray(model.read_bytes()))
    flat = schema.ModelT.InitFromPackedBuf(bytes(buffer), 0)
    graph = flat.subgraphs[0]
    floats = {schema.TensorType.FLOAT32, schema.TensorType.FLOAT16}
    outputs = list(graph.outputs)
    tensors = []
    for op in graph.operators:
        op_type = flatbuffer_utils.opcode_to_name(flat, op.opcodeIndex) or str(op.opcodeIndex)
        for index in op.outputs:
            tensor = graph.tensors[index]
            if tensor.type in floats:
                name = tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name
                tensors.append(_Tensor(name, op_type, name))
                if index not in outputs:
                    outputs.append(index)
    graph.outputs = outputs
    probe.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(flat)))
    return tensors


def _first_departure(tensors: list[_Tensor], host: dict, arm: dict, manifest, cpu: EmulatedCpu,
                     folder: Path) -> Departure | None:
    for tensor in tensors:
        if tensor.name not in host or tensor.name not in arm:
            continue
        error = relative_error(arm[tensor.name], host[tensor.name])
        if error > DEPARTED:
            return Departure(tensor.name, tensor.op_type, tensor.node, _module(tensor, manifest, folder), error,
                             kernel_family(manifest.target, tensor.op_type, manifest.precision, cpu), cpu.name)
    return None


def relative_error(values: np.ndarray, reference: np.ndarray) -> float:
    """||values - reference|| / ||reference||; inf where values are non-finite and the reference is not."""
    values, reference = np.asarray(values, np.float64), np.asarray(reference, np.float64)
    if values.shape != reference.shape:
        return float("inf")
    if not np.isfinite(values).all():
        return float("inf") if np.isfinite(reference).all() else 0.0
    norm = float(np.linalg.norm(reference))
    return float(np.linalg.norm(values - reference)) / max(norm, 1e-12)


def _module(tensor: _Tensor, manifest, folder: Path) -> str:
    """The reference module a node came from: the ONNX exporter names nodes by module path
    (/bert/encoder/layer.0/output/dense/MatMul); litert-torch names tensors by module scope."""
    modules = _reference_modules(Path(manifest.source.get("path", "")))
    if manifest.target == "onnx":
        path = ".".join(part for part in tensor.node.strip("/").split("/")[:-1] if part)
        unwrapped = path.removeprefix("model.")  # the export wrapper holds the classifier as `model`
        return unwrapped if unwrapped in modules or not modules else path
    from ..targets.tflite.layers import module_of

    return module_of(tensor.name, modules) if modules else ""


def _reference_modules(source: Path) -> list[str]:
    index = source / "model.safetensors"
    if not index.is_file():
        return []
    from safetensors import safe_open

    with safe_open(str(index), framework="np") as weights:
        return sorted({key.rsplit(".", 1)[0] for key in weights.keys()})


# --- kernel families: which kernels the runtime's aarch64 build picks for an op on a CPU ---------------------

_INT8_ONNX = {"MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QLinearMatMul", "QGemm",
              "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear"}
_GEMM = {"MatMul", "Gemm", "FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "Conv"}


def int8_path(cpu: EmulatedCpu) -> str:
    """The widest int8 dot-product instructions the CPU offers, which int8 GEMM kernels dispatch on."""
    for feature, words in (("sme2", "SME2 outer products"), ("sme", "SME outer products (SMOPA)"),
                           ("i8mm", "i8mm (SMMLA)"), ("asimddp", "dot-product (SDOT)")):
        if feature in cpu.features:
            return words
    return "NEON widening multiplies (no dot-product)"


def kernel_family(target: str, op_type: str, precision: str, cpu: EmulatedCpu) -> str:
    """In words, from the runtimes' kernel dispatch as traced under qemu (benchmarks/RESULTS.md, "The aarch64
    lane"): LiteRT 2.3's XNNPACK hands int8-dynamic FULLY_CONNECTED to KleidiAI (qp8-f32-qc8w: sme_mopa on SME,
    neon_i8mm, neon_dotprod), fp32 GEMMs to KleidiAI's f32 sme_mopa on SME; ONNX Runtime 1.32 runs fp16
    MatMul/Gemm natively (MLAS HGEMM) on CPUs with fp16 arithmetic and its int8 GEMMs on NEON."""
    fp16_arithmetic = "asimdhp" in cpu.features
    if target == "onnx":
        if op_type in _INT8_ONNX or (precision.startswith("int8") and op_type in _GEMM):
            return f"onnxruntime MLAS int8 GEMM (QGEMM) on {int8_path(cpu)}"
        if precision == "fp16" and op_type in _GEMM:
            return ("onnxruntime MLAS fp16 GEMM (HGEMM): native fp16 arithmetic, accumulating in fp16, taken on "
                    "aarch64 CPUs with fp16 arithmetic only (x86 and ARMv8.0 compute fp16 models' GEMMs in fp32)"
                    if fp16_arithmetic else "onnxruntime MLAS fp32 GEMM (fp16 inputs widened: no fp16 arithmetic)")
        return f"onnxruntime CPU kernel for {op_type} ({'fp16' if precision == 'fp16' else 'fp32'})"
    if target == "tflite":
        if precision == "int8-dynamic" and op_type in _GEMM:
            kleidi = ("KleidiAI qai8dxp x qsi8cxp sme2_mopa" if "sme2" in cpu.features else
                      "KleidiAI qai8dxp x qsi8cxp sme_mopa" if "sme" in cpu.features else
                      "KleidiAI qai8dxp x qsi8cxp neon_i8mm" if "i8mm" in cpu.features else
                      "KleidiAI qai8dxp x qsi8cxp neon_dotprod" if "asimddp" in cpu.features else "XNNPACK NEON")
            return f"XNNPACK qp8-f32-qc8w GEMM (int8 weights, activations quantized per row at run time): {kleidi}, " \
                   f"on {int8_path(cpu)}"
        if precision == "int8-static" and op_type in _GEMM:
            return f"XNNPACK qs8-qc8w GEMM (int8 weights and activations) on {int8_path(cpu)}"
        if op_type in _GEMM:
            return "XNNPACK f32 GEMM (" + ("KleidiAI f32 sme_mopa, FMOPA" if "sme" in cpu.features else "NEON") + ")"
        return f"XNNPACK or builtin {op_type}"
    return f"XNNPACK ({precision}) inside the ExecuTorch delegate on {int8_path(cpu)}"


def diagnose_departure(toolchain: Toolchain, entry, cpu: EmulatedCpu, feeds: dict[str, np.ndarray],
                       device_logits: np.ndarray, host_logits: np.ndarray, log: Path | None = None) -> dict:
    """A failed emulated run's diagnosis (the schema of `mobile_distill.diagnose.Diagnosis`): the layer where the
    aarch64 run leaves the x86 run, probed on the rows where their predictions differ (or differ most)."""
    from ..diagnose.report import Cause, Check, Diagnosis

    changed = np.flatnonzero(device_logits.argmax(-1) != host_logits.argmax(-1)) if np.isfinite(device_logits).all() \
        else np.flatnonzero(~np.isfinite(device_logits).all(-1))
    spread = np.abs(np.nan_to_num(device_logits, nan=1e9, posinf=1e9, neginf=-1e9) - host_logits).max(-1)
    rows = (changed if len(changed) else np.argsort(-spread))[:PROBE_ROWS]
    folder = Path(entry.path)
    try:
        departure = locate_departure(toolchain, folder, cpu, {name: value[rows] for name, value in feeds.items()}, log)
    except RuntimeError as error:
        check = Check("arm64-kernels", "crashed", f"check crashed: {error}")
        departure = None
    else:
        check = Check("arm64-kernels", "found" if departure else ("clear" if read_manifest(folder).target in PROBE_FILE
                                                                     else "skipped"),
                      departure.summary() if departure else
                      ("no tensor of the probe leaves the x86 run by more than "
                       f"{DEPARTED} (relative)" if read_manifest(folder).target in PROBE_FILE else
                       f"skipped: {kernel_family(entry.target, '', entry.precision, cpu)} is one opaque delegate: "
                       "no per-tensor probe"))
    causes = [Cause("arm64-kernels", departure.summary(), detail=departure.to_dict())] if departure else []
    return Diagnosis(artifact=str(folder), reference=str(read_manifest(folder).source.get("path", "")),
                     target=entry.target, precision=entry.precision, texts=len(rows),
                     agreement=entry.scores.agreement_reference if entry.scores else None, causes=causes,
                     checks=[check], notes=[f"probed on {cpu.name} against this host's x86 build, same ids"]).to_dict()
