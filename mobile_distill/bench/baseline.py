"""Baseline mode (release gating): compare this bench with a stored earlier ``bench.json`` and fail
on regressions in accuracy or latency beyond a tolerance, model by model (matched by name)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..config import BenchConfig
from ..errors import ConfigError
from .schema import SCHEMA, BenchReport, ModelEntry, Verdict


def load_report(path: Path) -> BenchReport:
    if not path.is_file():
        raise ConfigError(f"baseline {path}: no such file; give the bench.json of an earlier run", fields=("baseline",))
    try:
        report = BenchReport.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        first = error.errors()[0]
        raise ConfigError(f"baseline {path}: not a {SCHEMA} file: {'.'.join(map(str, first['loc']))}: "
                          f"{first['msg']}", fields=("baseline",)) from None
    return report


def compare_with_baseline(report: BenchReport, path: Path, settings: BenchConfig, stored: BenchReport | None = None) -> None:
    """Record regressions in ``report.baseline``; a regressed artifact FAILs (and so does the report)."""
    stored = stored or load_report(path)
    earlier = {entry.name: entry for entry in stored.models}
    regressions, compared = [], 0
    for entry in report.models:
        before = earlier.get(entry.name)
        if before is None or entry.scores is None or before.scores is None:
            continue
        compared += 1
        found = _regressions(entry, before, settings)
        regressions.extend({"model": entry.name, "what": text} for text in found)
        if found and entry.role == "artifact":
            reasons = (entry.verdict.reasons if entry.verdict else []) + [f"baseline: {text}" for text in found]
            entry.verdict = Verdict(status="FAIL", reasons=reasons)
    report.baseline = {"path": str(path), "created_at": stored.created_at, "compared": compared,
                       "max_accuracy_drop_points": settings.max_baseline_accuracy_drop,
                       "max_latency_increase": settings.max_latency_increase, "regressions": regressions}
    if regressions:
        report.verdict = "FAIL"


def _regressions(entry: ModelEntry, before: ModelEntry, settings: BenchConfig) -> list[str]:
    found = []
    drop = 100 * (before.scores.accuracy - entry.scores.accuracy)
    if drop > settings.max_baseline_accuracy_drop:
        found.append(f"accuracy {before.scores.accuracy:.4f} -> {entry.scores.accuracy:.4f} "
                     f"(-{drop:.2f} points > {settings.max_baseline_accuracy_drop})")
    if entry.performance and before.performance:
        old = {latency.threads: latency.p50_ms for latency in before.performance.latency}
        for latency in entry.performance.latency:
            if latency.threads in old and latency.p50_ms > old[latency.threads] * (1 + settings.max_latency_increase):
                found.append(f"p50 latency at {latency.threads} thread(s) {old[latency.threads]:.2f} -> "
                             f"{latency.p50_ms:.2f} ms (+{latency.p50_ms / old[latency.threads] - 1:.0%} > "
                             f"{settings.max_latency_increase:.0%})")
    return found
