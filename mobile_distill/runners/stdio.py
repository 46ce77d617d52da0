"""An exported model served over stdin/stdout, for the Android demo's plain-Java core on a JVM.

``python -m mobile_distill.runners.stdio FOLDER [--threads N]``

Why: the app's numbers are decided by its own tokenizer and its binding of inputs by name
(android_demo/core). On a machine without a phone, the JVM harness there runs that same Java
code end to end against the real exported file: it tokenizes, binds, and sends the tensors here,
where the artifact's own runtime (onnxruntime, LiteRT) runs them exactly as received. Nothing is
re-tokenized or cast on this side, so a wrong dtype or a missing input fails here as it would on
the phone. No Java runtime binding of onnxruntime or LiteRT is reachable from this machine's
package registries, hence a process of the Python ones.

Line-delimited JSON. First line out: ``{"ready": true, "runtime", "version", "target", "inputs":
[{"name", "dtype"}] (read from the model file), "load_seconds"}`` or ``{"ready": false, "error"}``.
Then per request ``{"inputs": {NAME: {"dtype", "shape", "data"}}}`` the reply is ``{"logits":
[...], "seconds"}`` or ``{"error": "..."}``. End of input ends the worker.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from importlib import metadata

import numpy as np

_RUNTIMES = {"onnx": "onnxruntime", "tflite": "ai-edge-litert", "executorch": "executorch", "coreml": "coremltools"}
_DTYPES = {"int32": np.int32, "int64": np.int64}


def _reply(stream, payload: dict) -> None:
    stream.write(json.dumps(payload) + "\n")
    stream.flush()


def _tensor(name: str, spec: dict) -> np.ndarray:
    dtype = _DTYPES.get(spec.get("dtype"))
    if dtype is None:
        raise ValueError(f"input {name}: dtype {spec.get('dtype')!r} is not int32 or int64")
    return np.asarray(spec["data"], dtype=dtype).reshape(spec["shape"])


def _logits(values: np.ndarray) -> list:
    return [None if not math.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def serve(folder: str, threads: int, lines, out) -> int:
    from . import load_runner

    try:
        start = time.perf_counter()
        runner = load_runner(folder, threads=threads)
        loaded = time.perf_counter() - start
        declared = [{"name": item.name, "dtype": item.dtype} for item in runner.declared_inputs()]
    except Exception as error:  # the client shows the message; a traceback would break the protocol
        _reply(out, {"ready": False, "error": f"{type(error).__name__}: {error}".splitlines()[0]})
        return 2
    package = _RUNTIMES.get(runner.target, runner.target)
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        version = "unknown"
    _reply(out, {"ready": True, "runtime": package, "version": version, "target": runner.target, "inputs": declared,
                 "load_seconds": round(loaded, 6)})
    for line in lines:
        if not line.strip():
            continue
        try:
            feeds = {name: _tensor(name, spec) for name, spec in json.loads(line)["inputs"].items()}
            start = time.perf_counter()
            logits = runner._run(feeds)  # exactly as received: no cast, no reorder, no re-tokenizing
            _reply(out, {"logits": _logits(logits[0]), "seconds": time.perf_counter() - start})
        except Exception as error:
            _reply(out, {"error": f"{type(error).__name__}: {error}".splitlines()[0][:500]})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mobile_distill.runners.stdio", description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="an artifact folder written by `mobile-distill export`")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The runtimes' own chatter must not reach stdout, which carries the protocol.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return serve(args.folder, args.threads, sys.stdin, protocol)


if __name__ == "__main__":
    sys.exit(main())
