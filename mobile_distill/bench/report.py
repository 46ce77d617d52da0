"""Reports of a bench: JSON (the schema), JUnit XML (one test case per artifact, so CI systems show
gate 2 natively), Markdown, and a self-contained HTML page with the plots embedded.

    OUT/bench.json  OUT/junit.xml  OUT/report.md  OUT/report.html  OUT/*.png
"""

from __future__ import annotations

import base64
import html
import io
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from ..atomic import write_json, write_text
from ..layout import BENCH_JSON, JUNIT, REPORT_HTML, REPORT_MD
from .gate2 import is_replaced, replaced_names
from .schema import BenchReport, ModelEntry

COLOURS = {"PASS": "#2e7d32", "FAIL": "#c62828", "NOT RUN": "#9e9e9e", "REFERENCE": "#1565c0"}


def report_paths(folder: Path) -> dict[str, Path]:
    """Where `write_reports` puts each format (also what to print when a FAIL interrupted the caller)."""
    return {"json": folder / BENCH_JSON, "junit": folder / JUNIT, "markdown": folder / REPORT_MD,
            "html": folder / REPORT_HTML}


def write_reports(report: BenchReport, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / BENCH_JSON, report.model_dump(mode="json"))
    write_text(folder / JUNIT, junit_xml(report))
    plots = {name: draw(report) for name, draw in PLOTS.items()}
    for name, png in plots.items():
        (folder / f"{name}.png").write_bytes(png)
    write_text(folder / REPORT_MD, markdown(report, {name: f"{name}.png" for name in plots}))
    write_text(folder / REPORT_HTML, html_page(report, plots))
    return report_paths(folder)


# ---- one row per model, shared by the Markdown and HTML tables ----

# memory MB: what the model added to a process holding only its runtime (peak - baseline; bench.json keeps both).
# p90/p50 and CV: the spread of single runs; rounds: how far the rounds' p50s disagree (max / min - 1)
COLUMNS = ("model", "target", "precision", "seq", "MB", "x smaller", "accuracy", "macro-F1", "agreement",
           "max |dlogit|", "KL", "p50 ms (1t)", "p90 ms (1t)", "p90/p50 (1t)", "CV (1t)", "rounds (1t)", "p50 ms (2t)",
           "x faster", "load s", "memory MB", "vs teacher", "verdict")


def _latency(entry: ModelEntry, threads: int, field: str = "p50_ms") -> float | None:
    if entry.performance is None:
        return None
    return next((getattr(l, field) for l in entry.performance.latency if l.threads == threads), None)


def _memory(entry: ModelEntry) -> float | None:
    return entry.performance.memory_mb if entry.performance else None


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def table_rows(report: BenchReport) -> list[list[str]]:
    teacher = report.entry("teacher")
    base_size = teacher.size_bytes if teacher else None
    threads = report.settings.get("threads") or [1]
    first, second = threads[0], (threads[1] if len(threads) > 1 else None)
    base_latency = _latency(teacher, first) if teacher else None
    rows = []
    for entry in report.models:
        accuracy = entry.scores
        p50 = _latency(entry, first)
        rows.append([
            entry.name, entry.target, entry.precision, str(entry.sequence_length), f"{entry.size_bytes / 1e6:.1f}",
            _fmt(base_size / entry.size_bytes if base_size and entry.size_bytes else None, ".2f"),
            _fmt(accuracy and accuracy.accuracy, ".4f"), _fmt(accuracy and accuracy.macro_f1, ".4f"),
            _fmt(accuracy and accuracy.agreement_reference, ".4f"), _fmt(accuracy and accuracy.max_abs_logit_diff, ".2e"),
            _fmt(accuracy and accuracy.mean_kl, ".2e"), _fmt(p50, ".2f"), _fmt(_latency(entry, first, "p90_ms"), ".2f"),
            _fmt(_latency(entry, first, "tail"), ".2f"), _fmt(_latency(entry, first, "cv"), ".2f"),
            _fmt(_latency(entry, first, "round_spread"), ".0%"),
            _fmt(_latency(entry, second) if second else None, ".2f"),
            _fmt(base_latency / p50 if base_latency and p50 and entry.device is None else None, ".2f"),
            _fmt(entry.performance and entry.performance.load_seconds, ".2f"), _fmt(_memory(entry), ".1f"),
            _fmt(entry.teacher_retention, ".4f"),
            entry.verdict.status if entry.verdict else "",
        ])
    return rows


