"""The budget search's result against the compression issue's target ("a search run under 60 minutes on
2 cores that finds a model meeting a stated budget"), from a finished search's search.json: the budget,
the wall time, every candidate's untrained estimate and outcome, the chosen artifact. Appends it to
RESULTS.md.

    mobile-distill search benchmarks/recipes/search.yaml      # writes runs/search-budget/search/
    python benchmarks/budget_search.py runs/search-budget/search

The wall time is the one the search recorded when it ran (a rerun reuses every cached candidate and
takes seconds), so run this right after the search, before any rerun of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from common import publish  # benchmarks/common.py

from mobile_distill.bench.device import cpu_features

COLUMNS = ["candidate", "parameters", "untrained estimate per precision (p50 ms / MB)", "outcome",
           "trained artifact", "test accuracy", "points under the teacher", "p50 ms", "MB", "in budget"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("search", help="a finished search's folder (RUN/search, with search.json)")
    args = parser.parse_args()
    report = json.loads((Path(args.search) / "search.json").read_text())
    budget, teacher = report["budget"], report["teacher_test_accuracy"]
    rows = [row for record in report["candidates"] for row in _rows(record, teacher)]
    chosen = report["chosen"]
    minutes = report["seconds"] / 60
    cpu = cpu_features()
    met = chosen is not None and minutes <= 60
    publish("one budget search", [
        "Search: `mobile-distill search benchmarks/recipes/search.yaml`, one run. Budget: "
        f"{budget['target']} at {budget['threads']} thread(s), {budget['seq_len']} tokens, p50 <= "
        f"{budget['max_latency_ms']} ms, file <= {budget['max_size_mb']} MB, at most {budget['max_accuracy_drop']} "
        f"points under the teacher's test accuracy {teacher:.4f} (floor {report['accuracy_floor']:.4f}). Time limit "
        f"{report['time_limit_minutes']:g} min; the search took {minutes:.1f} min, teacher cached. CPU: {cpu['model']}, "
        f"{os.cpu_count()} cores, {cpu['summary']}."], COLUMNS, rows, [
        (f"Chosen: {chosen['id']}, test accuracy {chosen['accuracy']:.4f} ({100 * (teacher - chosen['accuracy']):.2f} "
         f"points under the teacher), {chosen['latency_ms']:.2f} ms, {chosen['size_mb']:.2f} MB, gate 2 "
         f"{chosen['gate2']}.  " if chosen else "No artifact met the budget.  "),
        f"Target (a search under 60 minutes on 2 cores finds a model meeting a stated budget): "
        f"{'MET' if met else 'missed'}.  "])
    return 0


def _rows(record: dict, teacher: float) -> list[str]:
    estimate = "; ".join(f"{precision} " + ("error" if "error" in m else f"{m['latency_ms']:.2f} / {m['size_mb']:.2f}")
                         for precision, m in record["estimate"]["precisions"].items())
    result = record["result"]
    outcome = result["status"] + (f" ({result['reason']})" if result["status"] == "stopped-early" else "")
    head = f"| {record['name']} | {record['estimate']['parameters']:,} | {estimate} | {outcome} |"
    artifacts = result.get("artifacts", [])
    if not artifacts:
        return [head + " | | | | | |"]
    return [head + f" {a['name']} | {a['accuracy']:.4f} | {100 * (teacher - a['accuracy']):.2f} | "
            f"{a['latency_ms']:.2f} | {a['size_mb']:.2f} | {'yes' if a['meets_budget'] else 'no'} |" for a in artifacts]


if __name__ == "__main__":
    sys.exit(main())
