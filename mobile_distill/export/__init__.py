"""Export stage: a local HF classifier -> an artifact folder per (target, precision).

Targets and their precisions come from the target registry (`mobile_distill.targets`); a pair no
target makes is rejected before any work, with the list of the pairs that are supported.
"""

from .run import (
    ExportOptions,
    artifact_name,
    check_pair,
    export,
    export_all,
    plan_exports,
    supported_pairs,
)

__all__ = ["ExportOptions", "artifact_name", "check_pair", "export", "export_all", "plan_exports", "supported_pairs"]