DEVICE_COLUMNS = ("artifact", "device", "runtime", "rows", "accuracy", "reference", "agreement", "agreement x86",
                  "max |Δlogit| x86", "p50 ms", "p90 ms", "p90/p50", "load s", "verdict")


DEVICES_TEXT = ("Each phone ran the app's bundled test sample, each emulated ARM CPU (arm64, emulated) a seeded sample of "
                "the test rows through the aarch64 build of the artifact's runtime; accuracy and agreement are "
                "recomputed from their predictions, beside the PyTorch reference's accuracy on the same texts. "
                "Latency under emulation is not measured: it says nothing about a phone.")


def device_rows(report: BenchReport) -> list[list[str]]:
    """Artifacts run on phones (merged with --device-results) or on emulated ARM CPUs (bench --emulate):
    accuracy and agreement on the device's sample beside the reference's accuracy on the same texts;
    latency at the phone's threads (none under emulation); an emulated run's agreement with the x86 run
    of the same file on the same ids."""
    samples = {device["label"]: device for device in report.devices}
    rows = []
    for entry in report.artifacts():
        if entry.device is None:
            continue
        runtime = entry.runtime or {}
        latency = entry.performance.latency[0] if entry.performance and entry.performance.latency else None
        rows.append([
            entry.name.split(" @ ")[0], entry.device,
            f"{runtime.get('name', '?')} {runtime.get('version', '')} ({runtime.get('threads', '?')} threads, "
            f"{runtime.get('delegate', 'cpu')}{'; ' + runtime['emulator'] if runtime.get('emulator') else ''})",
            str(entry.scores.rows if entry.scores else ""),
            _fmt(entry.scores and entry.scores.accuracy, ".4f"),
            _fmt(samples.get(entry.device, {}).get("reference_accuracy"), ".4f"),
            _fmt(entry.scores and entry.scores.agreement_reference, ".4f"),
            _fmt(entry.scores and entry.scores.agreement_host, ".4f"),
            _fmt(entry.scores and entry.scores.max_abs_logit_diff_host, ".2e"),
            _fmt(latency and latency.p50_ms, ".2f"), _fmt(latency and latency.p90_ms, ".2f"),
            _fmt(latency and latency.tail, ".2f"), _fmt(entry.performance and entry.performance.load_seconds, ".2f"),
            entry.verdict.status if entry.verdict else "",
        ])
    return rows


def _failures(report: BenchReport) -> list[tuple[ModelEntry, list[str]]]:
    out = []
    for entry in report.artifacts():
        if entry.verdict and entry.verdict.status in ("FAIL", "NOT RUN"):
            lines = list(entry.verdict.reasons)
            for cause in (entry.diagnosis or {}).get("causes", []):
                lines.append(f"diagnose: {cause['summary']}")
            if entry.diagnosis is not None and not entry.diagnosis.get("causes"):
                lines.append("diagnose: no known cause found")
            out.append((entry, lines))
    return out


def _chain_line(report: BenchReport) -> str:
    chain = report.chain
    parts = []
    if "teacher_accuracy" in chain:
        parts.append(f"teacher {chain['teacher_accuracy']:.4f}")
    parts.append(f"student {chain['student_accuracy']:.4f}" + (f" (gate 1 retention {chain['student_retention']:.4f})"
                                                               if "student_retention" in chain else ""))
    if chain.get("worst_artifact"):
        parts.append(f"worst artifact {chain['worst_artifact']} retention vs teacher {chain['worst_artifact_retention']:.4f}")
    return " -> ".join(parts)


def _machine_line(report: BenchReport) -> str:
    device = report.device
    cpu = device.get("cpu") or {}
    features = f" ({cpu['summary']}; int8 dot-product: {'yes' if cpu.get('int8_dot_product') else 'no'})" if cpu else ""
    return (f"{device.get('system')} {device.get('machine')}, {device.get('cpu_count')} CPUs, "
            f"{cpu.get('model') or device.get('processor') or 'CPU'}{features}")


