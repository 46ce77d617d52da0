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
import os
import sys
from importlib import metadata

def serve(folder: str, threads: int, lines, out) -> int:
    """The protocol loop is the aarch64 worker's (`mobile_distill.emulate.worker.serve_loop`): one protocol for
    the JVM harness, whichever build of the runtime answers."""
    from ..emulate.worker import serve_loop

    def start_model():
        from . import load_runner

        runner = load_runner(folder, threads=threads)
        declared = [(item.name, item.dtype) for item in runner.declared_inputs()]
        from ..targets import get_target

        package = get_target(runner.target).runtime_package
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "unknown"
        # exactly as received: no cast, no reorder, no re-tokenizing
        return package, version, runner.target, declared, lambda feeds: runner._run(feeds)[0]

    return serve_loop(start_model, lines, out)


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
