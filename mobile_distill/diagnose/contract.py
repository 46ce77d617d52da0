"""Contract checks: faults that need no counterfactual because the artifact folder states them.

label-mismatch      The labels the artifact carries (manifest, labels.txt) against the reference
                    model's, in logit order. Predicted indices still agree, but an app shows the
                    wrong name for every prediction.
manifest-mismatch   The model file's own inputs against the manifest: how many there are, and for
                    static-shape formats their shapes (the sequence length an app pads to). Names
                    and dtypes have checks of their own (input-binding, id-dtype).

Bench's contract check fails an artifact on these before measuring it; diagnose names them as
causes, so a contract FAIL never ends in "no known cause found".
"""

from __future__ import annotations

from ..layout import LABELS_TXT
from ..models import read_labels
from .context import Probe
from .report import Cause, Outcome, clear, found, skipped


def check_labels(probe: Probe) -> Outcome:
    reference = list(read_labels(probe.reference_dir))
    manifest = list(probe.manifest.labels)
    labels_file = probe.artifact_dir / LABELS_TXT
    listed = labels_file.read_text(encoding="utf-8").splitlines() if labels_file.is_file() else None
    problems = []
    if manifest != reference:
        order = " (the same labels in another order)" if sorted(manifest) == sorted(reference) else ""
        problems.append(f"the manifest's labels {manifest} are not the reference's {reference}{order}")
    if listed is not None and listed != manifest:
        problems.append(f"{LABELS_TXT} lists {listed}, the manifest {manifest}")
    detail = {"reference": reference, "manifest": manifest, "labels_txt": listed}
    if not problems:
        return clear(f"labels {reference} in the reference's logit order", detail)
    summary = ("labels do not match the reference's logit order: " + "; ".join(problems)
               + ": predicted indices may agree, but an app shows the wrong name for them")
    return found(Cause("label-mismatch", summary, detail), detail=detail)


def check_manifest(probe: Probe) -> Outcome:
    declared = probe.declared_inputs
    if declared is None:
        return skipped("the model file's inputs cannot be read (the checks that run it say why)")
    expected = probe.manifest.inputs
    problems = []
    if len(declared) != len(expected):
        problems.append(f"the model file has {len(declared)} inputs, the manifest lists {len(expected)}")
    if probe.manifest.static_shapes:
        for item, spec in zip(declared, expected):
            if tuple(item.shape) != tuple(spec.shape):
                problems.append(f"{spec.name}: the model file's shape is {tuple(item.shape)}, the manifest's "
                                f"{tuple(spec.shape)} (sequence length {probe.manifest.sequence_length})")
    detail = {"file_inputs": [list(item) for item in declared],
              "manifest_inputs": [[spec.name, spec.dtype, list(spec.shape)] for spec in expected]}
    if not problems:
        return clear(f"the model file's {len(declared)} inputs have the count and shapes the manifest declares",
                     detail)
    summary = "the manifest contradicts the model file: " + "; ".join(problems)
    return found(Cause("manifest-mismatch", summary, detail), detail=detail)