def _labels_line(report: BenchReport) -> str:
    mapping = report.data.get("label_mapping")
    if not mapping:
        return ""
    return " The data's labels were logit indices: " + ", ".join(f"{k} = {v}" for k, v in mapping.items()) + "."


def _timing_line(report: BenchReport) -> str:
    return (f"Latency: batch 1, {_timing_words(report.settings)}, each round a fresh process, rounds interleaved "
            "across models; p90/p50 and CV (std / mean of every run): the spread of single runs; rounds: how far the "
            "rounds' p50s disagree (max / min - 1). Memory MB: what the model added to a process holding only its "
            "runtime (peak less the resident memory after the runtime's import; the PyTorch models' process holds "
            "torch and transformers; bench.json keeps both figures and the runtime settings).")


def markdown(report: BenchReport, images: dict[str, str]) -> str:
    lines = [f"# mobile-distill bench: {report.verdict}", "",
             f"{report.data.get('rows')} test rows; {report.created_at}; {_machine_line(report)}. "
             f"Chain: {_chain_line(report)}.{_labels_line(report)}", "", _timing_line(report), "",
             "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(report)]
    devices = device_rows(report)
    if devices:
        lines += ["", "## On devices", "", DEVICES_TEXT, "",
                  "| " + " | ".join(DEVICE_COLUMNS) + " |", "|" + " --- |" * len(DEVICE_COLUMNS)]
        lines += ["| " + " | ".join(row) + " |" for row in devices]
    failures = _failures(report)
    if failures:
        lines += ["", "## Failed or not run", ""]
        for entry, reasons in failures:
            lines.append(f"- **{entry.name}** ({entry.verdict.status}): " + "; ".join(reasons))
    if report.warnings:
        lines += ["", "## Warnings", ""] + [f"- {warning}" for warning in report.warnings]
    if report.notes:
        lines += ["", "## Reading the numbers", ""] + [f"- {note}" for note in report.notes]
    if report.baseline:
        lines += ["", f"Baseline {report.baseline['path']}: {len(report.baseline['regressions'])} regression(s) "
                  f"over {report.baseline['compared']} models."]
    lines += [""] + [f"![{name}]({path})" for name, path in images.items()] + [""]
    return "\n".join(lines)


def html_page(report: BenchReport, plots: dict[str, bytes]) -> str:
    def cell(text: str, column: str) -> str:
        style = f' style="color:{COLOURS[text]};font-weight:bold"' if column == "verdict" and text in COLOURS else ""
        return f"<td{style}>{html.escape(text)}</td>"

    def table(columns, rows) -> str:
        header = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(cell(v, c) for v, c in zip(row, columns)) + "</tr>" for row in rows)
        return f"<table><tr>{header}</tr>{body}</table>"

    devices = device_rows(report)
    failures = "".join(f"<li><b>{html.escape(e.name)}</b> ({e.verdict.status}): {html.escape('; '.join(r))}</li>"
                       for e, r in _failures(report))
    warnings = "".join(f"<li>{html.escape(warning)}</li>" for warning in report.warnings)
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in report.notes)
    images = "".join(f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
                     f"<figcaption>{name.replace('_', ' ')}</figcaption></figure>" for name, png in plots.items())
    colour = COLOURS["PASS" if report.verdict == "PASS" else "FAIL"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mobile-distill bench: {report.verdict}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}} td:first-child{{text-align:left}}
