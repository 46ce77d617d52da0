"""Integrity: is the model file the one the export wrote, and can its runtime load it?

file-modified    The model file's SHA-256 against the one the manifest recorded at export. A file
                 replaced by another model's file with the same interface (or edited) passes every
                 contract check and only shows as lost accuracy; this names it before any number.
file-unreadable  The runtime refuses to load the file (truncated, corrupt, another format): its own
                 reason, in one line.
"""

from __future__ import annotations

from ..bench.contract import check_integrity
from .context import Probe
from .report import Cause, Outcome, clear, found


def check_file(probe: Probe) -> Outcome:
    integrity = check_integrity(probe.artifact_dir, probe.manifest)
    detail = {"recorded": probe.manifest.model_sha256, "integrity": integrity.detail}
    causes = []
    if not integrity.ok:
        causes.append(Cause("file-modified", integrity.detail, detail))
    if probe.runner is None and probe.unloadable:
        causes.append(Cause("file-unreadable", f"its runtime cannot load {probe.manifest.model_file}: "
                            f"{probe.unavailable}", {"error": probe.unavailable}))
    if causes:
        return found(*causes, detail=detail)
    return clear(f"{probe.manifest.model_file}: {integrity.detail}", detail)
