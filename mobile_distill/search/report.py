"""The search's report: every candidate's estimate and result, the Pareto front of accuracy, latency
and size over the artifacts that passed gate 2, the chosen artifact; as search.json (the record),
search.md (the tables) and pareto.png (accuracy against latency, the budget drawn in)."""

from __future__ import annotations

from pathlib import Path

from ..atomic import write_json, write_text

SEARCH_JSON, SEARCH_MD, PARETO_PNG = "search.json", "search.md", "pareto.png"


def measured_artifacts(report: dict) -> list[dict]:
    """Every artifact the search trained and measured, with its candidate's name."""
    rows = []
    for record in report["candidates"]:
        for artifact in record.get("result", {}).get("artifacts", []):
            rows.append({"candidate": record["name"], **artifact, "id": f"{record['name']}/{artifact['name']}"})
    return rows


def pareto_front(rows: list[dict]) -> list[dict]:
    """The gate-2-passing rows no other passing row beats on accuracy, latency and size at once
    (at least as good on all three, better on one), fastest first."""
    passing = [row for row in rows if row["gate2"] == "PASS" and row.get("latency_ms") is not None]

    def beats(a, b):
        at_least = a["accuracy"] >= b["accuracy"] and a["latency_ms"] <= b["latency_ms"] and a["size_mb"] <= b["size_mb"]
        better = a["accuracy"] > b["accuracy"] or a["latency_ms"] < b["latency_ms"] or a["size_mb"] < b["size_mb"]
        return at_least and better

    front = [row for row in passing if not any(beats(other, row) for other in passing)]
    return sorted(front, key=lambda row: row["latency_ms"])


def choose(rows: list[dict]) -> dict | None:
    """The most accurate artifact inside the budget; among equals, the fastest, then the smallest."""
    inside = [row for row in rows if row["meets_budget"]]
    return min(inside, key=lambda row: (-row["accuracy"], row["latency_ms"], row["size_mb"])) if inside else None


def write_report(report: dict, folder: Path) -> dict[str, Path]:
    rows = measured_artifacts(report)
    report["front"] = [row["id"] for row in pareto_front(rows)]
    report["chosen"] = choose(rows)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / SEARCH_JSON, "md": folder / SEARCH_MD, "plot": folder / PARETO_PNG}
    write_json(paths["json"], report)
    write_text(paths["md"], markdown(report, rows))
    plot(report, rows, paths["plot"])
    return paths


def markdown(report: dict, rows: list[dict]) -> str:
    budget = report["budget"]
    limits = ", ".join(filter(None, [
        f"latency <= {budget['max_latency_ms']:g} ms" if budget.get("max_latency_ms") else None,
        f"size <= {budget['max_size_mb']:g} MB" if budget.get("max_size_mb") else None,
        (f"accuracy >= {report['accuracy_floor']:.4f} (teacher {report['teacher_test_accuracy']:.4f} less "
         f"{budget['max_accuracy_drop']:g} points)")]))
    lines = [f"# Budget search: {budget['target']}, {budget['threads']} thread(s), {budget['seq_len']} tokens", "",
             f"Budget: {limits}; time limit {report['time_limit_minutes']:g} min, took {report['seconds'] / 60:.1f} min.",
             ""]
    chosen = report["chosen"]
    verdict = (f"**Chosen: {chosen['id']}**: accuracy {chosen['accuracy']:.4f}, {chosen['latency_ms']:.2f} ms, "
               f"{chosen['size_mb']:.2f} MB, gate 2 {chosen['gate2']}." if chosen else "**No artifact met the budget.**")
    lines += [verdict, "",
              "## Candidates", "",
              "| candidate | parameters | untrained estimate (latency ms / size MB) | outcome |", "| --- | ---: | --- | --- |"]
    for record in report["candidates"]:
        estimate = "; ".join(f"{precision}: " + ("error" if "error" in m else
                                                 f"{m['latency_ms']:.2f} / {m['size_mb']:.2f}" + (" fits" if m["fits"] else ""))
                             for precision, m in record["estimate"]["precisions"].items())
        result = record["result"]
        outcome = result["status"] + (f": {result['reason']}" if result.get("reason") and result["status"] != "not-trained"
                                      else "")
        lines.append(f"| {record['name']} | {record['estimate']['parameters']:,} | {estimate} | {outcome} |")
    front = set(report["front"])
    lines += ["", "## Trained artifacts (each in its own runtime, on the test split)", "",
              "| candidate | artifact | accuracy | agreement | gate 2 | latency ms | size MB | in budget | Pareto |",
              "| --- | --- | ---: | ---: | --- | ---: | ---: | --- | --- |"]
    for row in sorted(rows, key=lambda r: r.get("latency_ms") or 0):
        lines.append(f"| {row['candidate']} | {row['name']} | {_number(row['accuracy'])} | {_number(row['agreement'])} "
                     f"| {row['gate2']} | {_number(row.get('latency_ms'), 2)} | {_number(row.get('size_mb'), 2)} "
                     f"| {'yes' if row['meets_budget'] else 'no'} | {'yes' if row['id'] in front else ''} |")
    return "\n".join(lines) + "\n"


def _number(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def plot(report: dict, rows: list[dict], path: Path) -> None:
    """Accuracy against latency, marker area by file size; the front joined; the budget shaded."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5))
    axes = figure.subplots()
    front = set(report["front"])
    timed = [row for row in rows if row.get("latency_ms") is not None and row["accuracy"] is not None]
    for passed, colour, label in ((True, "tab:blue", "gate 2 PASS"), (False, "tab:red", "gate 2 FAIL")):
        chosen = [row for row in timed if (row["gate2"] == "PASS") == passed]
        if chosen:
            axes.scatter([r["latency_ms"] for r in chosen], [r["accuracy"] for r in chosen], c=colour, alpha=0.7,
                         s=[30 + 20 * r["size_mb"] for r in chosen], label=label)
    on_front = sorted((row for row in timed if row["id"] in front), key=lambda row: row["latency_ms"])
    if on_front:
        axes.plot([r["latency_ms"] for r in on_front], [r["accuracy"] for r in on_front], "k--", label="Pareto front")
    for row in timed:
        axes.annotate(f"{row['candidate']} {row['precision']}", (row["latency_ms"], row["accuracy"]), fontsize=7)
    axes.axhline(report["accuracy_floor"], color="grey", linestyle=":", label="accuracy floor")
    if report["budget"].get("max_latency_ms"):
        axes.axvline(report["budget"]["max_latency_ms"], color="grey", linestyle="-.", label="latency budget")
    axes.set(xlabel=f"median batch-1 latency, ms ({report['budget']['target']}, {report['budget']['threads']} thread(s))",
             ylabel="test accuracy", title="budget search: every trained artifact (marker area: file size)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
