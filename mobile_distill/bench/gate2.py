"""Gate 2: is each exported artifact still the model it was exported from, on real labelled text?

Thresholds are data (`Gate2Config`, per precision). The chained budget carries gate 1 through:
teacher -> student (gate 1 retention) -> artifact (gate 2), and the artifact's accuracy over the
teacher's is checked against one floor, so a release is judged in one verdict.
"""

from __future__ import annotations

from ..config import Gate2Config
from .schema import BenchReport, ModelEntry, Verdict


def judge_artifact(entry: ModelEntry, reference: ModelEntry, teacher: ModelEntry | None, config: Gate2Config) -> Verdict:
    if entry.status == "not-run":
        return Verdict(status="NOT RUN", reasons=[entry.note or "not run"])
    if entry.status == "contract-failed":
        return Verdict(status="FAIL", reasons=[f"contract: {c.name}: {c.detail}" for c in entry.contract if not c.ok])
    if entry.precision not in config.max_accuracy_drop:
        return Verdict(status="FAIL", reasons=[f"no gate 2 threshold for precision {entry.precision!r}"])
    reasons = []
    drop = 100 * (reference.scores.accuracy - entry.scores.accuracy)
    if drop > config.max_accuracy_drop[entry.precision]:
        reasons.append(f"accuracy drop {drop:.2f} points > {config.max_accuracy_drop[entry.precision]}")
    agreement = entry.scores.agreement_reference
    if agreement < config.min_agreement[entry.precision]:
        reasons.append(f"agreement {agreement:.4f} < {config.min_agreement[entry.precision]}")
    if teacher is not None and config.min_teacher_retention is not None and entry.teacher_retention is not None:
        if entry.teacher_retention < config.min_teacher_retention:
            reasons.append(f"retention vs teacher {entry.teacher_retention:.4f} < {config.min_teacher_retention}")
    return Verdict(status="FAIL" if reasons else "PASS", reasons=reasons)


def judge_one(report: BenchReport, entry: ModelEntry, config: Gate2Config) -> ModelEntry:
    """Set ``entry``'s retention vs the report's teacher and its verdict; returns it."""
    reference, teacher = report.entry("reference"), report.entry("teacher")
    if entry.reference is not None:  # exported from another student of the run: judged against that one
        reference = next(model for model in report.models if model.name == entry.reference)
    if teacher is not None and entry.scores is not None and teacher.scores.accuracy > 0:
        entry.teacher_retention = round(entry.scores.accuracy / teacher.scores.accuracy, 4)
    entry.verdict = judge_artifact(entry, reference, teacher, config)
    return entry


def apply_gate(report: BenchReport, config: Gate2Config) -> BenchReport:
    """Fill in every artifact's verdict, the chain summary and the overall verdict."""
    for entry in report.models:
        if entry.role != "artifact":
            entry.verdict = Verdict(status="REFERENCE")
            continue
        judge_one(report, entry, config)
    report.thresholds = config.model_dump(mode="json")
    report.warnings = resolution_warnings(report, config)
    report.chain = chain_summary(report)
    report.verdict = overall_verdict(report)
    return report


def overall_verdict(report: BenchReport) -> str:
    """FAIL when an artifact failed and no passing fallback artifact stands in for it."""
    replaced = replaced_names(report)
    failed = [e for e in report.artifacts() if e.verdict and e.verdict.status == "FAIL" and not is_replaced(e, replaced)]
    return "FAIL" if failed else "PASS"


def replaced_names(report: BenchReport) -> dict[str, str]:
    """Failed artifact -> the passing fallback artifact that stands in for it."""
    return {e.replaces: e.name for e in report.artifacts() if e.replaces and e.verdict and e.verdict.status == "PASS"}


def is_replaced(entry: ModelEntry, replaced: dict[str, str]) -> bool:
    """The artifact, or the artifact a device entry ran (``NAME @ DEVICE``), has a passing fallback."""
    return entry.name in replaced or entry.name.split(" @ ")[0] in replaced


def chain_summary(report: BenchReport) -> dict:
    reference, teacher = report.entry("reference"), report.entry("teacher")
    chain = {"student_accuracy": reference.scores.accuracy}
    if teacher is not None:
        chain["teacher_accuracy"] = teacher.scores.accuracy
        chain["student_retention"] = round(reference.scores.accuracy / teacher.scores.accuracy, 4)
    ran = [entry for entry in report.host_artifacts() if entry.scores is not None]  # one test split
    if ran and teacher is not None:
        worst = min(ran, key=lambda entry: entry.scores.accuracy)
        chain["worst_artifact"] = worst.name
        chain["worst_artifact_retention"] = worst.teacher_retention
    return chain


def resolution_warnings(report: BenchReport, config: Gate2Config) -> list[str]:
    """A threshold finer than one test row is decided by a single borderline row, not by the model.

    The gate still applies it (a user who set it gets it), but says so: a flaky FAIL on a small
    split should point at the split, not send someone hunting a conversion bug.
    """
    reference = report.entry("reference")
    rows = reference.scores.rows if reference and reference.scores else 0
    return coarse_thresholds(rows, {entry.precision for entry in report.host_artifacts()}, config)


def coarse_thresholds(rows: int, precisions: set[str], config: Gate2Config, what: str = "test rows",
                      remedy: str = "bench more rows") -> list[str]:
    """A warning per precision whose thresholds are finer than one of ``rows`` rows."""
    if not rows:
        return []
    one_row = 100 / rows
    warnings = []
    for precision in sorted(precisions & set(config.max_accuracy_drop)):
        drop, agreement = config.max_accuracy_drop[precision], config.min_agreement[precision]
        if one_row > drop or 1 / rows > 1 - agreement:
            warnings.append(f"{rows} {what}: one row is {one_row:.2f} points, so for {precision} (max drop {drop} "
                            f"points, min agreement {agreement}) a single borderline row decides the verdict; "
                            f"{remedy} or widen the {precision} thresholds")
    return warnings