img{{max-width:100%}} figure{{display:inline-block;margin:1em}}</style></head><body>
<h1>mobile-distill bench: <span style="color:{colour}">{report.verdict}</span></h1>
<p>{report.data.get('rows')} labelled test rows, each model run through its own runtime. {html.escape(report.created_at)};
{html.escape(_machine_line(report))}.</p>
<p>Chain: {html.escape(_chain_line(report))}{html.escape(_labels_line(report))}</p>
<p>{html.escape(_timing_line(report))}</p>
{table(COLUMNS, table_rows(report))}
{'<h2>On devices</h2><p>' + html.escape(DEVICES_TEXT) + '</p>' + table(DEVICE_COLUMNS, devices) if devices else ''}
{'<h2>Failed or not run</h2><ul>' + failures + '</ul>' if failures else ''}
{'<h2>Warnings</h2><ul>' + warnings + '</ul>' if warnings else ''}
{'<h2>Reading the numbers</h2><ul>' + notes + '</ul>' if notes else ''}
{images}
</body></html>
"""


def junit_xml(report: BenchReport) -> str:
    artifacts = report.artifacts()
    replaced = replaced_names(report)
    replaced_count = sum(1 for e in artifacts if e.verdict.status == "FAIL" and is_replaced(e, replaced))
    suite = ElementTree.Element("testsuite", name="mobile-distill gate 2", tests=str(len(artifacts)),
                                failures=str(sum(e.verdict.status == "FAIL" for e in artifacts) - replaced_count),
                                skipped=str(sum(e.verdict.status == "NOT RUN" for e in artifacts) + replaced_count),
                                timestamp=report.created_at)
    for entry in artifacts:
        where = "device" if entry.device else "host"
        case = ElementTree.SubElement(suite, "testcase", classname=f"gate2.{where}.{entry.target}", name=entry.name)
        if entry.verdict.status == "FAIL" and is_replaced(entry, replaced):  # its passing fallback ships instead
            by = replaced.get(entry.name) or replaced[entry.name.split(" @ ")[0]]
            ElementTree.SubElement(case, "skipped", message=f"failed gate 2; replaced by {by} (PASS): "
                                   + "; ".join(entry.verdict.reasons))
        elif entry.verdict.status == "FAIL":
            reasons = next((r for e, r in _failures(report) if e is entry), entry.verdict.reasons)
            failure = ElementTree.SubElement(case, "failure", message="; ".join(entry.verdict.reasons))
            failure.text = "\n".join(reasons)
        elif entry.verdict.status == "NOT RUN":
            ElementTree.SubElement(case, "skipped", message="; ".join(entry.verdict.reasons))
        if entry.scores:
            out = ElementTree.SubElement(case, "system-out")
            out.text = entry.scores.model_dump_json()
    ElementTree.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(suite, encoding="unicode") + "\n"


# ---- plots ----

def _figure(width: float, height: float):
    """A figure and its axes from matplotlib's object API: no pyplot, no backend switch, no global state."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _host_models(report: BenchReport) -> list[ModelEntry]:
    """What the plots show: one machine, one test split (device runs have their own table)."""
    return [entry for entry in report.models if entry.device is None]


def _colour(entry: ModelEntry) -> str:
    return COLOURS.get(entry.verdict.status if entry.verdict else "", "#555")


def accuracy_vs_latency(report: BenchReport) -> bytes:
    figure, axis = _figure(8, 5)
    threads = (report.settings.get("threads") or [1])[0]
    points = [(entry, _latency(entry, threads)) for entry in _host_models(report)]
    points = sorted([(e, p50) for e, p50 in points if e.scores is not None and p50 is not None], key=lambda x: x[1])
    seen: dict[float, int] = {}
    for entry, p50 in points:
        accuracy = entry.scores.accuracy
        stack = seen[round(accuracy, 4)] = seen.get(round(accuracy, 4), -1) + 1  # equal accuracies: stack labels
        axis.scatter(p50, accuracy, color=_colour(entry), s=40)
        axis.annotate(entry.name, (p50, accuracy), fontsize=7, xytext=(6, 4 + 10 * stack), textcoords="offset points",
                      arrowprops={"arrowstyle": "-", "color": "#bbb", "lw": 0.5} if stack else None)
    axis.set(xlabel=f"p50 latency, batch 1, {threads} thread(s) (ms)", ylabel="test accuracy",
             title="accuracy vs latency (colour: verdict)")
    return _png(figure)


def size_bars(report: BenchReport) -> bytes:
    models = _host_models(report)
    figure, axis = _figure(8, 0.35 * len(models) + 1.5)
    axis.barh([entry.name for entry in models], [entry.size_bytes / 1e6 for entry in models],
              color=[_colour(e) for e in models])
    axis.invert_yaxis()
    axis.set(xlabel="model file size (MB)", title="size on disk")
    return _png(figure)


