"""The `emulate` verb: build the lane, show what each emulated CPU looks like, serve an artifact from one."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .. import ui
from ..errors import ConfigError
from .cpus import CPUS, get_cpus
from .process import cpu_report, emulated_command
from .toolchain import ensure_toolchain, find_toolchain


def cli_emulate(setup: bool = False, info: bool = False, serve: str | None = None, cpu: str = "cortex-a76") -> int:
    if setup:
        toolchain = ensure_toolchain()
        versions = ", ".join(f"{name} {version}" for name, version in toolchain.versions.items())
        ui.say(f"aarch64 lane ready in {toolchain.cache}: {versions}")
        return 0
    toolchain = find_toolchain()
    if info:
        print(json.dumps({"toolchain": toolchain.to_dict(), "cpus": {
            one.name: {"qemu_cpu": one.qemu_cpu, "architecture": one.architecture, **cpu_report(toolchain, one)}
            for one in CPUS.values()}}, indent=2))
        return 0
    return serve_artifact(toolchain, Path(serve), cpu)


def serve_artifact(toolchain, folder: Path, cpu: str) -> int:
    """Replace this process with the worker serving ``folder`` on the emulated ``cpu`` (stdin/stdout protocol of
    `mobile_distill.runners.stdio`), so a client that spawned this command talks to the worker itself."""
    if not (folder / "manifest.json").is_file():
        raise ConfigError(f"{folder}: not an artifact folder (no manifest.json)", fields=("serve",))
    command, environment = emulated_command(toolchain, get_cpus([cpu])[0],
                                            ["serve", str(folder.resolve()), "--bridge", str(toolchain.bridge)])
    sys.stdout.flush()
    os.execve(command[0], command, environment)
    return 0  # not reached
