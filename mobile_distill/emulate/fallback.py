"""Auto-fallback for a file that fails only on an emulated ARM CPU: keep the layer where the aarch64 run
leaves the x86 run in float (ONNX fp16: in fp32; int8: unquantized), re-export from the same checkpoint,
and judge the new file on this host (gate 2, full test split) and again on every CPU the original failed
on; each new departure found there is added, until the file passes everywhere or MAX_ATTEMPTS is spent.

Why the departure and not the host's sensitivity ranking (`bench.fallback`): on the host the file is
fine; only the probe on the failing CPU knows which layer the phone's kernels break. Names are the ones
``ExportOptions.keep_float`` takes: ONNX node names (the fp16 converter keeps them) and TFLite output
tensor names. Other cases (ExecuTorch's opaque delegate, ONNX int8, whose quantized node names are not
the float graph's) are reported as not attempted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..bench.schema import ModelEntry
from ..config import ExportOptions
from ..errors import MobileDistillError
from ..manifest import read_manifest
from .cpus import EmulatedCpu
from .layers import locate_departure

MAX_ATTEMPTS = 6
SUPPORTED = {("onnx", "fp16"), ("tflite", "int8-dynamic"), ("tflite", "int8-static")}


@dataclass(frozen=True)
class LaneFallback:
    """What the lane needs to re-export and re-judge: ``judge(folder) -> ModelEntry`` benches a folder on this
    host (contract, accuracy, gate 2); ``calibration_texts`` for static int8."""

    judge: Callable[[Path], ModelEntry]
    calibration_texts: list[str]
    texts: list[str]


def can_fall_back(entry: ModelEntry) -> bool:
    return (entry.target, entry.precision) in SUPPORTED and bool(entry.diagnosis and entry.diagnosis.get("causes"))


def fall_back_on_cpus(original: ModelEntry, failures: list[tuple[ModelEntry, EmulatedCpu]], settings: LaneFallback,
                      run_on: Callable, feeds: dict[str, np.ndarray]) -> tuple[list[ModelEntry], dict]:
    """Re-export ``original`` (a host artifact) with the departing layers kept float until it passes on the host
    and on each CPU of ``failures``. ``run_on(folder, cpus) -> [ModelEntry]`` runs a folder through the lane and
    judges it there. Returns the new entries (the host one first, named ``<name>-fallback``, then one per CPU)
    and the record of every attempt."""
    from ..export import export

    folder = Path(original.path)
    manifest = read_manifest(folder)
    keep = [_keep_name(entry) for entry, _ in failures][:1]
    cpus = [cpu for _, cpu in failures]
    options = ExportOptions(**(manifest.options or {"seq_len": manifest.sequence_length}))
    out = folder.with_name(f"{folder.name}-fallback")
    record = {"cpus": [cpu.name for cpu in cpus], "attempts": [], "kept_float": None, "artifact": None}
    for _ in range(MAX_ATTEMPTS):
        try:
            export(Path(manifest.source["path"]), manifest.target, manifest.precision, out,
                   options.model_copy(update={"keep_float": tuple(keep)}), settings.calibration_texts,
                   settings.texts[:20])
        except Exception as error:  # noqa: BLE001 - a converter's crash is this attempt's result, not the bench's
            message = str(error) if isinstance(error, MobileDistillError) else f"{type(error).__name__}: {error}"
            record["attempts"].append({"kept_float": list(keep), "error": message.splitlines()[0][:300]})
            break
        host = settings.judge(out)
        devices = run_on(host, cpus)
        verdicts = {entry.device or "host": entry.verdict.status for entry in [host, *devices]}
        record["attempts"].append({"kept_float": list(keep), "verdicts": verdicts})
        if all(status == "PASS" for status in verdicts.values()):
            host.name, host.replaces = out.name, original.name
            record.update(kept_float=list(keep), artifact=out.name)
            for entry in devices:
                entry.name = f"{out.name} @ {entry.device}"
            return [host, *devices], record
        more = _next_departure(out, devices, cpus, feeds, keep)
        if more is None or host.verdict.status != "PASS":
            break
        keep.append(more)
    return [], record


def _keep_name(entry: ModelEntry) -> str:
    detail = entry.diagnosis["causes"][0]["detail"]
    return detail["node"] if entry.target == "onnx" else detail["tensor"]


def _next_departure(folder: Path, devices: list[ModelEntry], cpus: list[EmulatedCpu], feeds, keep: list[str]):
    """The next layer to keep float: where the re-exported file still leaves x86 on the first CPU it fails on."""
    from .toolchain import find_toolchain

    for entry, cpu in zip(devices, cpus):
        if entry.verdict.status == "PASS":
            continue
        departure = locate_departure(find_toolchain(), folder, cpu, {k: v[:4] for k, v in feeds.items()})
        name = None if departure is None else (departure.node if entry.target == "onnx" else departure.tensor)
        return name if name and name not in keep else None
    return None


def note(record: dict, replacement: ModelEntry | None) -> str:
    cpus = ", ".join(record["cpus"])
    if replacement is None:
        return f"auto-fallback for {cpus}: no attempt passed everywhere ({len(record['attempts'])} tried)"
    return (f"auto-fallback for {cpus}: {replacement.name} passes on this host and there with "
            f"{', '.join(record['kept_float'])} kept float")