def latency_distributions(report: BenchReport) -> bytes:
    threads = (report.settings.get("threads") or [1])[0]
    measured = [(e.name, next((l.samples_ms for l in e.performance.latency if l.threads == threads), []))
                for e in _host_models(report) if e.performance]
    figure, axis = _figure(8, 0.35 * len(measured) + 1.5)
    if measured:
        axis.boxplot([samples for _, samples in measured], vert=False, showfliers=True)
        axis.set_yticks(range(1, len(measured) + 1), [name for name, _ in measured])
        axis.invert_yaxis()
    axis.set(xlabel=f"latency, batch 1, {threads} thread(s) (ms)", title="latency distribution per model")
    return _png(figure)


PLOTS = {"accuracy_vs_latency": accuracy_vs_latency, "size": size_bars, "latency_distribution": latency_distributions}


def _timing_words(settings: dict) -> str:
    rounds = settings.get("rounds", 1)
    each = f"at least {settings.get('runs')} runs and {settings.get('min_duration_s', 0):g} s"
    return (f"median over {rounds} rounds of each round's median ({each} per round)" if rounds > 1 else
            f"median of {each}")


def print_verdicts(report: BenchReport, paths: dict[str, Path] | None = None) -> None:
    """The verdict table on the terminal (one row per model, narrow enough for an 80-column CI log),
    then one line per FAIL or NOT RUN with its reasons and diagnosis."""
    from rich import box
    from rich.table import Table

    from .. import ui

    table = Table(title=f"gate 2: {report.verdict} (each artifact vs its PyTorch reference)", box=box.SIMPLE_HEAD,
                  title_justify="left", pad_edge=False, padding=(0, 1))
    for column in ("model", "acc", "agree", "p50 ms", "p90/50", "MB", "mem MB", "ret", "verdict"):  # an 80-column log
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    threads = (report.settings.get("threads") or [1])[0]
    for entry in report.models:
        status = entry.verdict.status if entry.verdict else ""
        colour = {"PASS": "green", "FAIL": "red", "NOT RUN": "yellow"}.get(status, "blue")
        table.add_row(entry.name.removeprefix("pytorch "), _fmt(entry.scores and entry.scores.accuracy, ".4f"),
                      _fmt(entry.scores and entry.scores.agreement_reference, ".4f"),
                      _fmt(_latency(entry, threads), ".2f"), _fmt(_latency(entry, threads, "tail"), ".2f"),
                      f"{entry.size_bytes / 1e6:.1f}", _fmt(_memory(entry), ".1f"), _fmt(entry.teacher_retention, ".4f"),
                      f"[{colour}]{status.lower() if status == 'REFERENCE' else status}[/]")
    console = ui.console(stdout=True)
    console.print(table)
    console.print(f"acc: test accuracy; agree: same class as the reference; p50: batch 1, {threads} thread(s), "
                  f"{_timing_words(report.settings)}; p90/50: its p90 / p50; mem: what the model added to a process "
                  "holding only its runtime; ret: accuracy / the teacher's", soft_wrap=True)
    not_run: dict[str, list[str]] = {}
    for entry, lines in _failures(report):
        if entry.verdict.status == "NOT RUN":  # e.g. every Core ML artifact off macOS: one line for all
            not_run.setdefault("; ".join(lines), []).append(entry.name)
            continue
        console.print(f"[red]{entry.name}[/]: " + "; ".join(lines), soft_wrap=True)  # never break a path
    for why, names in not_run.items():
        console.print(f"[yellow]not run[/]: {', '.join(names)}: {why}", soft_wrap=True)
    console.print(f"chain: {_chain_line(report)}", soft_wrap=True)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    for note in report.notes:
        console.print(f"[dim]note:[/] {note}", soft_wrap=True)
    if report.data.get("label_mapping"):
        console.print(_labels_line(report).strip(), soft_wrap=True)
    if paths:
        console.print(f"report: {paths['html']} (also {paths['markdown'].name}, {paths['json'].name}, "
                      f"{paths['junit'].name})", soft_wrap=True)
