"""Runs an exported artifact in the aarch64 build of its own runtime, under emulation: the phone's kernels.

This file is run as a script by the arm64 Python of the lane (`mobile_distill.emulate.toolchain`), with
only numpy and the runtimes on its path: it imports nothing of mobile_distill, torch or transformers
(the aarch64 torch wheel cannot even be imported there). It never tokenizes: the host sends the ids,
so the aarch64 run sees exactly what the x86 run saw.

    worker.py run ARTIFACT IDS.npz OUT.npz [--step N] [--bridge LIB] [--probe]
        IDS.npz holds one array per input name (rows x tokens, the manifest's dtypes); OUT.npz gets
        "logits" (rows x labels, float32). --probe: the model file is a probe copy whose extra outputs
        are intermediate tensors (diagnose); every output is saved, by name.
    worker.py batch JOBS.json [--bridge LIB]
        several runs in one process (the runtimes imported once): JOBS.json is a list of {"artifact", "ids",
        "output", "step"}; prints {"info": ..., "jobs": [{"seconds"} or {"error"}]}, one entry per job.
    worker.py serve ARTIFACT [--bridge LIB]
        the line-delimited JSON protocol of `mobile_distill.runners.stdio` (the Android core's JVM harness).
    worker.py info
        the runtime versions and the CPU features this process sees.

Errors go to stderr as one line and exit 2.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

TFLITE_SIGNATURE = "serving_default"  # mobile_distill.targets.tflite.target.SIGNATURE (a test keeps them equal)
RUNTIME_PACKAGES = {"onnx": "onnxruntime", "tflite": "ai-edge-litert", "executorch": "executorch"}
_DTYPES = {"int32": np.int32, "int64": np.int64}


class WorkerError(Exception):
    pass


def read_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    if not path.is_file():
        raise WorkerError(f"{folder}: no manifest.json; not an artifact folder")
    manifest = json.loads(path.read_text())
    if manifest["target"] not in RUNTIME_PACKAGES:
        raise WorkerError(f"{folder}: target {manifest['target']!r} has no aarch64 runtime in the lane "
                          f"(targets: {', '.join(RUNTIME_PACKAGES)})")
    return manifest


class OnnxModel:
    def __init__(self, path: Path, manifest: dict, probe: bool):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.outputs = [output.name for output in self.session.get_outputs()] if probe else [manifest["output"]["name"]]
        # as the x86 stdio worker declares them: "int64", not onnxruntime's "tensor(int64)"
        self.inputs = [(item.name, item.type.removeprefix("tensor(").removesuffix(")"))
                       for item in self.session.get_inputs()]

    def run(self, feeds: dict) -> dict:
        return dict(zip(self.outputs, self.session.run(self.outputs, feeds)))


class TfliteModel:
    """Through the signature, as the x86 runner (`targets/tflite/runner.py`); a probe copy through the subgraph's
    outputs, which are where the probe adds the intermediate tensors."""

    def __init__(self, path: Path, manifest: dict, probe: bool):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=1)
        self.output = manifest["output"]["name"]
        self.probe = probe
        if probe:
            self.interpreter.allocate_tensors()
            self.by_name = {detail["name"]: detail["index"] for detail in self.interpreter.get_input_details()}
        else:
            self.signature = self.interpreter.get_signature_runner(TFLITE_SIGNATURE)
        details = self.interpreter.get_input_details() if probe else self.signature.get_input_details().items()
        self.inputs = ([(d["name"], str(np.dtype(d["dtype"]))) for d in details] if probe else
                       [(name, str(np.dtype(d["dtype"]))) for name, d in details])

    def run(self, feeds: dict) -> dict:
        if not self.probe:
            return {self.output: self.signature(**feeds)[self.output]}
        for name, value in feeds.items():
            self.interpreter.set_tensor(self._input_index(name), value)
        self.interpreter.invoke()
        return {detail["name"]: self.interpreter.get_tensor(detail["index"]).copy()
                for detail in self.interpreter.get_output_details()}

    def _input_index(self, name: str) -> int:
        # a probe model has no signature: its subgraph inputs carry the signature's tensor names, which
        # litert-torch writes as "serving_default_<name>:0"
        for key, index in self.by_name.items():
            if key == name or key.startswith(f"{TFLITE_SIGNATURE}_{name}:"):
                return index
        raise WorkerError(f"probe model has no input {name!r} (inputs: {', '.join(self.by_name)})")


class ExecutorchModel:
    """Through the ExecuTorch runtime's C++ library and the lane's bridge (executorch_bridge.cpp)."""

    def __init__(self, path: Path, manifest: dict, probe: bool, bridge: str | None):
        if probe:
            raise WorkerError("ExecuTorch's XNNPACK delegate is opaque: no per-tensor probe on this target")
        if not bridge:
            raise WorkerError("an ExecuTorch artifact needs --bridge (the lane's libmd_et.so)")
        self.lib = ctypes.CDLL(bridge)
        self.lib.md_et_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int]
        self.lib.md_et_run.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                       ctypes.POINTER(ctypes.c_int), ctypes.c_int, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_float), ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                                       ctypes.c_char_p, ctypes.c_int]
        self.lib.md_et_free.argtypes = [ctypes.c_void_p]
        self.handle = ctypes.c_void_p()
        error = ctypes.create_string_buffer(512)
        if self.lib.md_et_load(str(path).encode(), ctypes.byref(self.handle), error, len(error)):
            raise WorkerError(error.value.decode(errors="replace"))
        self.names = [spec["name"] for spec in manifest["inputs"]]  # ExecuTorch binds by position
        self.inputs = [(spec["name"], spec["dtype"]) for spec in manifest["inputs"]]
        self.output = manifest["output"]["name"]
        self.labels = len(manifest["labels"])

    def run(self, feeds: dict) -> dict:
        arrays = [np.ascontiguousarray(feeds[name]) for name in self.names]
        rows, columns = arrays[0].shape
        pointers = (ctypes.c_void_p * len(arrays))(*[array.ctypes.data for array in arrays])
        dtypes = (ctypes.c_int * len(arrays))(*[1 if array.dtype == np.int64 else 0 for array in arrays])
        out = np.zeros(rows * self.labels * 4, dtype=np.float32)
        count, error = ctypes.c_int(), ctypes.create_string_buffer(512)
        status = self.lib.md_et_run(self.handle, len(arrays), pointers, dtypes, rows, columns,
                                    out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), out.size, ctypes.byref(count),
                                    error, len(error))
        if status:
            raise WorkerError(error.value.decode(errors="replace"))
        return {self.output: out[: count.value].reshape(rows, -1).copy()}


def load(folder: Path, bridge: str | None = None, model_file: str | None = None):
    manifest = read_manifest(folder)
    path = folder / (model_file or manifest["model_file"])
    if not path.is_file():
        raise WorkerError(f"{path}: no such model file")
    probe = model_file is not None
    if manifest["target"] == "onnx":
        return manifest, OnnxModel(path, manifest, probe)
    if manifest["target"] == "tflite":
        return manifest, TfliteModel(path, manifest, probe)
    return manifest, ExecutorchModel(path, manifest, probe, bridge)


def run_file(folder: Path, ids: Path, out: Path, step: int, bridge: str | None, probe_file: str | None) -> dict:
    manifest, model = load(folder, bridge, probe_file)
    with np.load(ids) as data:
        feeds = {spec["name"]: data[spec["name"]].astype(_DTYPES[spec["dtype"]]) for spec in manifest["inputs"]}
    rows = len(next(iter(feeds.values())))
    results: dict[str, list] = {}
    start = time.perf_counter()
    for begin in range(0, rows, step):
        for name, value in model.run({key: array[begin: begin + step] for key, array in feeds.items()}).items():
            results.setdefault(name, []).append(np.asarray(value))
    seconds = time.perf_counter() - start
    if probe_file is None:
        arrays = {"logits": np.concatenate(results[manifest["output"]["name"]]).astype(np.float32)}
    else:  # every tensor, one slice per call: intermediate tensors need not have a batch axis
        arrays = {name: np.stack(parts) for name, parts in results.items()}
    np.savez(out, **arrays)
    return {"rows": rows, "seconds": seconds}


def run_batch(jobs_file: Path, bridge: str | None) -> dict:
    """Every job of ``jobs_file``; a job that fails is reported as such and the next one still runs."""
    results = []
    for index, job in enumerate(json.loads(jobs_file.read_text())):
        try:
            results.append(run_file(Path(job["artifact"]), Path(job["ids"]), Path(job["output"]), int(job["step"]),
                                    bridge, None))
        except Exception as error:  # noqa: BLE001 - one artifact's failure is its own result, not the batch's
            results.append({"error": f"{type(error).__name__}: {error}".splitlines()[0][:500]})
        print(json.dumps({"done": index}), flush=True)  # progress for the host, one line per finished job
    return {"info": info(), "jobs": results}


def info() -> dict:
    return {"machine": os.uname().machine, "versions": versions(), "features": cpu_features()}


def serve(folder: Path, bridge: str | None, lines, out) -> int:
    """`mobile_distill.runners.stdio`'s protocol: the Android core's JVM harness talks to either."""
    def start_model():
        manifest, model = load(folder, bridge)
        package = RUNTIME_PACKAGES[manifest["target"]]
        output = manifest["output"]["name"]
        return (package, versions().get(package, "unknown"), manifest["target"], model.inputs,
                lambda feeds: model.run(feeds)[output])

    return serve_loop(start_model, lines, out, {"machine": os.uname().machine})


def serve_loop(load, lines, out, extra: dict | None = None) -> int:
    """The stdio protocol, for any runtime: ``load() -> (runtime package, version, target, [(input name, dtype)],
    run(feeds) -> logits)``. Shared with `mobile_distill.runners.stdio` (this module imports nothing of the
    package, so that one can import it)."""
    def reply(payload: dict) -> None:
        out.write(json.dumps(payload) + "\n")
        out.flush()

    try:
        start = time.perf_counter()
        package, version, target, inputs, run = load()
        loaded = time.perf_counter() - start
    except Exception as error:  # noqa: BLE001 - the client shows the message; a traceback breaks the protocol
        reply({"ready": False, "error": f"{type(error).__name__}: {error}".splitlines()[0]})
        return 2
    reply({"ready": True, "runtime": package, "version": version, "target": target,
           "inputs": [{"name": name, "dtype": dtype} for name, dtype in inputs], "load_seconds": round(loaded, 6),
           **(extra or {})})
    for line in lines:
        if not line.strip():
            continue
        try:
            feeds = {name: _tensor(name, spec) for name, spec in json.loads(line)["inputs"].items()}
            start = time.perf_counter()
            values = np.asarray(run(feeds), dtype=np.float64).reshape(-1)  # as received: no cast, no re-tokenizing
            reply({"logits": [float(v) if math.isfinite(v) else None for v in values],
                   "seconds": time.perf_counter() - start})
        except Exception as error:  # noqa: BLE001
            reply({"error": f"{type(error).__name__}: {error}".splitlines()[0][:500]})
    return 0


def _tensor(name: str, spec: dict) -> np.ndarray:
    dtype = _DTYPES.get(spec.get("dtype"))
    if dtype is None:
        raise ValueError(f"input {name}: dtype {spec.get('dtype')!r} is not int32 or int64")
    return np.asarray(spec["data"], dtype=dtype).reshape(spec["shape"])


def versions() -> dict:
    from importlib import metadata

    # the lane installs executorch (only its C++ libraries are used) in _executorch/ beside the importable packages
    search = [*sys.path, *[str(Path(entry) / "_executorch") for entry in sys.path if entry]]
    found = {}
    for package in ("numpy", *RUNTIME_PACKAGES.values()):
        distribution = next(iter(metadata.distributions(name=package, path=search)), None)
        if distribution is not None:
            found[package] = distribution.version
    return found


def cpu_features() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return []
    line = next((line for line in text.splitlines() if line.lower().startswith("features")), "")
    return line.partition(":")[2].split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker.py", description=__doc__.split("\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("run")
    run.add_argument("artifact", type=Path)
    run.add_argument("ids", type=Path)
    run.add_argument("output", type=Path)
    run.add_argument("--step", type=int, default=1)
    run.add_argument("--bridge")
    run.add_argument("--probe-file", help="a probe copy of the model (in the artifact folder) to run instead")
    batch = verbs.add_parser("batch")
    batch.add_argument("jobs", type=Path)
    batch.add_argument("--bridge")
    serve_verb = verbs.add_parser("serve")
    serve_verb.add_argument("artifact", type=Path)
    serve_verb.add_argument("--bridge")
    verbs.add_parser("info")
    args = parser.parse_args(argv)
    try:
        if args.verb == "info":
            print(json.dumps(info()))
            return 0
        if args.verb == "batch":
            print(json.dumps(run_batch(args.jobs, args.bridge)))
            return 0
        if args.verb == "serve":
            # the runtimes' own chatter must not reach stdout, which carries the protocol
            protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
            os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
            return serve(args.artifact, args.bridge, sys.stdin, protocol)
        print(json.dumps(run_file(args.artifact, args.ids, args.output, args.step, args.bridge, args.probe_file)))
        return 0
    except (WorkerError, OSError, KeyError, ValueError, RuntimeError) as error:
        print(f"{type(error).__name__}: {error}".splitlines()[0], file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
